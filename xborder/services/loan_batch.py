"""Record many loans at once: `LoanBatch` plans loans for the batch engine (the CSV import, the
demo and the benchmark use it). It knows loans; the engine (`xborder.bindings.batch`) does the
dry run's transport, the sending and the settling.

1. `preflight()` never sends anything. It checks each item's own data, duplicates inside the
   batch, documents already backing a live loan (those recorded by the same institution with the
   same terms hash are "already recorded": an interrupted import is simply run again), then
   dry-runs the real `recordLoan` / `recordLoanWithConsent` call of every item through the engine
   (so every party, kind, status, signature, rate, type and date rule is the contract's own, with
   its decoded error), and carries each borrower's running risk-weighted balance through the batch
   with the ledger's `previewNewLoan`, so the fifth loan of a borrower is refused when the first
   four already take its headroom.
2. `submit()` signs the consents (a borrower's k-th co-signed item uses its consent nonce + k and
   is sent at priority k, so the node orders them) and hands the transactions to the engine.
   Should a co-signed item still land out of nonce order (another program recorded a co-signed loan
   for the borrower meanwhile) it is re-signed with the current nonce and sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from faster_eth_abi import decode as abi_decode
from faster_eth_abi import encode as abi_encode

from xborder.bindings.batch import DONE, FAILED, INVALID, READY, REFUSED, Batch, Outcome, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import (
    record_calldata,
    record_with_consent_calldata,
    selector,
    sign_consent,
)
from xborder.domain.loans import LoanRecorded, LoanRequest, Position, loan_label, short_hash
from xborder.domain.money import format_amount
from xborder.errors import ValidationError
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsSealer
from xborder.services.loans import LOAN_RECORDED_TOPIC, LoanService

log = logging.getLogger(__name__)

RECORDED = "recorded"            # landed (the engine's DONE, for a loan)
ALREADY = "already recorded"     # an earlier run recorded it
#: Extra gas a borrower's first loan may need over the sampled one (new storage slots).
_FIRST_LOAN_GAS = 25_000
_SEL_PREVIEW = selector(f"previewNewLoan({LoanRequest.abi_type()},uint64)")
_SEL_LIVE = selector("liveLoanOfDocument(bytes32)")
_SEL_POSITION = selector("borrowerPosition(uint32)")
_SEL_GET_LOAN = selector("getLoan(uint64)")
_RECORDER_HINT = ("record loans only from a wallet of the creditor or of a bank (domestic bank or foreign "
                  "bank branch)")

Progress = Callable[[int, int], None]


@dataclass
class LoanItem:
    """One loan to record. With `borrower_account` the borrower co-signs (EIP-712 consent) and the
    loan is recorded Active in one transaction, drawing `draw` at once; without it the loan is
    recorded awaiting the borrower's confirmation (`draw` must then be 0)."""

    request: LoanRequest
    terms: bytes
    recorder: LocalAccount
    borrower_account: LocalAccount | None = None
    draw: int = 0
    ref: str = ""
    row: int | None = None

    @classmethod
    def build(cls, *, borrower: int, creditor: int, currency: str, principal: int, value_date: int,
              maturity_date: int, financing_type: int, document: bytes, terms: terms_codec.LoanTerms,
              recorder: LocalAccount, borrower_account: LocalAccount | None = None, draw: int = 0,
              ref: str = "", row: int | None = None, salt: bytes | None = None,
              sealer: TermsSealer | None = None) -> LoanItem:
        """Seal `terms` (salt derived from the recorder's key, the document and the terms unless
        given: the same item always gets the same terms hash) and assemble the request. With
        `sealer` the emitted terms are an envelope for the parties and the regulator
        (docs/confidential-terms.md); without, the plaintext `salt || encoding`."""
        encoding = terms_codec.encode(terms)
        sealed = terms_codec.seal(terms, salt if salt is not None else
                                  terms_codec.derive_salt(bytes(recorder.key), document, encoding))
        if sealer is not None:
            sealed = sealer.seal(sealed, document_hash=document, borrower=borrower, creditor=creditor,
                                 recorder=recorder.address)
        request = LoanRequest(borrower, creditor, currency, principal, value_date, maturity_date, financing_type,
                              document, sealed.terms_hash)
        return cls(request, sealed.data, recorder, borrower_account, draw, ref, row)

    @property
    def co_signed(self) -> bool:
        return self.borrower_account is not None

    def check(self) -> None:
        """The item's own data (ValidationError naming the field)."""
        self.request.check()
        if not 0 <= self.draw <= self.request.principal:
            raise ValidationError(
                f"draw: {format_amount(self.draw)} is more than the principal {format_amount(self.request.principal)}",
                field="draw", value=format_amount(self.draw),
                allowed=f"0 to the principal {format_amount(self.request.principal)}")
        if self.draw and not self.co_signed:
            raise ValidationError("draw: drawing at once needs the borrower's consent: give the borrower's wallet too",
                                  field="draw", value=format_amount(self.draw),
                                  allowed="0 unless a borrower wallet co-signs")
        if not terms_codec.verify_emitted(self.terms, self.request.terms_hash):
            raise ValidationError("terms: the terms bytes do not open the terms hash", field="terms",
                                  value="0x" + self.request.terms_hash.hex(), allowed="keccak256(terms bytes) == termsHash")


@dataclass
class LoanOutcome(Outcome):
    """The engine's outcome plus what a loan row needs: its reference, row, loan id and, for an
    invalid row, which field, which value and what is allowed."""

    ref: str = ""
    loan_id: int | None = None
    row: int | None = None
    field: str | None = None
    value: str | None = None
    allowed: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"row": self.row, "ref": self.ref, "status": self.status}
        for key in ("reason", "error", "loan_id", "tx_hash", "gas_used", "field", "value", "allowed"):
            value = getattr(self, key)
            if value not in (None, ""):
                data[key] = value
        return data


@dataclass
class BatchReport:
    outcomes: list[LoanOutcome]
    seconds: float = 0.0
    submitted: int = 0

    def with_status(self, *statuses: str) -> list[LoanOutcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    @property
    def rate(self) -> float:
        landed = len(self.with_status(RECORDED))
        return landed / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "seconds": round(self.seconds, 3), "loans_per_second": round(self.rate, 1),
                "rows": [o.to_json() for o in sorted(self.outcomes, key=lambda o: (o.row or 0, o.index))]}


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
    #: Rounds of re-signing co-signed items that landed out of consent-nonce order.
    retries: int = 2
    receipt_timeout: float = 600.0
    outcomes: list[LoanOutcome] = field(default_factory=list)
    _positions: dict[int, Position] = field(default_factory=dict, repr=False)
    _gas: dict[int, int] = field(default_factory=dict, repr=False)

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
        return [None if "error" in a else bytes.fromhex(str(a.get("result") or "0x")[2:]) for a in answers]

    # -- dry run ----------------------------------------------------------------------------
    def preflight(self) -> BatchReport:
        """Dry-run every item against the current chain state; nothing is sent."""
        started = time.perf_counter()
        self.outcomes = [LoanOutcome(i, item.ref or f"item {i + 1}", ref=item.ref or f"item {i + 1}", row=item.row)
                         for i, item in enumerate(self.items)]
        block = hex(self.rpc.block_number())
        self._check_items()
        self._check_documents(block)
        self._dry_run_calls(block)
        self._check_limits(block)
        return BatchReport(self.outcomes, time.perf_counter() - started)

    def _ready(self) -> list[int]:
        return [i for i, o in enumerate(self.outcomes) if o.status == READY]

    def _check_items(self) -> None:
        seen_docs: dict[bytes, int] = {}
        for i, item in enumerate(self.items):
            o = self.outcomes[i]
            try:
                item.check()
            except ValidationError as exc:
                o.refuse("ValidationError", str(exc), INVALID)
                o.field, o.value, o.allowed = exc.field, None if exc.value is None else str(exc.value), exc.allowed
                continue
            first = seen_docs.setdefault(item.request.document_hash, i)
            if first != i:
                o.refuse("DuplicateInBatch", f"document {short_hash(item.request.document_hash)} also backs "
                         f"{self.outcomes[first].ref} of this batch: one document can back only one live loan")

    def _check_documents(self, block: str) -> None:
        """Documents already backing a live loan: the same loan again (ALREADY) or a refusal."""
        ready = self._ready()
        lives = self._calls([(self.ledger, _SEL_LIVE + self.items[i].request.document_hash) for i in ready], block)
        live_of = {i: int(abi_decode(["uint64"], r)[0]) for i, r in zip(ready, lives, strict=True) if r}
        backed = [i for i in ready if live_of.get(i)]
        if not backed:
            return
        events = self._recorded_events([live_of[i] for i in backed])
        recorders = self._calls([(self.ledger, _SEL_GET_LOAN + abi_encode(["uint64"], [live_of[i]])) for i in backed],
                                block)
        owners = self._owners({self.items[i].recorder.address for i in backed}, block)
        for i, loan in zip(backed, recorders, strict=True):
            loan_id, item, o = live_of[i], self.items[i], self.outcomes[i]
            recorder = int.from_bytes(loan[64:96], "big") if loan else 0
            event = events.get(loan_id)
            if event is not None and recorder == owners.get(item.recorder.address) \
                    and event.request.terms_hash == item.request.terms_hash:
                o.status, o.loan_id = ALREADY, loan_id
                o.reason = f"already recorded as loan {loan_label(loan_id)} (same recorder, same terms hash)"
            else:
                o.refuse("DocumentAlreadyBacksLoan", self._say("DocumentAlreadyBacksLoan",
                                                               documentHash=item.request.document_hash, loanId=loan_id))

    def _owners(self, addresses: set[str], block: str) -> dict[str, int]:
        ordered = sorted(addresses)
        answers = self._calls([(str(self.client.registry.address), selector("institutionOf(address)")
                                + abi_encode(["address"], [a])) for a in ordered], block)
        return {a: int.from_bytes(r, "big") if r else 0 for a, r in zip(ordered, answers, strict=True)}

    def _recorded_events(self, loan_ids: Sequence[int]) -> dict[int, LoanRecorded]:
        start = hex(self.client.deployment.start_block)
        responses = self.rpc.batch([("eth_getLogs", [{
            "address": self.ledger, "fromBlock": start, "toBlock": "latest",
            "topics": [LOAN_RECORDED_TOPIC, "0x" + loan_id.to_bytes(32, "big").hex()]}]) for loan_id in loan_ids])
        found: dict[int, LoanRecorded] = {}
        for loan_id, response in zip(loan_ids, responses, strict=True):
            logs = response.get("result") or []
            if logs:
                found[loan_id] = LoanRecorded.decode(bytes.fromhex(logs[-1]["data"][2:]))
        return found

    def _positions_of(self, borrowers: Sequence[int], block: str) -> dict[int, Position]:
        answers = self._calls([(self.ledger, _SEL_POSITION + abi_encode(["uint32"], [b])) for b in borrowers], block)
        return {b: Position.decode(r) if r else Position(0, 0, 0) for b, r in zip(borrowers, answers, strict=True)}

    def _dry_run_calls(self, block: str) -> None:
        """The real record call of every READY item, through the engine's dry run: the contract's
        own rules, each refusal decoded. Co-signed items are signed for the borrower's current nonce
        (a later item of the same borrower has the same shape)."""
        ready = self._ready()
        self._positions = self._positions_of(sorted({self.items[i].request.borrower for i in ready}), block)
        deadline = self.rpc.chain_time() + self.deadline_seconds
        probes = [self._tx(i, self._calldata(i, self._positions[self.items[i].request.borrower].nonce, deadline),
                           gas=None if self.gas_mode == "estimate" else self.fixed_gas) for i in ready]
        batch = self.client.batch(probes, batch_size=self.batch_size, gas_margin_percent=self.gas_margin_percent)
        batch.dry_run(block)
        for i, probe in zip(ready, batch.outcomes, strict=True):
            if probe.status != READY:
                hint = f": {_RECORDER_HINT}" if probe.error == "UnauthorizedWallet" else ""
                self.outcomes[i].refuse(probe.error, probe.reason + hint)
        self._gas = {i: g for i, g in zip(ready, (batch.gas_limits.get(k) for k in range(len(ready))), strict=True)
                     if g is not None}

    def _check_limits(self, block: str) -> None:
        """Each borrower's running balance through the batch (previewNewLoan per item)."""
        ready = self._ready()
        previews = self._calls([(self.ledger, _SEL_PREVIEW + abi_encode(
            [LoanRequest.abi_type(), "uint64"], [self.items[i].request.as_abi(), self.items[i].draw])) for i in ready],
            block)
        running = {b: p.balance for b, p in self._positions.items()}
        for i, answer in zip(ready, previews, strict=True):
            if answer is None:
                continue  # the dry run of the call itself passed; a preview refusal is not a limit
            balance_after, limit, _fits = abi_decode(["uint256", "uint256", "bool"], answer)
            b = self.items[i].request.borrower
            after = running[b] + (int(balance_after) - self._positions[b].balance)
            if after > int(limit):
                earlier = " (counting the earlier rows of this batch)" if running[b] != self._positions[b].balance else ""
                self.outcomes[i].refuse("BorrowingLimitExceeded", self._say(
                    "BorrowingLimitExceeded", borrower=b, balanceAfter=after, limit=int(limit)) + earlier)
            else:
                running[b] = after

    # -- sending ----------------------------------------------------------------------------
    def _calldata(self, i: int, nonce: int, deadline: int) -> bytes:
        item = self.items[i]
        if item.borrower_account is None:
            return record_calldata(item.request, item.terms)
        signature = sign_consent(item.borrower_account, item.request, item.draw, nonce, deadline,
                                 chain_id=self.client.deployment.chain_id, ledger=self.ledger,
                                 separator=self.service.separator)
        return record_with_consent_calldata(item.request, item.terms, item.draw, deadline, signature)

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
        probes = [self._tx(i, self._calldata(i, self._positions[self.items[i].request.borrower].nonce, deadline),
                           gas=None) for i in chosen]
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
        nonces = {b: p.nonce for b, p in self._positions.items()}
        for round_ in range(self.retries + 1):
            if not pending:
                break
            if round_:
                fresh = self._positions_of(sorted({self.items[i].request.borrower for i in pending}), "latest")
                nonces.update({b: p.nonce for b, p in fresh.items()})
            batch = self._send(pending, nonces, progress, total - len(pending))
            submitted += len(pending)
            pending = self._settle(pending, batch, retry=round_ < self.retries)
        report = BatchReport(self.outcomes, time.perf_counter() - started, submitted)
        log.info("recorded %d loans in %.2fs (%.0f/s)", len(report.with_status(RECORDED)), report.seconds, report.rate)
        return report

    def _send(self, indices: Sequence[int], nonces: dict[int, int], progress: Progress | None, done: int) -> Batch:
        deadline = self.rpc.chain_time() + self.deadline_seconds
        if self.gas_mode == "sample" and any(i not in self._gas for i in indices):
            self._sample_gas([i for i in indices if i not in self._gas], deadline)
        wave: dict[int, int] = {}
        txs = []
        for i in indices:
            item, k = self.items[i], 0
            if item.co_signed:
                b = item.request.borrower
                k = wave[b] = wave.get(b, -1) + 1
            data = self._calldata(i, nonces.get(item.request.borrower, 0) + k, deadline)
            txs.append(self._tx(i, data, gas=self._gas.get(i, self.fixed_gas), priority=k))
        batch = self.client.batch(txs, batch_size=self.batch_size, receipt_timeout=self.receipt_timeout)
        total = done + len(indices)
        batch.submit((lambda n, _t: progress(done + n, total)) if progress else None)
        return batch

    def _settle(self, indices: Sequence[int], batch: Batch, *, retry: bool) -> list[int]:
        """Copy the engine's outcomes; return the co-signed items to re-sign (out of nonce order)."""
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
            elif retry and result.error == "InvalidBorrowerSignature" and self.items[i].co_signed:
                again.append(i)
            else:
                o.refuse(result.error, result.reason, FAILED if result.status == FAILED else REFUSED)
        if again:
            log.info("%d co-signed loans landed out of consent-nonce order: re-signing them", len(again))
        return again


__all__ = ["ALREADY", "FAILED", "INVALID", "READY", "RECORDED", "REFUSED", "BatchReport", "LoanBatch", "LoanItem",
           "LoanOutcome"]
