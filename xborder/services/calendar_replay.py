"""Play a workload across the real PBOC/SAFE policy calendar, resumably (the 2022-scale demo).

The months of `WorkloadPlayer` are cut at the calendar's change dates into segments: the chain's
clock moves to each segment's start (day 2 of a month, or 01:00 UTC on a change date), the
regulator applies the calendar in force that day (`xborder.services.policy.apply_calendar`, the
one place that knows how), the banks record the segment's loans (value dates in it), then in one
engine batch the borrowers confirm the ones they did not co-sign and, in its last segment, the
month's later tranches (drawdowns, repayments, extensions, defaults) follow them (a lower
priority: the sender lands them after the confirmations, as two separate steps did, without a
second dry run, send and wait per month). Refusals are counted by reason and by parameter period.

Resumable: after each step the player writes a checkpoint (what it has done, and the block the next
step starts from). Run again on the same chain, it skips what is done and redoes the interrupted
step against what the chain already holds: loans an earlier run recorded are found by document,
recorder and terms hash (`LoanBatch`'s "already recorded"), confirmations by the loans' status,
tranches by the ledger's events since the step began. Nothing is recorded twice.

While a segment's loans are dry-run, sent and confirmed (mostly waiting for the node), a thread
builds the next segment's items (sealing their terms: no chain state is read but the parties'
encryption keys, registered before the first loan), so the two overlap.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak
from faster_eth_abi import encode as abi_encode

from xborder.bindings.batch import DONE
from xborder.bindings.consent import selector
from xborder.domain import calendar
from xborder.domain.dates import month_index, month_start
from xborder.domain.enums import LoanStatus
from xborder.domain.loans import Loan, LoanRecorded
from xborder.services import policy
from xborder.services.loan_batch import ALREADY, RECORDED, LoanBatch, LoanItem, LoanOutcome
from xborder.services.replay import TRANCHE_CALLS, Bar, OneNode, Tally, WorkloadPlayer, document_hash
from xborder.services.workload import Tranche, WorkloadLoan

log = logging.getLogger(__name__)

#: A segment's steps: its records, then its confirmations with (last segment of a month) the tranches.
STEPS = ("record", "confirm and tranches")
_EVENT_OF = {"draw": "LoanDrawn(uint64,uint32,uint32,uint64,uint64,uint64,uint64,uint32,uint256,uint256)",
             "repay": "LoanRepaid(uint64,uint32,uint32,uint64,uint64,uint256,uint256)",
             "extend": "LoanExtended(uint64,uint32,uint32,uint32,uint32,bool,bool,bool,uint256)",
             "default": "LoanDefaulted(uint64,uint32,uint32,uint32,bool,uint64,uint256)"}
_TOPIC_KIND = {"0x" + keccak(sig.encode()).hex(): kind for kind, sig in _EVENT_OF.items()}
_SEL_GET_LOAN = selector("getLoan(uint64)")


class PlannedLoanBatch(LoanBatch):
    """`LoanBatch` for a planned workload: each co-signed item's consent nonce is its loan number
    (unique per borrower, known without asking the chain: no per-borrower nonce search, which cost
    half the time at scale), and earlier runs' records are looked up (whole-chain eth_getLogs,
    `EARLIER_RECORDS_CHUNK` borrowers a query) only when resuming an interrupted step (`check_earlier`).
    The chain holds only the workload's loans, so only a document that backs more than one loan
    of the workload (`shared_documents`) can already back a live loan: the others are not asked
    about (one eth_call per loan), but in a resumed step, where every document is."""

    check_earlier: bool = False
    shared_documents: frozenset[bytes] = frozenset()

    def _may_be_live(self, i: int) -> bool:
        return self.check_earlier or self.items[i].request.document_hash in self.shared_documents

    def _prepare_consents(self, block: str) -> None:
        ready, _ = self._read_positions_and_epochs(block)
        for i in ready:
            if self.items[i].co_signed:
                self._nonces[i] = planned_nonce(self.items[i])

    def _earlier_records(self, borrowers: Sequence[int]) -> dict[bytes, list[tuple[int, LoanRecorded]]]:
        return super()._earlier_records(borrowers) if self.check_earlier else {}


def planned_nonce(item: LoanItem) -> int:
    """The consent nonce of a planned loan: its number (the player's refs are "loan <number>")."""
    return int(item.ref.rsplit(" ", 1)[-1])


@dataclass
class PlannedNode(OneNode):
    """`OneNode` sending loans as `PlannedLoanBatch`es."""

    check_earlier: bool = False
    shared_documents: frozenset[bytes] = frozenset()

    def loans(self, items: Sequence[LoanItem], progress: Bar) -> list[LoanOutcome]:
        batch = PlannedLoanBatch(self.client, items, gas_mode="sample")
        batch.check_earlier, batch.shared_documents = self.check_earlier, self.shared_documents
        batch.preflight()
        return batch.submit(progress).outcomes


def shared_documents(loans: Sequence[WorkloadLoan]) -> frozenset[bytes]:
    """The document hashes (as `WorkloadPlayer._item` hashes them) that back more than one loan."""
    seen = Counter(loan.document for loan in loans)
    return frozenset(document_hash(doc) for doc, n in seen.items() if n > 1)


def period_of(day: dt.date) -> str:
    """The parameter period `day` falls in, named by its values and the date it began."""
    e, f = (calendar.in_force(p, day) for p in policy.CALENDAR_PARAMETERS)
    began = max((c.effective for c in calendar.POLICY_CALENDAR if c.effective <= day), default=dt.date(2017, 1, 22))
    return f"from {began.isoformat()}: enterprises {e / 10_000:g}, financial institutions {f / 10_000:g}"


def _date(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


@dataclass
class Segment:
    """Part of a month between two calendar changes."""

    month: int
    start: int  # unix seconds the chain's clock moves to
    loans: list[WorkloadLoan]
    last_of_month: bool

    @property
    def period(self) -> str:
        return period_of(_date(self.start))


def plan_segments(loans: Sequence[WorkloadLoan], base_year: int, later_months: int) -> list[Segment]:
    """The months of the loans' value dates (and `later_months` after, for their tranches), each cut
    at the calendar's change dates; a loan goes to the segment its value date falls in."""
    by_month: dict[int, list[WorkloadLoan]] = {}
    for loan in loans:
        by_month.setdefault(month_index(loan.value_date, base_year), []).append(loan)
    out: list[Segment] = []
    for month in range(min(by_month), max(by_month) + later_months + 1):
        day2 = month_start(month, base_year, day=2)
        cuts = sorted({max(c.timestamp + 3600, day2) for c in calendar.POLICY_CALENDAR
                       if c.parameter in policy.CALENDAR_PARAMETERS and month_index(c.timestamp, base_year) == month})
        starts = [day2] + [c for c in cuts if c > day2]
        bounds = starts[1:] + [month_start(month + 1, base_year)]
        month_loans = by_month.get(month, [])
        for k, (start, end) in enumerate(zip(starts, bounds, strict=True)):
            lo = start // 86_400 * 86_400 if k else -1
            hi = end // 86_400 * 86_400 if k < len(starts) - 1 else 2**63
            out.append(Segment(month, start, [ln for ln in month_loans if lo <= ln.value_date < hi],
                               last_of_month=k == len(starts) - 1))
    return out


@dataclass
class PeriodTally(Tally):
    """A Tally that also counts refusals (and landed loans) by parameter period."""

    period: str = ""
    by_period: dict[str, Counter[str]] = field(default_factory=dict)

    def refuse(self, reason: str, message: str) -> None:
        super().refuse(reason, message)
        self.by_period.setdefault(self.period, Counter())[reason] += 1

    def to_json(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "refusals": dict(self.refusals), "examples": self.examples,
                "loan_ids": {str(k): v for k, v in self.loan_ids.items()},
                "by_period": {k: dict(v) for k, v in self.by_period.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PeriodTally:
        return cls(counters=Counter(data["counters"]), refusals=Counter(data["refusals"]),
                   examples=dict(data["examples"]), loan_ids={int(k): int(v) for k, v in data["loan_ids"].items()},
                   by_period={k: Counter(v) for k, v in data["by_period"].items()})


def checkpoint_block(path: Path) -> int | None:
    """The block at which the step a checkpoint was written for began (None: no checkpoint yet).
    Every earlier step landed before it, so a chain whose head is below it lost blocks the
    checkpoint counts as done (a node killed before its last snapshot)."""
    if not path.exists():
        return None
    started = json.loads(path.read_text()).get("started_at")
    return None if started is None else int(started)


@dataclass
class CalendarPlayer(WorkloadPlayer):
    """`WorkloadPlayer` over calendar segments, with a checkpoint file (None: no resuming)."""

    checkpoint: Path | None = None
    #: Refuse to resume a checkpoint written for another workload.
    fingerprint: str = ""
    tally: PeriodTally = field(default_factory=PeriodTally)
    #: Seconds spent in each step kind (record, confirm, tranches), this run.
    timings: dict[str, float] = field(default_factory=dict)
    _builder: ThreadPoolExecutor | None = field(default=None, repr=False)
    _segments: list[Segment] = field(default_factory=list, repr=False)
    #: Segment index -> its items being built ahead.
    _built: dict[int, Future[list[LoanItem]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.planned = PlannedNode(self.client, shared_documents=shared_documents(self.workload.loans))
        self.sink = self.route or self.planned
        self._total_counts = super()._totals()  # once: the progress callbacks ask for it thousands of times

    def _totals(self) -> tuple[int, int, int]:
        return self._total_counts

    def play(self) -> PeriodTally:
        later = max((len(ln.later) for ln in self.workload.loans), default=0)
        segments = plan_segments(self.workload.loans, self.base_year, later)
        position, started_at = self._load()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="next-items") as builder:
            self._builder, self._segments, self._built = builder, segments, {}
            try:
                self._play(segments, position, started_at)
            finally:
                for future in self._built.values():
                    future.cancel()
                self._built.clear()
        return self.tally

    def _play(self, segments: list[Segment], position: tuple[int, int], started_at: int | None) -> None:
        for index, segment in enumerate(segments):
            for step_no, step in enumerate(STEPS):
                if (index, step_no) < position:
                    continue
                resumed = (index, step_no) == position and started_at is not None
                began = time.perf_counter()
                block = self.client.rpc.block_number()
                self._save((index, step_no), started_at if resumed else block)
                if step == "record":
                    self.planned.check_earlier = resumed
                    self._advance_clock_to(segment.start)
                    self.tally.period = segment.period
                    for parameter, value in policy.apply_calendar(self.client, self.regulator):
                        self.tally.counters[f"calendar {parameter.slug} -> {value / 10_000:g}"] += 1
                        self.bars.say(f"{_date(segment.start)}: the regulator sets {parameter.slug} to "
                                      f"{value / 10_000:g} (the PBOC/SAFE calendar)")
                    self._record_segment(segment, self._items_of(index))
                else:
                    self._confirm_and_tranches(segment, started_at if resumed else None)
                self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - began
        # A segment's end needs no checkpoint of its own: the next step's start writes one (an
        # interruption between the two redoes the last step, which finds what landed); the run's end does.
        self._save((len(segments), 0), None)
        self.bars.tranche(self._totals()[2], self._totals()[2])
        self.bars.confirm(self._done["confirm"], self._totals()[1])

    def _build(self, loans: Sequence[WorkloadLoan]) -> list[LoanItem]:
        return [self._item(loan) for loan in loans]

    def _items_of(self, index: int) -> list[LoanItem]:
        """Segment `index`'s items (built ahead by the thread, or now), having the thread start on
        the next segment that has loans."""
        future = self._built.pop(index, None)
        items = future.result() if future is not None else self._build(self._segments[index].loans)
        following = next((k for k in range(index + 1, len(self._segments)) if self._segments[k].loans), None)
        if self._builder is not None and following is not None and following not in self._built:
            self._built[following] = self._builder.submit(self._build, self._segments[following].loans)
        return items

    # -- steps ------------------------------------------------------------------------------
    def _advance_clock_to(self, moment: int) -> None:
        if moment > self.client.rpc.chain_time():
            self.client.rpc.call("evm_setNextBlockTimestamp", [moment])
            self.client.rpc.call("evm_mine")

    def _record_segment(self, segment: Segment, items: Sequence[LoanItem]) -> None:
        loans = segment.loans
        if loans:
            base = self._done["record"]
            outcomes = self.sink.loans(items, lambda done, _t: self.bars.record(base + done, self._totals()[0]))
            for loan, outcome in zip(loans, outcomes, strict=True):
                if outcome.status in (RECORDED, ALREADY) and outcome.loan_id is not None:
                    self.tally.loan_ids[loan.number] = outcome.loan_id
                    self.tally.counters["recorded"] += 1
                    self.tally.counters["already recorded (resumed)"] += outcome.status == ALREADY
                    if loan.co_signed:
                        self._live.add(loan.number)
                        self.tally.counters["drawdowns"] += 1 if loan.first_draw else 0
                        self.tally.counters["first draws"] += 1 if loan.first_draw else 0
                else:
                    self.tally.refuse(outcome.error or outcome.status, outcome.reason or outcome.status)
        self._done["record"] += len(loans)
        self.bars.record(self._done["record"], self._totals()[0])
        for loan in loans:
            for k in range(len(loan.later)):
                self._scheduled.setdefault(segment.month + 1 + k, []).append((loan, k))

    def _statuses(self, loan_ids: Sequence[int]) -> list[int]:
        ledger = str(self.client.ledger.address)
        answers = self.client.rpc.results([("eth_call", [{"to": ledger, "data": "0x" + (
            _SEL_GET_LOAN + abi_encode(["uint64"], [n])).hex()}, "latest"]) for n in loan_ids], context="getLoan")
        return [Loan.decode(bytes.fromhex(str(a)[2:])).status for a in answers]

    def _confirm_and_tranches(self, segment: Segment, resumed_from: int | None) -> None:
        """The segment's confirmations and (its month's last segment) the month's tranches, one batch."""
        confirms = self._confirmations(segment, resumed_from is not None)
        tranches = self._month_tranches(segment.month, resumed_from) if segment.last_of_month else []
        txs = [self._confirm_tx(ln) for ln in confirms] + self._tranche_txs(tranches, priority=1)
        outcomes = self.sink.run(txs)
        self._done["confirm"] += sum(1 for ln in segment.loans if not ln.co_signed)
        self.bars.confirm(self._done["confirm"], self._totals()[1])
        for loan, outcome in zip(confirms, outcomes[:len(confirms)], strict=True):
            if outcome.status == DONE:
                self.tally.counters["confirmations"] += 1
                self._live.add(loan.number)
        if not segment.last_of_month:
            return
        self._count_tranches(tranches, outcomes[len(confirms):])

    def _confirmations(self, segment: Segment, resumed: bool) -> list[WorkloadLoan]:
        """The segment's recorded loans still waiting for their borrower (a resumed step counts the
        confirmations that landed before the interruption)."""
        waiting = [ln for ln in segment.loans if not ln.co_signed and ln.number in self.tally.loan_ids]
        if resumed and waiting:
            statuses = self._statuses([self.tally.loan_ids[ln.number] for ln in waiting])
            for loan, status in zip(list(waiting), statuses, strict=True):
                if status != LoanStatus.RECORDED:
                    waiting.remove(loan)
                    if status == LoanStatus.ACTIVE:
                        self.tally.counters["confirmations"] += 1
                        self._live.add(loan.number)
        return waiting

    def _landed_since(self, block: int) -> set[tuple[int, str]]:
        """(loan id, tranche kind) of the ledger's tranche events from `block` on."""
        logs = self.client.rpc.call("eth_getLogs", [{"address": str(self.client.ledger.address),
                                                     "fromBlock": hex(block), "toBlock": "latest",
                                                     "topics": [list(_TOPIC_KIND)]}])
        return {(int(e["topics"][1], 16), _TOPIC_KIND[e["topics"][0]]) for e in logs or []}

    def _month_tranches(self, month: int, resumed_from: int | None) -> list[tuple[WorkloadLoan, Tranche]]:
        """The month's tranches of live loans still to send (a resumed step counts the ones whose
        events landed since the step began). Loans of this month's confirmations are not among
        them: a loan's tranches start the month after its value date."""
        due = self._scheduled.pop(month, [])
        self._done["tranche"] += len(due)
        todo = [(ln, ln.later[k]) for ln, k in due if ln.number in self._live]
        if resumed_from is not None and todo:
            landed = self._landed_since(resumed_from)
            for loan, tranche in list(todo):
                if (self.tally.loan_ids[loan.number], tranche.kind) in landed:
                    todo.remove((loan, tranche))
                    self.tally.counters[TRANCHE_CALLS[tranche.kind][1]] += 1
        return todo

    # -- checkpoint ---------------------------------------------------------------------------
    def _save(self, position: tuple[int, int], started_at: int | None) -> None:
        if self.checkpoint is None:
            return
        state = {"fingerprint": self.fingerprint, "steps": list(STEPS), "position": list(position), "started_at": started_at,
                 "tally": self.tally.to_json(), "period": self.tally.period, "live": sorted(self._live),
                 "scheduled": {str(m): [[ln.number, k] for ln, k in v] for m, v in self._scheduled.items()},
                 "done": dict(self._done)}
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.checkpoint)

    def _load(self) -> tuple[tuple[int, int], int | None]:
        if self.checkpoint is None or not self.checkpoint.exists():
            return (0, 0), None
        state = json.loads(self.checkpoint.read_text())
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(f"{self.checkpoint} was written for another workload ({state.get('fingerprint')!r}, "
                             f"this one is {self.fingerprint!r}): start afresh without --resume")
        if state.get("steps", ["record", "confirm", "tranches"]) != list(STEPS):
            raise ValueError(f"{self.checkpoint} counts a segment's steps as {state.get('steps', 'record, confirm, tranches')}"
                             f" (an older xborder), this one as {list(STEPS)}: start afresh without --resume")
        by_number = {ln.number: ln for ln in self.workload.loans}
        self.tally = PeriodTally.from_json(state["tally"])
        self.tally.period = state.get("period", "")
        self._live = set(state["live"])
        self._scheduled = {int(m): [(by_number[n], k) for n, k in v] for m, v in state["scheduled"].items()}
        self._done = Counter(state["done"])
        position = (int(state["position"][0]), int(state["position"][1]))
        log.info("resuming at segment %d step %s", *position)
        return position, state.get("started_at")
