"""Gas of every operation, from real receipts on the benchmark chain, against the targets."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from xborder.bench.loans import make_items
from xborder.bench.results import Results, Row
from xborder.bench.world import ENTERPRISE, World
from xborder.bindings.batch import DONE, Outcome, Tx, one
from xborder.bindings.client import calldata
from xborder.bindings.consent import record_calldata, record_with_consent_calldata
from xborder.services.loan_batch import LoanItem
from xborder.services.loans import LOAN_RECORDED_TOPIC, LoanService

SECTION = "gas"
DAY = 86_400
TARGETS = {"record + co-sign + draw": "<= 130000", "drawdown": "<= 60000", "repay": "<= 50000"}


class _Gas:
    def __init__(self, world: World) -> None:
        self.world = world
        self.service = LoanService(world.client)
        self.ledger = world.client.ledger

    def send(self, account: LocalAccount, data: bytes) -> Outcome:
        return one(self.world.w3, self.world.client.decoder, Tx(account, self.world.ledger, data), "gas sample")

    def call(self, account: LocalAccount, name: str, *args: object) -> Outcome:
        fn = getattr(self.ledger.functions, name)(*args)
        return self.send(account, calldata(fn))

    @staticmethod
    def loan_id(outcome: Outcome) -> int:
        return next(int(e["topics"][1], 16) for e in outcome.logs if e["topics"][0] == LOAN_RECORDED_TOPIC)

    def record(self, item: LoanItem) -> Outcome:
        return self.send(item.recorder, record_calldata(item.request, item.terms))

    def record_consent(self, item: LoanItem) -> Outcome:
        assert item.borrower_account is not None
        bank = self.world.home_bank[item.request.borrower].institution_id  # the creditor's agent submits
        consent = self.service.sign_consent(item.borrower_account, item.request, item.draw, submitter=bank)
        return self.send(item.recorder, record_with_consent_calldata(item.request, item.terms, item.draw, consent))


def _same_class_extension(value_date: int, maturity: int) -> int | None:
    """A later maturity in the same term class (v2: a change of class needs the borrower's consent):
    90 days for a long-term loan, a day for a short one well inside its year, else None."""
    term = maturity - value_date
    if term > 367 * DAY:
        return maturity + 90 * DAY
    return maturity + DAY if term < 360 * DAY else None


def run(world: World, results: Results) -> None:
    g = _Gas(world)
    fresh = world.borrowers[-4:]  # reserved: never used by the other sections
    g1, g2 = fresh[0], fresh[1]
    items1 = make_items(world, 2, borrowers=[g1], tag="GAS1", seed=11)
    items2 = make_items(world, 3, borrowers=[g2], tag="GAS2", seed=12)
    terms_len = len(items2[0].terms)
    measured: list[tuple[str, int, str]] = []  # operation, gas, target key

    def add(op: str, outcome: Outcome, target: str = "") -> None:
        assert outcome.status == DONE, op
        measured.append((op, outcome.gas_used or 0, target))

    reg = world.registration_receipts[ENTERPRISE]
    add("registerInstitution (enterprise)", reg)
    r = g.record(items1[0])
    add("recordLoan, pending (borrower's first loan)", r)
    first_pending = g.loan_id(r)
    add("confirmLoan", g.call(g1.account, "confirmLoan", first_pending))
    r = g.record(items1[1])
    add("recordLoan, pending (subsequent loan)", r)
    add("cancelLoan (Recorded loan)", g.call(items1[1].recorder, "cancelLoan", g.loan_id(r)))

    r = g.record_consent(items2[0])
    add("record + co-sign + draw (borrower's first loan)", r, "record + co-sign + draw")
    l_first = g.loan_id(r)
    r = g.record_consent(items2[1])
    add("record + co-sign + draw (subsequent loan)", r, "record + co-sign + draw")
    l_next = g.loan_id(r)
    p1, p2 = items2[0].request.principal, items2[1].request.principal
    add("drawdown (borrower's first loan)", g.call(g2.account, "drawdown", l_first, p1 // 4), "drawdown")
    add("drawdown (subsequent loan)", g.call(g2.account, "drawdown", l_next, p2 // 4), "drawdown")
    # v2: a repayment is the lender side's acknowledgement (the bank, the creditor's agent)
    lender = items2[0].recorder
    add("repay (borrower's first loan)", g.call(lender, "repay", l_first, p1 // 8), "repay")
    add("repay (subsequent loan)", g.call(items2[1].recorder, "repay", l_next, p2 // 8), "repay")
    new_maturity = _same_class_extension(items2[0].request.value_date, items2[0].request.maturity_date)
    if new_maturity is not None:
        add("extendMaturity (same term class)", g.call(lender, "extendMaturity", l_first, new_maturity))
    outstanding = g.service.loan(l_next).outstanding
    add("repay (final: outstanding to 0)", g.call(items2[1].recorder, "repay", l_next, outstanding))
    undrawn = items2[2]
    undrawn.draw = 0
    r = g.record_consent(undrawn)
    add("record + co-sign, no draw", r)
    add("closeLoan (nothing outstanding)", g.call(undrawn.recorder, "closeLoan", g.loan_id(r)))
    add("declareDefault", g.call(items2[0].recorder, "declareDefault", l_first))

    for op, gas, key in measured:
        target = TARGETS.get(key, "")
        results.add(Row(SECTION, op, gas, "gas", target=target,
                        note=f"terms {terms_len} B" if "record" in op else ""))
