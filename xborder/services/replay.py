"""Play a workload on the chain's calendar: month by month, the banks record the loans whose value
date falls in that month (co-signed ones Active and drawn at once; the others confirmed by the
borrower), a loan's k-th later tranche (drawdown or repayment) follows in month m + 1 + k, and the
regulator's policy changes land in their month. Every write is a batch through the engine, from
the institutions' own wallets; refusals are counted by contract error with one example each.

The demo plays the 2019 workload with it; a larger run reuses it with the policy calendar.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from xborder.bindings.batch import DONE, Outcome, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import ledger_call
from xborder.domain.dates import month_index, month_start
from xborder.domain.enums import Parameter
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsSealer
from xborder.services.loan_batch import ALREADY, RECORDED, LoanBatch, LoanItem, LoanOutcome
from xborder.services.workload import DAY, Tranche, Workload, WorkloadLoan

log = logging.getLogger(__name__)

#: Gas limits declared per kind of call: anvil fills a block by declared gas, so these sit just
#: above the measured use (docs/contracts.md) rather than at a round "safe" figure.
GAS = {"confirm": 80_000, "draw": 100_000, "repay": 100_000, "extend": 80_000, "default": 80_000,
       "parameter": 120_000}
#: What each later tranche of a loan calls on the ledger, and the counter it adds to.
TRANCHE_CALLS = {"draw": ("drawdown(uint64,uint64)", "drawdowns"), "repay": ("repay(uint64,uint64)", "repayments"),
                 "extend": ("extendMaturity(uint64,uint32)", "extensions"), "default": ("declareDefault(uint64)", "defaults")}


def tranche_call(loan: WorkloadLoan, tranche: Tranche, loan_id: int) -> bytes:
    """The ledger calldata of `tranche` of `loan` (recorded as `loan_id`)."""
    signature = TRANCHE_CALLS[tranche.kind][0]
    if tranche.kind == "default":
        return ledger_call(signature, loan_id)
    if tranche.kind == "extend":
        return ledger_call(signature, loan_id, loan.maturity_date + tranche.amount * DAY)
    return ledger_call(signature, loan_id, tranche.amount)

Bar = Callable[[int, int], None]


@dataclass(frozen=True)
class PolicyStep:
    """A parameter change the regulator makes at the start of month `month`."""

    month: int
    parameter: Parameter
    value_bps: int


@dataclass
class Tally:
    """What happened: counts, refusals by reason (one example each), and the landed loans' ids."""

    counters: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    loan_ids: dict[int, int] = field(default_factory=dict)
    #: refusals counted before each policy step (month -> snapshot)
    before_step: dict[int, dict[str, int]] = field(default_factory=dict)

    def refuse(self, reason: str, message: str) -> None:
        self.refusals[reason] += 1
        self.examples.setdefault(reason, message)

    def since(self, month: int) -> dict[str, int]:
        before = self.before_step.get(month, {})
        return {k: v - before.get(k, 0) for k, v in self.refusals.items() if v - before.get(k, 0)}


@dataclass
class Bars:
    record: Bar
    confirm: Bar
    tranche: Bar
    say: Callable[[str], None]


class Route(Protocol):
    """Where the player's batches go: `OneNode` sends everything through one client; on a
    multi-node network the demo's router sends each wallet's transactions through its own node."""

    def run(self, txs: Sequence[Tx], progress: Bar | None = None) -> list[Outcome]: ...
    def loans(self, items: Sequence[LoanItem], progress: Bar) -> list[LoanOutcome]: ...


@dataclass
class OneNode:
    """Every batch through `client` (its node)."""

    client: XborderClient

    def run(self, txs: Sequence[Tx], progress: Bar | None = None) -> list[Outcome]:
        if not txs:
            return []
        return self.client.batch(txs).run(progress)

    def loans(self, items: Sequence[LoanItem], progress: Bar) -> list[LoanOutcome]:
        batch = LoanBatch(self.client, items, gas_mode="sample")
        batch.preflight()
        return batch.submit(progress).outcomes


def document_hash(document: str) -> bytes:
    """A workload loan's document reference as the hash the ledger keeps."""
    return bytes(keccak(document.encode()))


def loan_terms(loan: WorkloadLoan) -> terms_codec.LoanTerms:
    return terms_codec.LoanTerms(interest_rate=str(Decimal(loan.interest_rate_bps) / 100), purpose=loan.purpose,
                                 external_ref=f"EXT-{loan.number:05d}", document_name=f"{loan.document}.pdf")


@dataclass
class WorkloadPlayer:
    client: XborderClient
    workload: Workload
    accounts: Mapping[int, LocalAccount]  # roster index -> the institution's wallet
    regulator: LocalAccount
    sealer: TermsSealer | None
    steps: list[PolicyStep]
    bars: Bars
    base_year: int = 2019
    #: None: every batch through `client` (`OneNode`).
    route: Route | None = None
    #: Move the chain's clock to each month (anvil's `evm_increaseTime`); a real network's clock
    #: cannot be moved, so there the calendar is compressed into the present.
    moves_clock: bool = True
    tally: Tally = field(default_factory=Tally)
    _live: set[int] = field(default_factory=set)  # loans confirmed and not stopped by a refused drawdown
    _scheduled: dict[int, list[tuple[WorkloadLoan, int]]] = field(default_factory=dict)
    _done: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.sink: Route = self.route or OneNode(self.client)

    def play(self) -> Tally:
        by_month: dict[int, list[WorkloadLoan]] = {}
        for loan in self.workload.loans:
            by_month.setdefault(month_index(loan.value_date, self.base_year), []).append(loan)
        last = max(by_month) + max((len(ln.later) for ln in self.workload.loans), default=0)
        for month in range(min(by_month), last + 1):
            self._advance_clock(month)
            self._policy(month)
            self._record(month, by_month.get(month, []))
            self._tranches(month)
        self.bars.tranche(self._totals()[2], self._totals()[2])
        self.bars.confirm(self._done["confirm"], self._totals()[1])
        return self.tally

    def _totals(self) -> tuple[int, int, int]:
        loans = self.workload.loans
        return len(loans), sum(1 for ln in loans if not ln.co_signed), sum(len(ln.later) for ln in loans)

    def _advance_clock(self, month: int) -> None:
        if not self.moves_clock:
            return
        start, now = month_start(month, self.base_year, day=2), self.client.rpc.chain_time()
        if start > now:
            self.client.rpc.call("evm_increaseTime", [start - now])
            # Mine the jump now: until a block carries it, the latest block's time (which consent
            # deadlines start from) is a month behind, and whether the interval miner got there
            # first was a race (SignatureExpired refusals that changed from run to run).
            self.client.rpc.call("evm_mine")

    def _policy(self, month: int) -> None:
        for step in (s for s in self.steps if s.month == month):
            self.tally.before_step[month] = dict(self.tally.refusals)
            fn = self.client.policy.functions.setParameter(int(step.parameter), step.value_bps)
            self.sink.run([self.client.tx(self.regulator, fn, f"set {step.parameter.slug}", gas=GAS["parameter"])])

    def _record(self, month: int, loans: list[WorkloadLoan]) -> None:
        if not loans:
            return
        items = [self._item(loan) for loan in loans]
        base = self._done["record"]
        outcomes = self.sink.loans(items, lambda done, _total: self.bars.record(base + done, self._totals()[0]))
        self._done["record"] += len(loans)
        self.bars.record(self._done["record"], self._totals()[0])
        for loan, outcome in zip(loans, outcomes, strict=True):
            if outcome.status in (RECORDED, ALREADY) and outcome.loan_id is not None:
                self.tally.loan_ids[loan.number] = outcome.loan_id
                self.tally.counters["recorded"] += 1
                if loan.co_signed:
                    self._live.add(loan.number)
                    self.tally.counters["drawdowns"] += 1 if loan.first_draw else 0
            else:
                self.tally.refuse(outcome.error or outcome.status, outcome.reason or outcome.status)
        self._confirm(loans)
        for loan in loans:
            for k in range(len(loan.later)):
                self._scheduled.setdefault(month + 1 + k, []).append((loan, k))

    def _item(self, loan: WorkloadLoan) -> LoanItem:
        return LoanItem.build(
            borrower=loan.borrower + 1, creditor=loan.creditor + 1, currency=loan.currency,
            principal=loan.principal, value_date=loan.value_date, maturity_date=loan.maturity_date,
            financing_type=loan.financing_type, document=document_hash(loan.document),
            terms=loan_terms(loan), recorder=self.accounts[loan.recorder],
            borrower_account=self.accounts[loan.borrower] if loan.co_signed else None,
            draw=loan.first_draw if loan.co_signed else 0, ref=f"loan {loan.number}", sealer=self.sealer)

    def _confirm_tx(self, loan: WorkloadLoan) -> Tx:
        """The borrower's confirmation of its recorded `loan`. Not dry-run: nothing else in a batch
        touches that loan (its tranches start the month after), so the chain answers as the dry run
        would, and a refused confirmation is decoded from the mined tx."""
        return Tx(self.accounts[loan.borrower], str(self.client.ledger.address),
                  ledger_call("confirmLoan(uint64)", self.tally.loan_ids[loan.number]), GAS["confirm"],
                  label=f"confirm {loan.number}", dry_run=False)

    def _confirm(self, loans: list[WorkloadLoan]) -> None:
        waiting = [ln for ln in loans if not ln.co_signed and ln.number in self.tally.loan_ids]
        outcomes = self.sink.run([self._confirm_tx(ln) for ln in waiting])
        self._done["confirm"] += sum(1 for ln in loans if not ln.co_signed)
        self.bars.confirm(self._done["confirm"], self._totals()[1])
        for loan, outcome in zip(waiting, outcomes, strict=True):
            if outcome.status == DONE:
                self.tally.counters["confirmations"] += 1
                self._live.add(loan.number)

    def _tranches(self, month: int) -> None:
        due = self._scheduled.pop(month, [])
        self._send_tranches(due, [(ln, ln.later[k]) for ln, k in due if ln.number in self._live])

    def _send_tranches(self, due: Sequence[tuple[WorkloadLoan, int]],
                       todo: Sequence[tuple[WorkloadLoan, Tranche]]) -> None:
        """Send `todo` (the month's `due` tranches still to send) and count the outcomes."""
        outcomes = self.sink.run(self._tranche_txs(todo))
        self._done["tranche"] += len(due)
        self._count_tranches(todo, outcomes)

    def _tranche_txs(self, todo: Sequence[tuple[WorkloadLoan, Tranche]], priority: int = 0) -> list[Tx]:
        ledger = str(self.client.ledger.address)
        return [Tx(self.accounts[ln.recorder], ledger, tranche_call(ln, t, self.tally.loan_ids[ln.number]), GAS[t.kind],
                   label=f"{t.kind} {ln.number}", priority=priority) for ln, t in todo]

    def _count_tranches(self, todo: Sequence[tuple[WorkloadLoan, Tranche]], outcomes: Sequence[Outcome]) -> None:
        """Count the tranches' outcomes; a refused drawdown stops that loan's later tranches."""
        self.bars.tranche(self._done["tranche"], self._totals()[2])
        for (loan, tranche), outcome in zip(todo, outcomes, strict=True):
            if outcome.status == DONE:
                self.tally.counters[TRANCHE_CALLS[tranche.kind][1]] += 1
                continue
            self.tally.refuse(outcome.error, outcome.reason)
            if tranche.kind == "draw":
                self._live.discard(loan.number)
