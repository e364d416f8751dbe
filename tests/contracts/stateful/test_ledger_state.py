"""Stateful test: random sequences of onboarding, rate and parameter changes between drawdowns,
capital changes, records by either side and co-signed records, consents signed and submitted
later (revocation by epoch bump, expiry), confirmations, agent appointment and dismissal,
drawdowns, repayments, extensions (with and without the borrower's consent), endings,
regulator controls (write-off, expiry, document release, freeze) and the passing of time — each
checked against the Python model (tests/contracts/model.py).

Invariant: every borrower's balance equals the sum of its live (Active, Defaulted) loans'
contributions, recomputed by the model from the drawdown-date rates and weights."""
import itertools
import os

import brownie
from brownie import accounts, chain, network
from brownie.test import strategy
from eth_utils import keccak

import model
from conftest import (DAY, RATES, TERMS, bind_proof, err, lei, make_request, reverts_at_block_time, sign_consent,
                      sign_extension)

CURRENCIES = [b"CNY", b"USD", b"EUR", b"HKD", b"JPY", b"GBP"]
DOCS = [keccak(text=f"state-doc-{i}") for i in range(5)]
TUNABLE = ["AdjustmentEnterprise", "AdjustmentFinancial", "TermFactorShort", "TermFactorLong", "FxRiskFactor",
           "LeverageEnterprise", "LeverageNonBank", "ConfirmationWindowDays"]
MARGIN = 3600  # block time vs chain.time(): never test a deadline closer than this


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
    st_term = strategy("uint16", min_value=2, max_value=1500)
    st_type = strategy("uint8", min_value=1, max_value=7)
    st_doc = strategy("uint8", max_value=len(DOCS) - 1)
    st_bool = strategy("bool")
    st_side = strategy("bool")
    st_param = strategy("uint8", max_value=len(TUNABLE) - 1)
    st_bps = strategy("uint16", min_value=2000, max_value=30000)
    st_rate = strategy("uint64", min_value=1_000_000, max_value=2_000_000_000)
    st_days = strategy("uint8", min_value=1, max_value=45)

    def __init__(cls, ledger, registry, policy, regulator, ids, funded):
        cls.ledger, cls.registry, cls.policy = ledger, registry, policy
        cls.regulator, cls.ids = regulator, ids
        cls.creditor_wallet, cls.agent_wallet = funded["creditor"], funded["bank"]
        cls.base_borrowers = [
            (ids["enterprise"], funded["enterprise"], model.ENTERPRISE, 10_000_000_00),
            (ids["nbfi"], funded["nbfi"], model.NON_BANK, 500_000_000_00),
            (ids["bank2"], funded["bank2"], model.FOREIGN_BANK_BRANCH, 2_000_000_000_00),
        ]
        cls.onboarded = 0
        cls.nonces = itertools.count(10**6)

    def setup(self):
        self.borrowers = list(self.base_borrowers)
        self.capital = {b[0]: b[3] for b in self.borrowers}
        self.kind = {b[0]: b[2] for b in self.borrowers}
        self.wallet = {b[0]: b[1] for b in self.borrowers}
        self.epoch = {b[0]: self.registry.signatureEpoch(b[0]) for b in self.borrowers}
        self.frozen = {b[0]: False for b in self.borrowers}
        self.mpolicy = model.Policy(rates=dict(RATES))
        self.mledger = model.Ledger()
        self.doc_holder = {}  # document -> loan id that claimed it (lazy: free once that loan is not live)
        self.agent = False  # the creditor appointed the bank as its agent
        self.signed = []  # consents signed and not yet submitted: (request, draw, signature)

    # ------------------------------------------------------------ helpers

    @property
    def c_id(self):
        return self.ids["creditor"]

    def _borrower(self, i):
        return self.borrowers[i % len(self.borrowers)]

    def _lender(self, use_agent):
        """(wallet, institution id) acting for the creditor."""
        if self.agent and use_agent:
            return self.agent_wallet, self.ids["bank"]
        return self.creditor_wallet, self.c_id

    def _loans(self, *statuses):
        return [l for l in self.mledger.loans.values() if l.status in statuses]

    def _balance_limit(self, borrower):
        return self.mledger.balance(borrower), self.mpolicy.limit(self.kind[borrower], self.capital[borrower])

    def _live_holder(self, doc):
        holder = self.doc_holder.get(doc)
        return holder if holder is not None and self.mledger.loans[holder].status in model.LIVE else None

    def _expect(self, error, fn):
        if error is None:
            return fn()
        with brownie.reverts(err(*error)):
            fn()
        return None

    def _draw_error(self, borrower, delta, after, limit):
        if self.frozen[borrower]:
            return ("BorrowerFrozen", borrower)
        if not model.fits(after, delta, limit):
            return ("BorrowingLimitExceeded", borrower, after, limit)
        return None

    def _request(self, bid, st_currency, st_principal, st_term, st_type, st_doc):
        currency = CURRENCIES[st_currency]
        return make_request(bid, self.c_id, currency=currency, principal=st_principal, term_days=st_term,
                            financing_type=st_type, document_hash=DOCS[st_doc])

    def _add(self, tx, req, recorder, status, borrower_consented, creditor_consented, draw, delta):
        loan_id = self.mledger.next_id(req[0])
        assert tx.return_value == loan_id
        short = model.is_short_term(req[4], req[5])
        ev = tx.events["LoanRecorded"]
        assert ev["shortTerm"] is short and ev["status"] == status and ev["recorder"] == recorder
        loan = model.Loan(loan_id, req[0], req[1], recorder, req[2], req[3], req[4], req[5], req[6], req[7], status,
                          short, ev["confirmBy"], borrower_consented, creditor_consented)
        assert ev["confirmBy"] == tx.timestamp + self.mpolicy.params["ConfirmationWindowDays"] * DAY
        self.mledger.add(loan)
        if status == model.ACTIVE:
            self.doc_holder[req[7]] = loan_id
        if draw:
            loan.draw(draw, delta)
            assert tx.events["LoanDrawn"]["contributionAdded"] == delta
            assert tx.events["LoanDrawn"]["borrowerBalance"] == self.mledger.balance(req[0])

    # ------------------------------------------------------------ records and consents

    def rule_record(self, st_borrower, st_currency, st_principal, st_term, st_type, st_doc, st_side, st_bool):
        """Unconsented record by the borrower (st_side) or by the lender side."""
        bid, wallet, _, _ = self._borrower(st_borrower)
        req = self._request(bid, st_currency, st_principal, st_term, st_type, st_doc)
        sender, recorder = (wallet, bid) if st_side else self._lender(st_bool)
        holder = self._live_holder(req[7])
        error = ("DocumentAlreadyBacksLoan", req[7], holder) if holder else None
        tx = self._expect(error, lambda: self.ledger.recordLoan(req, TERMS, {"from": sender}))
        if tx is not None:
            self._add(tx, req, recorder, model.RECORDED, st_side, not st_side, 0, 0)

    def rule_record_with_consent(self, st_borrower, st_currency, st_principal, st_frac, st_term, st_type, st_doc, st_bool):
        bid, wallet, kind, _ = self._borrower(st_borrower)
        req = self._request(bid, st_currency, st_principal, st_term, st_type, st_doc)
        draw = st_principal * st_frac // 100
        sender, submitter = self._lender(st_bool)
        sig = sign_consent(self.ledger, wallet, req, draw, submitter, nonce=next(self.nonces), epoch=self.epoch[bid])
        self._submit(req, draw, sig, sender, submitter)

    def _submit(self, req, draw, sig, sender, submitter):
        bid = req[0]
        short = model.is_short_term(req[4], req[5])
        delta = model.contribution(draw, self.mpolicy.rate(req[2]), self.mpolicy.weight(req[2], req[6], short))
        balance, limit = self._balance_limit(bid)
        holder = self._live_holder(req[7])
        error = None
        if sig[2] != self.epoch[bid]:
            error = ("ConsentRevoked", bid, sig[2], self.epoch[bid])
        elif holder:
            error = ("DocumentAlreadyBacksLoan", req[7], holder)
        elif draw:
            error = self._draw_error(bid, delta, balance + delta, limit)
        tx = self._expect(error, lambda: self.ledger.recordLoanWithConsent(req, TERMS, draw, sig, {"from": sender}))
        if tx is not None:
            self._add(tx, req, submitter, model.ACTIVE, True, True, draw, delta)

    def rule_sign_consent(self, st_borrower, st_currency, st_principal, st_frac, st_doc):
        """The borrower signs a consent for the creditor now; it is submitted (or not) later."""
        if len(self.signed) >= 3:
            return
        bid, wallet, _, _ = self._borrower(st_borrower)
        req = self._request(bid, st_currency, st_principal, 400, 1, st_doc)
        draw = st_principal * st_frac // 100
        sig = sign_consent(self.ledger, wallet, req, draw, self.c_id, nonce=next(self.nonces), epoch=self.epoch[bid],
                           deadline=chain.time() + 2 * DAY)
        self.signed.append((req, draw, sig))

    def rule_submit_signed(self, st_loan):
        if not self.signed:
            return
        req, draw, sig = self.signed.pop(st_loan % len(self.signed))
        now = chain.time()
        if abs(now - sig[3]) < MARGIN:
            return
        if now > sig[3]:
            with reverts_at_block_time("SignatureExpired", sig[3]):
                self.ledger.recordLoanWithConsent(req, TERMS, draw, sig, {"from": self.creditor_wallet})
            return
        self._submit(req, draw, sig, self.creditor_wallet, self.c_id)

    def rule_revoke_signatures(self, st_borrower):
        bid, wallet, _, _ = self._borrower(st_borrower)
        tx = self.registry.revokeSignatures(bid, {"from": wallet})
        self.epoch[bid] = (self.epoch[bid] + 1) % 2**16
        assert tx.events["SignatureEpochChanged"]["epoch"] == self.epoch[bid]

    def rule_confirm(self, st_loan, st_bool):
        pending = self._loans(model.RECORDED)
        if not pending:
            return
        loan = pending[st_loan % len(pending)]
        if abs(chain.time() - loan.confirm_by) < MARGIN:
            return
        if loan.borrower_consented:
            sender, by = self._lender(st_bool)
        else:
            sender, by = self.wallet[loan.borrower], loan.borrower
        error = None
        holder = self._live_holder(loan.document_hash)
        if chain.time() > loan.confirm_by:
            error = ("ConfirmationWindowClosed", loan.loan_id, loan.confirm_by)
        elif holder:
            error = ("DocumentAlreadyBacksLoan", loan.document_hash, holder)
        tx = self._expect(error, lambda: self.ledger.confirmLoan(loan.loan_id, {"from": sender}))
        if tx is not None:
            loan.borrower_consented = loan.creditor_consented = True
            loan.status = model.ACTIVE
            self.doc_holder[loan.document_hash] = loan.loan_id
            assert tx.events["LoanConfirmed"]["by"] == by and tx.events["LoanConfirmed"]["status"] == model.ACTIVE

    # ------------------------------------------------------------ money

    def rule_drawdown(self, st_loan, st_frac, st_side, st_bool):
        active = [l for l in self._loans(model.ACTIVE) if l.drawn < l.principal]
        if not active:
            return
        loan = active[st_loan % len(active)]
        if abs(chain.time() - loan.maturity_date) < MARGIN:
            return
        amount = max(1, (loan.principal - loan.drawn) * st_frac // 100)
        sender = self.wallet[loan.borrower] if st_side else self._lender(st_bool)[0]
        rate = self.mpolicy.rate(loan.currency)
        weight = self.mpolicy.weight(loan.currency, loan.financing_type, loan.short_term)
        delta = model.contribution(amount, rate, weight)
        balance, limit = self._balance_limit(loan.borrower)
        if chain.time() > loan.maturity_date:
            error = ("LoanMatured", loan.loan_id, loan.maturity_date)
        else:
            error = self._draw_error(loan.borrower, delta, balance + delta, limit)
            if not self.frozen[loan.borrower]:
                assert list(self.ledger.previewDrawdown(loan.loan_id, amount)) == [
                    balance + delta, limit, model.fits(balance + delta, delta, limit)]
        tx = self._expect(error, lambda: self.ledger.drawdown(loan.loan_id, amount, {"from": sender}))
        if tx is not None:
            loan.draw(amount, delta)
            ev = tx.events["LoanDrawn"]
            assert (ev["rate"], ev["weightBps"], ev["contributionAdded"]) == (rate, weight, delta)
            assert ev["borrowerBalance"] == self.mledger.balance(loan.borrower)

    def rule_repay(self, st_loan, st_frac, st_bool):
        owing = [l for l in self._loans(model.ACTIVE, model.DEFAULTED) if l.outstanding > 0]
        if not owing:
            return
        loan = owing[st_loan % len(owing)]
        amount = max(1, loan.outstanding * st_frac // 100)
        tx = self.ledger.repay(loan.loan_id, amount, {"from": self._lender(st_bool)[0]})
        removed = loan.repay(amount)
        assert tx.events["LoanRepaid"]["contributionRemoved"] == removed
        assert ("LoanClosed" in tx.events) == (loan.status == model.CLOSED)

    def rule_extend(self, st_loan, st_term, st_bool):
        active = self._loans(model.ACTIVE)
        if not active:
            return
        loan = active[st_loan % len(active)]
        new_maturity = loan.maturity_date + st_term * DAY
        if new_maturity < chain.time() + MARGIN or new_maturity > loan.value_date + self.mpolicy.params["MaxTermDays"] * DAY:
            return
        short_after = model.is_short_term(loan.value_date, new_maturity)
        sender, submitter = self._lender(True)
        if st_bool:
            sig = sign_extension(self.ledger, self.wallet[loan.borrower], submitter, loan.loan_id, new_maturity,
                                 nonce=next(self.nonces), epoch=self.epoch[loan.borrower])
            tx = self.ledger.extendMaturityWithConsent(loan.loan_id, new_maturity, sig, {"from": sender})
        else:
            error = None
            if short_after != loan.short_term:
                error = ("BorrowerConsentRequired", loan.loan_id, loan.short_term, short_after)
            tx = self._expect(error, lambda: self.ledger.extendMaturity(loan.loan_id, new_maturity, {"from": sender}))
        if tx is not None:
            loan.maturity_date, loan.short_term = new_maturity, short_after
            assert tx.events["LoanExtended"]["borrowerBalance"] == self.mledger.balance(loan.borrower)

    # ------------------------------------------------------------ endings and regulator controls

    def rule_end(self, st_loan, st_frac, st_bool):
        candidates = self._loans(model.RECORDED, model.ACTIVE)
        if not candidates:
            return
        loan = candidates[st_loan % len(candidates)]
        sender = self._lender(st_bool)[0]
        if loan.status == model.RECORDED or loan.drawn == 0:
            self.ledger.cancelLoan(loan.loan_id, {"from": self.wallet[loan.borrower] if st_bool else sender})
            loan.status = model.CANCELLED
        elif loan.outstanding == 0:
            self.ledger.closeLoan(loan.loan_id, {"from": sender})
            loan.status = model.CLOSED
        elif st_frac < 40:
            self.ledger.declareDefault(loan.loan_id, {"from": sender})
            loan.status = model.DEFAULTED

    def rule_write_off(self, st_loan):
        defaulted = self._loans(model.DEFAULTED)
        if not defaulted:
            return
        loan = defaulted[st_loan % len(defaulted)]
        tx = self.ledger.writeOff(loan.loan_id, model.WRITE_OFF_APPROVED, {"from": self.regulator})
        assert tx.events["LoanWrittenOff"]["contributionRemoved"] == loan.contribution
        loan.status = model.WRITTEN_OFF

    def rule_expire(self, st_loan, st_bool):
        pending = self._loans(model.RECORDED)
        if not pending:
            return
        loan = pending[st_loan % len(pending)]
        if st_bool:  # the regulator, any time
            self.ledger.expireLoan(loan.loan_id, model.DATA_CORRECTION, {"from": self.regulator})
        else:  # anyone, after the window
            if abs(chain.time() - loan.confirm_by) < MARGIN:
                return
            error = None if chain.time() > loan.confirm_by else ("ConfirmationWindowOpen", loan.loan_id, loan.confirm_by)
            if self._expect(error, lambda: self.ledger.expireLoan(loan.loan_id, 0, {"from": accounts[9]})) is None:
                return
        loan.status = model.EXPIRED

    def rule_release_document(self, st_doc):
        doc = DOCS[st_doc]
        holder = self._live_holder(doc)
        error = None if holder else ("DocumentNotClaimed", doc)
        if self._expect(error, lambda: self.ledger.releaseDocument(doc, model.DOCUMENT_DISPUTE,
                                                                    {"from": self.regulator})) is not None:
            del self.doc_holder[doc]

    def rule_freeze(self, st_borrower):
        bid = self._borrower(st_borrower)[0]
        fn = self.ledger.unfreezeDrawdowns if self.frozen[bid] else self.ledger.freezeDrawdowns
        fn(bid, model.SUSPECTED_FRAUD, {"from": self.regulator})
        self.frozen[bid] = not self.frozen[bid]

    def rule_agent(self):
        fn = self.ledger.dismissAgent if self.agent else self.ledger.appointAgent
        fn(self.ids["bank"], {"from": self.creditor_wallet})
        self.agent = not self.agent

    def rule_time_passes(self, st_days):
        chain.sleep(st_days * DAY)
        chain.mine()

    # ------------------------------------------------------------ policy and registry

    def rule_set_rate(self, st_currency, st_rate):
        currency = CURRENCIES[st_currency]
        if currency == b"CNY":
            return
        self.policy.setReferenceRate(currency, st_rate, {"from": self.regulator})
        self.mpolicy.rates[currency] = st_rate

    def rule_set_parameter(self, st_param, st_bps):
        name = TUNABLE[st_param]
        value = st_bps // 500 if name == "ConfirmationWindowDays" else st_bps  # 4..60 days
        self.policy.setParameter(model.PARAM_INDEX[name], value, {"from": self.regulator})
        self.mpolicy.params[name] = value

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
        ident = lei(f"9695000000STATE{n:03d}")
        tx = self.registry.registerInstitution(model.ENTERPRISE, ident, b"CN", st_principal, f"enterprise {n}", wallet,
                                               bind_proof(self.registry, wallet, ident), {"from": self.regulator})
        bid = tx.return_value
        self.borrowers.append((bid, wallet, model.ENTERPRISE, st_principal))
        self.capital[bid], self.kind[bid], self.wallet[bid] = st_principal, model.ENTERPRISE, wallet
        self.epoch[bid], self.frozen[bid] = 0, False

    # ------------------------------------------------------------ invariants

    def invariant_balances(self):
        """balance == the model's sum of live contributions == the chain's own sum of live contributions."""
        onchain_sum = {}
        for loan in self.mledger.loans.values():
            onchain_sum[loan.borrower] = onchain_sum.get(loan.borrower, 0) + self.ledger.loanContribution(loan.loan_id)
        for bid, *_ in self.borrowers:
            balance = self.ledger.riskWeightedBalance(bid)
            assert balance == self.mledger.balance(bid) == onchain_sum.get(bid, 0)
            assert self.ledger.borrowerPosition(bid)["frozen"] is self.frozen[bid]

    def invariant_loans(self):
        for loan in self.mledger.loans.values():
            onchain = self.ledger.getLoan(loan.loan_id)
            assert 0 <= onchain["outstanding"] <= onchain["drawn"] <= onchain["principal"]
            assert (onchain["outstanding"] == 0) <= (onchain["contribution"] == 0)
            assert (onchain["status"], onchain["outstanding"], onchain["drawn"], onchain["contribution"],
                    onchain["maturityDate"], onchain["shortTerm"]) == (
                loan.status, loan.outstanding, loan.drawn, loan.contribution, loan.maturity_date, loan.short_term)

    def invariant_documents(self):
        for doc in DOCS:
            holder = self._live_holder(doc)
            assert self.ledger.liveLoanOfDocument(doc) == (holder or 0)


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


def test_stateful(xb, ledger, registry, policy, regulator, ids, funded):
    _pure_python_state_machine()(StateMachine, ledger, registry, policy, regulator, ids, funded,
                                 settings={"max_examples": _examples(), "stateful_step_count": 25})
