"""Stateful test: random sequences of onboarding, rate and parameter changes, loans, drawdowns,
repayments, extensions and endings, checked after every step against the Python model."""
import os

import brownie
from brownie import accounts, chain, network
from brownie.test import strategy

import model
from conftest import DAY, IDENTIFIERS, RATES, TERMS, err, lei, make_request, sign_consent
from eth_utils import keccak

CURRENCIES = [b"CNY", b"USD", b"EUR", b"HKD", b"JPY", b"GBP"]
DOCS = [keccak(text=f"state-doc-{i}") for i in range(5)]
TUNABLE = ["AdjustmentEnterprise", "AdjustmentFinancial", "TermFactorShort", "TermFactorLong", "FxRiskFactor", "LeverageEnterprise", "LeverageNonBank"]


def _examples():
    if "XBORDER_STATEFUL_EXAMPLES" in os.environ:
        return int(os.environ["XBORDER_STATEFUL_EXAMPLES"])
    return 8 if network.show_active().startswith("ganache") else 20


class StateMachine:
    st_borrower = strategy("uint8")
    st_loan = strategy("uint16")
    st_currency = strategy("uint8", max_value=len(CURRENCIES) - 1)
    st_principal = strategy("uint64", min_value=1, max_value=30_000_000_00)
    st_frac = strategy("uint8", max_value=100)
    st_term = strategy("uint16", min_value=1, max_value=1500)
    st_type = strategy("uint8", min_value=1, max_value=7)
    st_doc = strategy("uint8", max_value=len(DOCS) - 1)
    st_bool = strategy("bool")
    st_param = strategy("uint8", max_value=len(TUNABLE) - 1)
    st_bps = strategy("uint16", min_value=2000, max_value=30000)
    st_rate = strategy("uint64", min_value=1_000_000, max_value=2_000_000_000)

    def __init__(cls, ledger, registry, policy, regulator, bank, ids, funded):
        cls.ledger, cls.registry, cls.policy = ledger, registry, policy
        cls.regulator, cls.bank, cls.ids = regulator, bank, ids
        cls.base_borrowers = [
            (ids["enterprise"], funded["enterprise"], model.ENTERPRISE, 10_000_000_00),
            (ids["nbfi"], funded["nbfi"], model.NON_BANK, 500_000_000_00),
            (ids["bank2"], funded["bank2"], model.FOREIGN_BANK_BRANCH, 2_000_000_000_00),
        ]
        cls.onboarded = 0

    def setup(self):
        self.borrowers = list(self.base_borrowers)
        self.capital = {b[0]: b[3] for b in self.borrowers}
        self.kind = {b[0]: b[2] for b in self.borrowers}
        self.mpolicy = model.Policy(rates=dict(RATES))
        self.mledger = model.Ledger()

    # ------------------------------------------------------------ helpers

    def _borrower(self, i):
        return self.borrowers[i % len(self.borrowers)]

    def _live(self, status=(model.ACTIVE,)):
        return [l for l in self.mledger.loans.values() if l.status in status]

    def _balance_limit(self, borrower):
        return self.mledger.balance(borrower), self.mpolicy.limit(self.kind[borrower], self.capital[borrower])

    def _expect(self, error, fn):
        if error is None:
            return fn()
        with brownie.reverts(err(*error)):
            fn()
        return None

    # ------------------------------------------------------------ rules

    def rule_record(self, st_borrower, st_currency, st_principal, st_frac, st_term, st_type, st_doc, st_bool):
        bid, wallet, kind, _ = self._borrower(st_borrower)
        currency = CURRENCIES[st_currency]
        if currency != b"CNY" and currency not in self.mpolicy.rates:
            currency = b"CNY"
        req = make_request(bid, self.ids["creditor"], currency=currency, principal=st_principal,
                           term_days=st_term, financing_type=st_type, document_hash=DOCS[st_doc])
        loan_id = self.mledger.next_id(bid)
        rate = self.mpolicy.rate(currency)
        weight = self.mpolicy.weight(currency, st_type, st_term * DAY)
        draw = st_principal * st_frac // 100 if st_bool else 0
        live = self.mledger.live_loans_of_document(DOCS[st_doc])
        balance, limit = self._balance_limit(bid)
        after = balance + model.contribution(draw, rate, weight)
        error = None
        if after > limit:
            error = ("BorrowingLimitExceeded", bid, after, limit)
        elif live:
            error = ("DocumentAlreadyBacksLoan", DOCS[st_doc], live[0].loan_id)
        if st_bool:
            nonce = self.ledger.borrowerPosition(bid)["nonce"]
            deadline = chain.time() + 3600
            sig = sign_consent(self.ledger, wallet, req, draw, nonce, deadline)
            tx = self._expect(error, lambda: self.ledger.recordLoanWithConsent(req, TERMS, draw, deadline, sig, {"from": self.bank}))
        else:
            error = ("DocumentAlreadyBacksLoan", DOCS[st_doc], live[0].loan_id) if live else None
            tx = self._expect(error, lambda: self.ledger.recordLoan(req, TERMS, {"from": self.bank}))
        if tx is None:
            return
        assert tx.return_value == loan_id
        self.mledger.add(model.Loan(loan_id, bid, self.ids["creditor"], self.ids["bank"], currency, st_principal,
                                    req[4], req[5], st_type, DOCS[st_doc], rate, weight,
                                    model.ACTIVE if st_bool else model.RECORDED, draw, draw))
        if draw:
            assert tx.events["LoanDrawn"]["borrowerBalance"] == after <= limit

    def rule_confirm(self, st_loan):
        pending = self._live((model.RECORDED,))
        if not pending:
            return
        loan = pending[st_loan % len(pending)]
        wallet = next(b[1] for b in self.borrowers if b[0] == loan.borrower)
        self.ledger.confirmLoan(loan.loan_id, {"from": wallet})
        loan.status = model.ACTIVE

    def rule_drawdown(self, st_loan, st_frac):
        active = [l for l in self._live() if l.drawn < l.principal]
        if not active:
            return
        loan = active[st_loan % len(active)]
        amount = max(1, (loan.principal - loan.drawn) * st_frac // 100)
        balance, limit = self._balance_limit(loan.borrower)
        after = balance - loan.contribution + model.contribution(loan.outstanding + amount, loan.rate, loan.weight)
        preview = self.ledger.previewDrawdown(loan.loan_id, amount)
        assert list(preview) == [after, limit, after <= limit]
        error = ("BorrowingLimitExceeded", loan.borrower, after, limit) if after > limit else None
        if self._expect(error, lambda: self.ledger.drawdown(loan.loan_id, amount, {"from": self.bank})) is not None:
            loan.drawn += amount
            loan.outstanding += amount
            assert self.mledger.balance(loan.borrower) == after <= limit

    def rule_repay(self, st_loan, st_frac):
        active = [l for l in self._live() if l.outstanding > 0]
        if not active:
            return
        loan = active[st_loan % len(active)]
        amount = max(1, loan.outstanding * st_frac // 100)
        self.ledger.repay(loan.loan_id, amount, {"from": self.bank})
        loan.outstanding -= amount
        if loan.outstanding == 0 and loan.drawn == loan.principal:
            loan.status = model.CLOSED

    def rule_extend(self, st_loan, st_term):
        active = self._live()
        if not active:
            return
        loan = active[st_loan % len(active)]
        new_maturity = loan.maturity_date + st_term * DAY
        weight = self.mpolicy.weight(loan.currency, loan.financing_type, new_maturity - loan.value_date)
        balance, limit = self._balance_limit(loan.borrower)
        after = balance - loan.contribution + model.contribution(loan.outstanding, loan.rate, weight)
        error = ("BorrowingLimitExceeded", loan.borrower, after, limit) if after > limit else None
        if self._expect(error, lambda: self.ledger.extendMaturity(loan.loan_id, new_maturity, {"from": self.bank})) is not None:
            loan.maturity_date, loan.weight = new_maturity, weight

    def rule_end(self, st_loan, st_frac):
        live = self._live(model.LIVE)
        if not live:
            return
        loan = live[st_loan % len(live)]
        if loan.drawn == 0:
            self.ledger.cancelLoan(loan.loan_id, {"from": self.bank})
            loan.status = model.CANCELLED
        elif loan.status == model.ACTIVE and loan.outstanding == 0:
            self.ledger.closeLoan(loan.loan_id, {"from": self.bank})
            loan.status = model.CLOSED
        elif loan.status == model.ACTIVE and st_frac < 30:
            self.ledger.declareDefault(loan.loan_id, {"from": self.bank})
            loan.status = model.DEFAULTED

    def rule_set_rate(self, st_currency, st_rate):
        currency = CURRENCIES[st_currency]
        if currency == b"CNY":
            return
        self.policy.setReferenceRate(currency, st_rate, {"from": self.regulator})
        self.mpolicy.rates[currency] = st_rate

    def rule_set_parameter(self, st_param, st_bps):
        name = TUNABLE[st_param]
        self.policy.setParameter(model.PARAM_INDEX[name], st_bps, {"from": self.regulator})
        self.mpolicy.params[name] = st_bps

    def rule_set_capital(self, st_borrower, st_principal):
        bid = self._borrower(st_borrower)[0]
        self.registry.setCapitalBase(bid, st_principal, {"from": self.regulator})
        self.capital[bid] = st_principal

    def rule_onboard(self, st_principal):
        if len(self.borrowers) >= 5:
            return
        type(self).onboarded += 1
        n = type(self).onboarded
        wallet = accounts.add("0x" + (0x5000 + n).to_bytes(32, "big").hex())
        self.regulator.transfer(wallet, 10**18)
        tx = self.registry.registerInstitution(model.ENTERPRISE, lei(f"9695000000STATE{n:03d}"), b"CN",
                                               st_principal, f"enterprise {n}", wallet, {"from": self.regulator})
        bid = tx.return_value
        self.borrowers.append((bid, wallet, model.ENTERPRISE, st_principal))
        self.capital[bid], self.kind[bid] = st_principal, model.ENTERPRISE

    # ------------------------------------------------------------ invariants

    def invariant_balances(self):
        for bid, *_ in self.borrowers:
            assert self.ledger.riskWeightedBalance(bid) == self.mledger.balance(bid)

    def invariant_loans(self):
        for loan in self.mledger.loans.values():
            onchain = self.ledger.getLoan(loan.loan_id)
            assert 0 <= onchain["outstanding"] <= onchain["drawn"] <= onchain["principal"]
            assert (onchain["status"], onchain["outstanding"], onchain["drawn"], onchain["weightBps"]) == (
                loan.status, loan.outstanding, loan.drawn, loan.weight)

    def invariant_documents(self):
        for doc in DOCS:
            live = self.mledger.live_loans_of_document(doc)
            assert len(live) <= 1
            assert self.ledger.liveLoanOfDocument(doc) == (live[0].loan_id if live else 0)


def _pure_python_state_machine():
    """Brownie's own `state_machine`, loaded from its pure-Python source.

    Brownie 1.22.2 ships brownie/test/stateful as a mypyc extension whose final
    `_BrownieStateMachine` refuses the generated subclass ("TypeError: _BrownieStateMachine
    object expected"), so the `state_machine` fixture cannot run any machine. The .py file
    next to the extension is the same code; loading it directly gives the documented behaviour.
    """
    import importlib.util
    import pathlib

    import brownie.test

    path = pathlib.Path(brownie.test.__file__).with_name("stateful.py")
    spec = importlib.util.spec_from_file_location("_xborder_brownie_stateful", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.state_machine


def test_stateful(xb, ledger, registry, policy, regulator, bank, ids, funded):
    _pure_python_state_machine()(StateMachine, ledger, registry, policy, regulator, bank, ids, funded,
                  settings={"max_examples": _examples(), "stateful_step_count": 20})
