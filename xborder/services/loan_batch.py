"""Record many loans at once: `LoanBatch` plans loans for the batch engine (the CSV import, the
demo and the benchmark use it). It knows loans; the engine (`xborder.bindings.batch`) does the
dry run's transport, the sending and the settling.

1. `preflight()` never sends anything. It checks each item's own data, its dates against block
   time and the policy's windows (value date, maturity, maximum term: the field is named),
   duplicates inside the batch, loans an earlier run already recorded (same document, same
   recorder institution, same terms hash, still Recorded or live: "already recorded", so an
   interrupted import is simply run again) and documents another live loan holds, then dry-runs
   the real `recordLoan` / `recordLoanWithConsent` call of every item through the engine (so every
   party, kind, status, consent, submitter, epoch, rate, type and date rule is the contract's own,
   with its decoded error), and carries each borrower's running risk-weighted balance through the
   batch with the ledger's `previewNewLoan`, so the fifth loan of a borrower is refused when the
   first four already take its headroom.
2. `submit()` hands the transactions to the engine. A co-signed item carries the borrower's
   EIP-712 consent naming the recorder's institution as submitter (the creditor or its agent), at
   the borrower's signature epoch, with its own unused nonce (v2 nonces are unordered: no send
   order is needed). An item whose nonce another program used meanwhile is re-signed with a fresh
   nonce and sent again; a revoked epoch is never re-signed (that is the borrower's revocation).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faster_eth_abi import decode as abi_decode
from faster_eth_abi import encode as abi_encode

from xborder.bindings.batch import DONE, FAILED, INVALID, READY, REFUSED, Batch, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import (
    ConsentSignature,
    record_calldata,
    record_with_consent_calldata,
    selector,
    sign_consent,
)
from xborder.chain.rpc import StateUnavailable, classify, node_error
from xborder.domain.dates import format_date
from xborder.domain.enums import LoanStatus, Parameter
from xborder.domain.limits import maturity_window, value_date_window
from xborder.domain.loans import Loan, LoanRecorded, LoanRequest, Position, loan_label, short_hash
from xborder.errors import ValidationError
from xborder.services.loan_items import ALREADY, RECORDED, BatchReport, LoanItem, LoanOutcome
from xborder.services.loans import LOAN_RECORDED_TOPIC, LoanService

log = logging.getLogger(__name__)

#: Extra gas a borrower's first loan may need over the sampled one (new storage slots).
_FIRST_LOAN_GAS = 25_000
_SEL_PREVIEW = selector(f"previewNewLoan({LoanRequest.abi_type()},uint64)")
_SEL_LIVE = selector("liveLoanOfDocument(bytes32)")
_SEL_POSITION = selector("borrowerPosition(uint32)")
_SEL_GET_LOAN = selector("getLoan(uint64)")
_SEL_EPOCH = selector("signatureEpoch(uint32)")
_RECORDER_HINT = ("record a loan from a wallet of its borrower, its creditor or an agent the creditor appointed; "
                  "a co-signed loan from the creditor or its agent")
#: Borrowers per `eth_getLogs` of their earlier records (a topic OR-list; geth caps such a list at 1,000).
EARLIER_RECORDS_CHUNK = 200
#: An earlier run's loan is "already recorded" while it is in one of these.
_STILL_THERE = (LoanStatus.RECORDED, LoanStatus.ACTIVE, LoanStatus.DEFAULTED)

Progress = Callable[[int, int], None]


@dataclass
class LoanBatch:
    client: XborderClient
    items: Sequence[LoanItem]
    #: Consent signatures are valid this long after the chain time at submission.
    deadline_seconds: int = 3600
    #: JSON-RPC calls per HTTP batch.
    batch_size: int = 500
    #: "estimate" every transaction's gas in the dry run (exact), "sample" one per kind of call
    #: (faster), or "fixed" (`fixed_gas` for all).
    gas_mode: str = "estimate"
    fixed_gas: int = 400_000
    gas_margin_percent: int = 125
    #: Rounds of re-signing co-signed items whose consent nonce was used meanwhile.
    retries: int = 2
    receipt_timeout: float = 600.0
    outcomes: list[LoanOutcome] = field(default_factory=list)
    _positions: dict[int, Position] = field(default_factory=dict, repr=False)
    _gas: dict[int, int] = field(default_factory=dict, repr=False)
    #: Per co-signed item: its consent nonce; per borrower: its signature epoch; per recorder: its institution.
    _nonces: dict[int, int] = field(default_factory=dict, repr=False)
    _epochs: dict[int, int] = field(default_factory=dict, repr=False)
    _owner: dict[str, int] = field(default_factory=dict, repr=False)
    #: Per item: the calldata the dry run signed and checked, with its consent deadline (sent as it
    #: is while at least half its validity is left: no second signature per co-signed loan).
    _signed: dict[int, tuple[int, bytes]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.service = LoanService(self.client)
        self.ledger = str(self.client.ledger.address)
        self.rpc = self.client.rpc

    def _say(self, name: str, **args: Any) -> str:
        return self.client.decoder.describe(name, args)

    def _calls(self, calls: Sequence[tuple[str, bytes]], block: str) -> list[bytes | None]:
        """eth_call each (to, data) on `block`: the result, or None where it reverted."""
        answers = self.rpc.batch([("eth_call", [{"to": to, "data": "0x" + data.hex()}, block]) for to, data in calls],
                                 self.batch_size)
        for answer in answers:  # a node's answer about the block is not a revert
            if "error" in answer and classify(answer["error"]) is StateUnavailable:
                raise node_error(answer["error"], f"eth_call at block {block}")
        return [None if "error" in a else bytes.fromhex(str(a.get("result") or "0x")[2:]) for a in answers]

    # -- dry run ----------------------------------------------------------------------------
    def preflight(self) -> BatchReport:
        """Dry-run every item against the current chain state; nothing is sent."""
        started = time.perf_counter()
        self.outcomes = [LoanOutcome(i, item.ref or f"item {i + 1}", ref=item.ref or f"item {i + 1}", row=item.row)
                         for i, item in enumerate(self.items)]
        # Every phase reads the latest state (each call on its own, the chain decides on submission):
        # a block pinned for the whole preflight outlived the node's history on long batches (10,000
        # loans on anvil at 0.2 s blocks: "BlockOutOfRangeError", every loan counted as refused).
        block = "latest"
        self._signed.clear()
        self._check_items()
        self._check_dates()
        self._check_documents(block)
        self._prepare_consents(block)
        self._dry_run_calls(block)
        self._check_limits(block)
        return BatchReport(self.outcomes, time.perf_counter() - started)

    def _ready(self) -> list[int]:
        return [i for i, o in enumerate(self.outcomes) if o.status == READY]

    def _invalid(self, i: int, exc: ValidationError) -> None:
        o = self.outcomes[i]
        o.refuse("ValidationError", str(exc), INVALID)
        o.field, o.value, o.allowed = exc.field, None if exc.value is None else str(exc.value), exc.allowed

    def _check_items(self) -> None:
        seen_docs: dict[bytes, int] = {}
        for i, item in enumerate(self.items):
            try:
                item.check()
            except ValidationError as exc:
                self._invalid(i, exc)
                continue
            first = seen_docs.setdefault(item.request.document_hash, i)
            if first != i:
                self.outcomes[i].refuse(
                    "DuplicateInBatch", f"document {short_hash(item.request.document_hash)} also backs "
                    f"{self.outcomes[first].ref} of this batch: one document can back only one live loan")

    def _check_dates(self) -> None:
        """The policy's date windows against block time, with the field named (the contract's
        ValueDateOutOfRange / MaturityDateOutOfRange, said before any call)."""
        now = self.rpc.chain_time()
        values = self.client.policy.functions.parameters().call()
        params = {p: int(v) for p, v in zip(Parameter, values, strict=True)}
        window = value_date_window(now, params)
        for i in self._ready():
            r = self.items[i].request
            if r.value_date not in window:
                self._invalid(i, _date_error("value_date", r.value_date, window.earliest, window.latest,
                                             "within the value-date window the regulator allows"))
                continue
            maturity = maturity_window(now, r.value_date, params)
            if r.maturity_date not in maturity:
                self._invalid(i, _date_error("maturity_date", r.maturity_date, maturity.earliest, maturity.latest,
                                             "after today and the value date, at most the maximum term after it"))

    def _check_documents(self, block: str) -> None:
        """Loans an earlier run recorded (ALREADY) and documents another live loan holds (refused)."""
        ready = self._ready()
        if not ready:
            return
        owners = self._owners({self.items[i].recorder.address for i in ready}, block)
        self._owner.update(owners)
        earlier = self._earlier_records(sorted({self.items[i].request.borrower for i in ready}))
        # the earlier loans with an item's document, recorder and terms hash: only their status is asked
        same = {i: [loan_id for loan_id, event in earlier.get(self.items[i].request.document_hash, [])
                    if event.recorder == owners.get(self.items[i].recorder.address)
                    and event.request.terms_hash == self.items[i].request.terms_hash] for i in ready}
        statuses = self._statuses(sorted({loan_id for ids in same.values() for loan_id in ids}), block)
        for i, ids in same.items():
            for loan_id in ids:
                if statuses.get(loan_id) in _STILL_THERE:
                    o = self.outcomes[i]
                    o.status, o.loan_id = ALREADY, loan_id
                    o.reason = f"already recorded as loan {loan_label(loan_id)} (same recorder, same terms hash)"
        ready = [i for i in self._ready() if self._may_be_live(i)]
        lives = self._calls([(self.ledger, _SEL_LIVE + self.items[i].request.document_hash) for i in ready], block)
        for i, answer in zip(ready, lives, strict=True):
            live = int(abi_decode(["uint64"], answer)[0]) if answer else 0
            if live:
                self.outcomes[i].refuse("DocumentAlreadyBacksLoan", self._say(
                    "DocumentAlreadyBacksLoan", documentHash=self.items[i].request.document_hash, loanId=live))

    def _may_be_live(self, i: int) -> bool:
        """Can another live loan hold item `i`'s document? Any, for a batch that knows nothing of
        the chain's other loans (a planned workload knows: `PlannedLoanBatch`)."""
        return True

    def _owners(self, addresses: set[str], block: str) -> dict[str, int]:
        ordered = sorted(addresses)
        answers = self._calls([(str(self.client.registry.address), selector("institutionOf(address)")
                                + abi_encode(["address"], [a])) for a in ordered], block)
        return {a: int.from_bytes(r, "big") if r else 0 for a, r in zip(ordered, answers, strict=True)}

    def _earlier_records(self, borrowers: Sequence[int]) -> dict[bytes, list[tuple[int, LoanRecorded]]]:
        """document hash -> [(loan id, LoanRecorded)] of every loan recorded for `borrowers`."""
        start = hex(self.client.deployment.start_block)
        # one query per EARLIER_RECORDS_CHUNK borrowers (a topic OR-list): the node scans the chain once
        # per query, not once per borrower (the bench's third batch of 10,000 loans, on 20,000 earlier ones of
        # 1,000 borrowers: preflight 522 -> 1,700 loans/s)
        chunks = [borrowers[k:k + EARLIER_RECORDS_CHUNK] for k in range(0, len(borrowers), EARLIER_RECORDS_CHUNK)]
        responses = self.rpc.batch([("eth_getLogs", [{
            "address": self.ledger, "fromBlock": start, "toBlock": "latest",
            "topics": [LOAN_RECORDED_TOPIC, None, ["0x" + b.to_bytes(32, "big").hex() for b in chunk]]}])
            for chunk in chunks])
        found: dict[bytes, list[tuple[int, LoanRecorded]]] = {}
        for response in responses:
            for entry in response.get("result") or []:
                event = LoanRecorded.decode(bytes.fromhex(entry["data"][2:]))
                found.setdefault(event.request.document_hash, []).append((int(entry["topics"][1], 16), event))
        return found

    def _statuses(self, loan_ids: Sequence[int], block: str) -> dict[int, int]:
        answers = self._calls([(self.ledger, _SEL_GET_LOAN + abi_encode(["uint64"], [n])) for n in loan_ids], block)
        return {n: Loan.decode(r).status for n, r in zip(loan_ids, answers, strict=True) if r}

    def _positions_of(self, borrowers: Sequence[int], block: str) -> dict[int, Position]:
        answers = self._calls([(self.ledger, _SEL_POSITION + abi_encode(["uint32"], [b])) for b in borrowers], block)
        return {b: Position.decode(r) if r else Position(0, 0, False) for b, r in zip(borrowers, answers, strict=True)}

    def _read_positions_and_epochs(self, block: str) -> tuple[list[int], list[int]]:
        """The ready items and the borrowers of the co-signed ones; reads, at `block`, the position
        of every ready item's borrower and the signature epoch of every co-signing one."""
        ready = self._ready()
        self._positions = self._positions_of(sorted({self.items[i].request.borrower for i in ready}), block)
        signing = sorted({self.items[i].request.borrower for i in ready if self.items[i].co_signed})
        epochs = self._calls([(str(self.client.registry.address), _SEL_EPOCH + abi_encode(["uint32"], [b]))
                              for b in signing], block)
        self._epochs = {b: int.from_bytes(r, "big") if r else 0 for b, r in zip(signing, epochs, strict=True)}
        return ready, signing

    def _prepare_consents(self, block: str) -> None:
        """Each co-signed item's nonce (unused, per borrower), each borrower's signature epoch."""
        ready, signing = self._read_positions_and_epochs(block)
        mine: dict[int, list[int]] = {b: [] for b in signing}
        for i in ready:
            if self.items[i].co_signed:
                mine[self.items[i].request.borrower].append(i)
        nonces = self.client.unused_consent_nonces_of({b: len(m) for b, m in mine.items()},
                                                      starts={b: self._positions[b].loan_count for b in signing})
        for b in signing:
            for i, nonce in zip(mine[b], nonces[b], strict=True):
                self._nonces[i] = nonce

    def _dry_run_calls(self, block: str) -> None:
        """The real record call of every READY item, through the engine's dry run: the contract's
        own rules, each refusal decoded."""
        ready = self._ready()
        deadline = self.rpc.chain_time() + self.deadline_seconds
        self._signed.update((i, (deadline, self._calldata(i, deadline))) for i in ready)
        probes = [self._tx(i, self._signed[i][1], gas=None if self.gas_mode == "estimate" else self.fixed_gas)
                  for i in ready]
        batch = self.client.batch(probes, batch_size=self.batch_size, gas_margin_percent=self.gas_margin_percent)
        batch.dry_run(block)
        for i, probe in zip(ready, batch.outcomes, strict=True):
            if probe.status != READY:
                hint = f": {_RECORDER_HINT}" if probe.error == "UnauthorizedWallet" else ""
                self.outcomes[i].refuse(probe.error, probe.reason + hint)
        self._gas = {i: g for i, g in zip(ready, (batch.gas_limits.get(k) for k in range(len(ready))), strict=True)
                     if g is not None}

    def _check_limits(self, block: str) -> None:
        """Each borrower's running balance through the batch (previewNewLoan per item, at today's
        rate and weight; a weight-0 item adds nothing and always fits). Only the drawing items of
        borrowers with more than one in the batch are previewed: an item that draws nothing adds
        nothing, and a borrower's only drawing item was checked against its limit by the dry run
        (the contract's own check, on the same state), so their previews could refuse nothing."""
        drawing = Counter(self.items[i].request.borrower for i in self._ready() if self.items[i].draw > 0)
        ready = [i for i in self._ready() if self.items[i].draw > 0 and drawing[self.items[i].request.borrower] > 1]
        previews = self._calls([(self.ledger, _SEL_PREVIEW + abi_encode(
            [LoanRequest.abi_type(), "uint64"], [self.items[i].request.as_abi(), self.items[i].draw])) for i in ready],
            block)
        running = {b: p.balance for b, p in self._positions.items()}
        for i, answer in zip(ready, previews, strict=True):
            if answer is None:
                continue  # the dry run of the call itself passed; a preview refusal is not a limit
            balance_after, limit, _fits = abi_decode(["uint256", "uint256", "bool"], answer)
            b = self.items[i].request.borrower
            delta = int(balance_after) - self._positions[b].balance
            if delta > 0 and running[b] + delta > int(limit):
                earlier = " (counting the earlier rows of this batch)" if running[b] != self._positions[b].balance else ""
                self.outcomes[i].refuse("BorrowingLimitExceeded", self._say(
                    "BorrowingLimitExceeded", borrower=b, balanceAfter=running[b] + delta, limit=int(limit)) + earlier)
            else:
                running[b] += delta

    # -- sending ----------------------------------------------------------------------------
    def consent_of(self, i: int, deadline: int) -> ConsentSignature:
        """Item `i`'s borrower consent naming its recorder's institution as submitter."""
        item = self.items[i]
        assert item.borrower_account is not None
        b = item.request.borrower
        return sign_consent(item.borrower_account, item.request, item.draw,
                            submitter=self._owner.get(item.recorder.address, 0), nonce=self._nonces[i],
                            epoch=self._epochs.get(b, 0), deadline=deadline, chain_id=self.client.chain_id,
                            ledger=self.ledger, separator=self.service.separator)

    def _calldata(self, i: int, deadline: int) -> bytes:
        """Item `i`'s record call; a co-signed one with a consent valid until `deadline`, or the one the
        dry run signed when that is still valid for at least half of `deadline_seconds` from now."""
        signed = self._signed.get(i)
        if signed is not None and signed[0] - (deadline - self.deadline_seconds) >= self.deadline_seconds // 2:
            return signed[1]
        item = self.items[i]
        if item.borrower_account is None:
            return record_calldata(item.request, item.terms)
        return record_with_consent_calldata(item.request, item.terms, item.draw, self.consent_of(i, deadline))

    def _tx(self, i: int, data: bytes, *, gas: int | None, priority: int = 0) -> Tx:
        item = self.items[i]
        return Tx(item.recorder, self.ledger, data, gas, 0, item.ref, priority)

    def _sample_gas(self, indices: Sequence[int], deadline: int) -> None:
        """gas_mode "sample": one estimate per kind of call (the largest calldata of each) + a margin."""
        samples: dict[tuple[bool, bool], int] = {}
        for i in indices:
            key = (self.items[i].co_signed, self.items[i].draw > 0)
            size = len(self.items[i].terms)
            if key not in samples or size > len(self.items[samples[key]].terms):
                samples[key] = i
        chosen = list(samples.values())
        probes = [self._tx(i, self._calldata(i, deadline), gas=None) for i in chosen]
        batch = self.client.batch(probes, batch_size=self.batch_size, gas_margin_percent=self.gas_margin_percent)
        batch.dry_run()
        per_kind = {k: batch.gas_limits.get(n) for n, k in enumerate(samples)}
        for i in indices:
            estimate = per_kind.get((self.items[i].co_signed, self.items[i].draw > 0))
            self._gas[i] = (estimate + _FIRST_LOAN_GAS) if estimate else self.fixed_gas

    def submit(self, progress: Progress | None = None) -> BatchReport:
        """Send every item that passed `preflight()` (run now if it was not) and settle the receipts."""
        if not self.outcomes:
            self.preflight()
        started = time.perf_counter()
        pending = self._ready()
        total, submitted = len(pending), 0
        for round_ in range(self.retries + 1):
            if not pending:
                break
            if round_:
                self._fresh_nonces(pending)
            batch = self._send(pending, progress, total - len(pending))
            submitted += len(pending)
            pending = self._settle(pending, batch, retry=round_ < self.retries)
        report = BatchReport(self.outcomes, time.perf_counter() - started, submitted)
        log.info("recorded %d loans in %.2fs (%.0f/s)", len(report.with_status(RECORDED)), report.seconds, report.rate)
        return report

    def _fresh_nonces(self, indices: Sequence[int]) -> None:
        mine: dict[int, list[int]] = {}
        for i in indices:
            mine.setdefault(self.items[i].request.borrower, []).append(i)
        nonces = self.client.unused_consent_nonces_of({b: len(m) for b, m in mine.items()},
                                                      skip=set(self._nonces.values()))
        for i in indices:
            self._signed.pop(i, None)  # signed with the used nonce
        for b, items in mine.items():
            for i, nonce in zip(items, nonces[b], strict=True):
                self._nonces[i] = nonce

    def _send(self, indices: Sequence[int], progress: Progress | None, done: int) -> Batch:
        deadline = self.rpc.chain_time() + self.deadline_seconds
        if self.gas_mode == "sample" and any(i not in self._gas for i in indices):
            self._sample_gas([i for i in indices if i not in self._gas], deadline)
        txs = [self._tx(i, self._calldata(i, deadline), gas=self._gas.get(i, self.fixed_gas)) for i in indices]
        batch = self.client.batch(txs, batch_size=self.batch_size, receipt_timeout=self.receipt_timeout)
        total = done + len(indices)
        batch.submit((lambda n, _t: progress(done + n, total)) if progress else None)
        return batch

    def _settle(self, indices: Sequence[int], batch: Batch, *, retry: bool) -> list[int]:
        """Copy the engine's outcomes; return the co-signed items to re-sign (nonce used meanwhile)."""
        again = []
        for i, result in zip(indices, batch.outcomes, strict=True):
            o = self.outcomes[i]
            o.tx_hash, o.gas_used, o.block_number, o.logs = result.tx_hash, result.gas_used, result.block_number, result.logs
            if result.status == DONE:
                o.status, o.error, o.reason = RECORDED, "", ""
                for entry in result.logs:
                    topics = entry.get("topics") or []
                    if topics and topics[0] == LOAN_RECORDED_TOPIC:
                        o.loan_id = int(topics[1], 16)
            elif retry and result.error == "ConsentNonceUsed" and self.items[i].co_signed:
                again.append(i)
            else:
                o.refuse(result.error, result.reason, FAILED if result.status == FAILED else REFUSED)
        if again:
            log.info("%d co-signed loans found their consent nonce used meanwhile: re-signing them", len(again))
        return again


def _date_error(field_name: str, value: int, earliest: int, latest: int, rule: str) -> ValidationError:
    allowed = f"{format_date(earliest)} to {format_date(latest)} ({rule})"
    return ValidationError(f"{field_name}: {format_date(value)} is outside {allowed}", field=field_name,
                           value=format_date(value), allowed=allowed)


__all__ = ["ALREADY", "FAILED", "INVALID", "READY", "RECORDED", "REFUSED", "BatchReport", "LoanBatch", "LoanItem",
           "LoanOutcome"]
