"""Record many loans at once: `LoanBatch` (for the CSV import, the demo and the benchmark) and
the CSV front end (`read_loan_csv`, `prepare_import`).

The flow never sends a transaction that the current chain state would refuse:

1. `LoanBatch.preflight()` dry-runs every item against the chain in JSON-RPC batches of
   `eth_call` (one block for all): wallet and party rules, institution status and kind,
   `liveLoanOfDocument` (and duplicates inside the batch), `previewNewLoan` (currency rate,
   financing type, dates, limit) — and it carries each borrower's running risk-weighted balance
   through the batch, so the fifth loan of a borrower is refused when the first four already
   take its headroom. Items that already back a live loan recorded by the same institution with
   the same terms hash are "already recorded" (an interrupted import can simply be run again).
2. `LoanBatch.submit()` signs locally and submits in JSON-RPC batches without waiting for each
   receipt (`xborder.chain.sender`), then collects the receipts in batches. Items co-signed by the
   borrower consume the borrower's consent nonce in order, so a borrower's k-th co-signed item
   goes in wave k; everything in one wave is sent at once, waves follow each other.

Items are built with accounts directly (`LoanItem.build`), so the demo and the benchmark need no
CSV and no keystore.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from faster_eth_abi import decode as abi_decode  # compiled eth_abi: same bytes, ~4x faster
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.bindings.units import format_amount, parse_amount, parse_currency
from xborder.chain.sender import (
    Call,
    Receipt,
    SenderPool,
    TxSender,
    revert_data,
    reverted,
    rpc,
    rpc_batch,
    send_interleaved,
)
from xborder.errors import ChainError, ValidationError, XborderError
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsSealer
from xborder.services.loans import (
    LOAN_RECORDED_TOPIC,
    LOAN_TYPE,
    REQUEST_TYPE,
    LoanRequest,
    LoanService,
    decode_loan_recorded,
    document_hash,
    format_date,
    loan_label,
    parse_date,
    record_calldata,
    record_with_consent_calldata,
    selector,
    sign_consent,
)

log = logging.getLogger(__name__)

# outcome statuses
READY = "ready"                  # passed the dry run (nothing sent yet)
RECORDED = "recorded"            # landed
ALREADY = "already recorded"     # an earlier run recorded it
INVALID = "invalid"              # the row itself is wrong (field, value, what is allowed)
REFUSED = "refused"              # the chain would refuse it (dry run), reason decoded
FAILED = "failed"                # sent, but the chain refused it (state moved), reason decoded

BANK_KINDS = (0, 1)
NON_BORROWER_KINDS = (4, 5)
OBSERVER_KIND = 5
ACTIVE = 1
#: Gas assumed per transaction when checking that a recorder wallet can pay (before estimating).
GAS_PER_LOAN_GUESS = 260_000
#: Extra gas a borrower's first loan may need over the sampled one (new storage slots).
_FIRST_LOAN_GAS = 25_000

_SEL_PREVIEW = selector(f"previewNewLoan({REQUEST_TYPE},uint64)")
_SEL_LIVE = selector("liveLoanOfDocument(bytes32)")
_SEL_POSITION = selector("borrowerPosition(uint32)")
_SEL_GET_LOAN = selector("getLoan(uint64)")
_SEL_PAUSED = selector("paused()")
_SEL_INSTITUTION_OF = selector("institutionOf(address)")
_SEL_CORE = selector("institutionCore(uint32)")


# ------------------------------------------------------------------------------------- items

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


@dataclass
class Outcome:
    index: int
    ref: str
    status: str
    reason: str = ""
    error: str = ""
    loan_id: int | None = None
    tx_hash: str | None = None
    gas_used: int | None = None
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
    outcomes: list[Outcome]
    seconds: float = 0.0
    submitted: int = 0

    def with_status(self, *statuses: str) -> list[Outcome]:
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


Progress = Callable[[int, int], None]


# ------------------------------------------------------------------------------------- JSON-RPC helpers

@dataclass
class _CallResult:
    ok: bool
    data: bytes
    message: str = ""


# ------------------------------------------------------------------------------------- the batch

@dataclass
class LoanBatch:
    client: XborderClient
    items: Sequence[LoanItem]
    #: Consent signatures are valid this long after the chain time at submission.
    deadline_seconds: int = 3600
    #: JSON-RPC calls per HTTP batch.
    batch_size: int = 500
    #: "estimate" every transaction's gas (in batches; exact, and a last check against the current
    #: state), "sample" one per kind of call (faster), or "fixed" (`fixed_gas` for all).
    gas_mode: str = "estimate"
    fixed_gas: int = 400_000
    gas_margin_percent: int = 125
    #: Priority fee of the first wave (later waves pay 1 wei less each); 1 gwei.
    tip: int = 10**9
    tip_step: int = 1
    #: Transactions submitted before waiting for their receipts; None: 1,000 on a node that mines
    #: one block per transaction (anvil automine slows down badly with thousands pending), no limit
    #: on anvil with interval mining (`--block-time`), where big batches fill big blocks.
    max_in_flight: int | None = None
    #: Rounds of re-signing co-signed items that landed out of consent-nonce order.
    retries: int = 2
    receipt_timeout: float = 600.0
    outcomes: list[Outcome] = field(default_factory=list)
    _positions: dict[int, tuple[int, int, int]] = field(default_factory=dict, repr=False)
    #: Senders shared with the other batches of a run (each wallet's nonce asked once); own pool if None.
    pool: SenderPool | None = None

    def __post_init__(self) -> None:
        self.service = LoanService(self.client)
        self.w3: Web3 = self.client.w3
        self.ledger = Web3.to_checksum_address(self.client.ledger.address)
        self.registry = Web3.to_checksum_address(self.client.registry.address)

    # -- helpers ----------------------------------------------------------------------------
    def _eth_calls(self, calls: Sequence[tuple[str, bytes]], block: str) -> list[_CallResult]:
        if not calls:
            return []
        responses = rpc_batch(self.w3, [("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])
                                        for to, data in calls], self.batch_size)
        out = []
        for response in responses:
            if "error" in response:
                error = response["error"]
                message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
                out.append(_CallResult(False, revert_data(error) or b"", message))
            else:
                out.append(_CallResult(True, bytes.fromhex(str(response.get("result") or "0x")[2:])))
        return out

    def _decode_failure(self, result: _CallResult) -> tuple[str, str]:
        decoded = self.client.decoder.decode(result.data) if result.data else None
        if decoded is None:
            return "Unknown", f"the contract refused it: {result.message}"
        return decoded.name, decoded.message

    def _say(self, name: str, **args: Any) -> str:
        return self.client.decoder.describe(name, args)

    def _refuse(self, outcome: Outcome, name: str, message: str, status: str = REFUSED) -> None:
        outcome.status, outcome.error, outcome.reason = status, name, message

    # -- dry run ----------------------------------------------------------------------------
    def preflight(self) -> BatchReport:
        """Dry-run every item against the current chain state; nothing is sent."""
        started = time.perf_counter()
        items = self.items
        self.outcomes = [Outcome(i, item.ref or f"item {i + 1}", READY, row=item.row) for i, item in enumerate(items)]
        out = self.outcomes
        block = str(rpc(self.w3, "eth_blockNumber"))

        # 1. the request data itself
        seen_docs: dict[bytes, int] = {}
        for i, item in enumerate(items):
            o = out[i]
            try:
                item.request.check()
                if not 0 <= item.draw <= item.request.principal:
                    raise ValidationError(
                        f"draw: {format_amount(item.draw)} is more than the principal "
                        f"{format_amount(item.request.principal)}", field="draw", value=format_amount(item.draw),
                        allowed=f"0 to the principal {format_amount(item.request.principal)}")
                if item.draw and not item.co_signed:
                    raise ValidationError(
                        "draw: drawing at once needs the borrower's consent: give the borrower's wallet too",
                        field="draw", value=format_amount(item.draw), allowed="0 unless a borrower wallet co-signs")
                if not terms_codec.verify_emitted(item.terms, item.request.terms_hash):
                    raise ValidationError("terms: the terms bytes do not open the terms hash", field="terms",
                                          value="0x" + item.request.terms_hash.hex(),
                                          allowed="keccak256(terms bytes) == termsHash")
            except ValidationError as exc:
                o.status, o.reason, o.error = INVALID, str(exc), "ValidationError"
                o.field, o.value, o.allowed = exc.field, None if exc.value is None else str(exc.value), exc.allowed
                continue
            first = seen_docs.setdefault(item.request.document_hash, i)
            if first != i:
                self._refuse(o, "DuplicateInBatch",
                             f"document 0x{item.request.document_hash.hex()[:12]}… also backs {out[first].ref} of "
                             "this batch: one document can back only one live loan")

        # 2. paused?
        paused = self._eth_calls([(self.ledger, _SEL_PAUSED)], block)[0]
        if paused.ok and abi_decode(["bool"], paused.data)[0]:
            for o in out:
                if o.status == READY:
                    self._refuse(o, "EnforcedPause", self._say("EnforcedPause"))
            return self._report(started)

        # 3. wallets and institutions
        ready = [i for i in range(len(items)) if out[i].status == READY]
        addresses = sorted({items[i].recorder.address for i in ready}
                           | {items[i].borrower_account.address for i in ready  # type: ignore[union-attr]
                              if items[i].co_signed})
        owner = dict(zip(addresses, (
            int(abi_decode(["uint32"], r.data)[0]) if r.ok else 0 for r in self._eth_calls(
                [(self.registry, _SEL_INSTITUTION_OF + abi_encode(["address"], [a])) for a in addresses], block)),
            strict=True))
        ids = sorted({items[i].request.borrower for i in ready} | {items[i].request.creditor for i in ready}
                     | {owner[items[i].recorder.address] for i in ready} - {0})
        cores: dict[int, tuple[int, int, int, str]] = {}
        for inst, r in zip(ids, self._eth_calls(
                [(self.registry, _SEL_CORE + abi_encode(["uint32"], [x])) for x in ids], block), strict=True):
            kind, status, capital, admin = abi_decode(["(uint8,uint8,uint64,address)"], r.data)[0] if r.ok \
                else (0, 0, 0, "0x" + "00" * 20)
            cores[inst] = (int(kind), int(status), int(capital), Web3.to_checksum_address(admin))
        for i in ready:
            self._check_parties(items[i], out[i], owner, cores)

        # 4. documents already backing a live loan (or already recorded by an earlier run)
        ready = [i for i in ready if out[i].status == READY]
        lives = self._eth_calls([(self.ledger, _SEL_LIVE + items[i].request.document_hash) for i in ready], block)
        live_of = {i: int(abi_decode(["uint64"], r.data)[0]) for i, r in zip(ready, lives, strict=True) if r.ok}
        backed = [i for i in ready if live_of.get(i)]
        if backed:
            events = self._recorded_events([live_of[i] for i in backed])
            loans = self._eth_calls([(self.ledger, _SEL_GET_LOAN + abi_encode(["uint64"], [live_of[i]]))
                                     for i in backed], block)
            for i, loan in zip(backed, loans, strict=True):
                loan_id, item = live_of[i], items[i]
                recorder_inst = int(abi_decode([LOAN_TYPE], loan.data)[0][2]) if loan.ok else 0
                event = events.get(loan_id)
                if (event is not None and recorder_inst == owner.get(item.recorder.address)
                        and event["terms_hash"] == item.request.terms_hash):
                    out[i].status, out[i].loan_id = ALREADY, loan_id
                    out[i].reason = f"already recorded as loan {loan_label(loan_id)} (same recorder, same terms hash)"
                else:
                    self._refuse(out[i], "DocumentAlreadyBacksLoan", self._say(
                        "DocumentAlreadyBacksLoan", documentHash=item.request.document_hash, loanId=loan_id))

        # 5. previewNewLoan: rate, financing type, dates, borrower, and the limit with the running balance
        ready = [i for i in ready if out[i].status == READY]
        previews = self._eth_calls([(self.ledger, _SEL_PREVIEW + abi_encode(
            [REQUEST_TYPE, "uint64"], [items[i].request.as_abi(), items[i].draw])) for i in ready], block)
        borrowers = sorted({items[i].request.borrower for i in ready})
        self._positions = {}
        for b, r in zip(borrowers, self._eth_calls(
                [(self.ledger, _SEL_POSITION + abi_encode(["uint32"], [b])) for b in borrowers], block), strict=True):
            balance, count, nonce = abi_decode(["(uint128,uint32,uint32)"], r.data)[0] if r.ok else (0, 0, 0)
            self._positions[b] = (int(balance), int(count), int(nonce))
        running = {b: pos[0] for b, pos in self._positions.items()}
        for i, r in zip(ready, previews, strict=True):
            if not r.ok:
                name, message = self._decode_failure(r)
                self._refuse(out[i], name, message)
                continue
            balance_after, limit, _fits = abi_decode(["uint256", "uint256", "bool"], r.data)
            b = items[i].request.borrower
            after = running[b] + (int(balance_after) - self._positions[b][0])
            if after > int(limit):
                self._refuse(out[i], "BorrowingLimitExceeded", self._say(
                    "BorrowingLimitExceeded", borrower=b, balanceAfter=after, limit=int(limit))
                    + (" (counting the earlier rows of this batch)" if running[b] != self._positions[b][0] else ""))
            else:
                running[b] = after

        # 6. can each recorder wallet pay for its transactions?
        self._check_funds(block)
        return self._report(started)

    def _check_parties(self, item: LoanItem, o: Outcome, owner: dict[str, int],
                       cores: dict[int, tuple[int, int, int, str]]) -> None:
        r = item.request
        recorder = owner.get(item.recorder.address, 0)
        rkind, rstatus = cores.get(recorder, (0, 0, 0, ""))[:2] if recorder else (0, 0)
        bkind, bstatus, _, badmin = cores.get(r.borrower, (0, 0, 0, ""))
        ckind, cstatus = cores.get(r.creditor, (0, 0, 0, ""))[:2]
        who = "record loans only from a wallet of the creditor or of a bank (domestic bank or foreign bank branch)"
        if recorder == 0:
            self._refuse(o, "UnauthorizedWallet",
                         self._say("UnauthorizedWallet", wallet=item.recorder.address, walletInstitution=0) + f": {who}")
        elif recorder != r.creditor and rkind not in BANK_KINDS:
            self._refuse(o, "UnauthorizedWallet", self._say(
                "UnauthorizedWallet", wallet=item.recorder.address, walletInstitution=recorder) + f": {who}")
        elif rstatus != ACTIVE:
            self._refuse(o, "InstitutionNotActive", self._say("InstitutionNotActive", institutionId=recorder,
                                                              status=rstatus))
        elif bstatus == 0:
            self._refuse(o, "UnknownInstitution", "borrower: " + self._say("UnknownInstitution",
                                                                              institutionId=r.borrower))
        elif bstatus != ACTIVE:
            self._refuse(o, "InstitutionNotActive", self._say("InstitutionNotActive", institutionId=r.borrower,
                                                              status=bstatus))
        elif bkind in NON_BORROWER_KINDS:
            self._refuse(o, "InvalidBorrowerKind", self._say("InvalidBorrowerKind", borrower=r.borrower, kind=bkind))
        elif cstatus == 0:
            self._refuse(o, "UnknownInstitution", "creditor: " + self._say("UnknownInstitution",
                                                                              institutionId=r.creditor))
        elif r.creditor == r.borrower or ckind == OBSERVER_KIND:
            self._refuse(o, "InvalidCreditor", self._say("InvalidCreditor", creditor=r.creditor)
                         + (": it is the borrower" if r.creditor == r.borrower else ": it is an observer"))
        elif cstatus != ACTIVE:
            self._refuse(o, "InstitutionNotActive", self._say("InstitutionNotActive", institutionId=r.creditor,
                                                              status=cstatus))
        elif item.borrower_account is not None:
            signer = item.borrower_account.address
            if signer != badmin and owner.get(signer, 0) != r.borrower:
                self._refuse(o, "InvalidBorrowerSignature",
                             self._say("InvalidBorrowerSignature", signer=signer, borrower=r.borrower))

    def _recorded_events(self, loan_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        start = hex(self.client.deployment.start_block)
        responses = rpc_batch(self.w3, [("eth_getLogs", [{
            "address": self.ledger, "fromBlock": start, "toBlock": "latest",
            "topics": [LOAN_RECORDED_TOPIC, "0x" + loan_id.to_bytes(32, "big").hex()]}]) for loan_id in loan_ids],
            self.batch_size)
        found: dict[int, dict[str, Any]] = {}
        for loan_id, response in zip(loan_ids, responses, strict=True):
            logs = response.get("result") or []
            if logs:
                found[loan_id] = decode_loan_recorded(bytes.fromhex(logs[-1]["data"][2:]))
        return found

    def _check_funds(self, block: str) -> None:
        by_wallet: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            if self.outcomes[i].status == READY:
                by_wallet.setdefault(item.recorder.address, []).append(i)
        if not by_wallet:
            return
        wallets = list(by_wallet)
        balances = rpc_batch(self.w3, [("eth_getBalance", [w, block]) for w in wallets], self.batch_size)
        sender = self._sender(self.items[by_wallet[wallets[0]][0]].recorder)
        cap = sender.fees(refresh=True).cap
        per_tx = (self.fixed_gas if self.gas_mode == "fixed" else GAS_PER_LOAN_GUESS) * cap
        for wallet, response in zip(wallets, balances, strict=True):
            balance = int(response.get("result") or "0x0", 16)
            affordable = balance // per_tx if per_tx else len(by_wallet[wallet])
            for i in by_wallet[wallet][affordable:]:
                self._refuse(self.outcomes[i], "InsufficientFunds",
                             f"wallet {wallet} holds {Web3.from_wei(balance, 'ether')} ETH, enough gas for "
                             f"{affordable} of its {len(by_wallet[wallet])} loans: fund it")

    def _report(self, started: float) -> BatchReport:
        return BatchReport(self.outcomes, time.perf_counter() - started)

    # -- sending ----------------------------------------------------------------------------
    def _sender(self, account: LocalAccount) -> TxSender:
        if self.pool is None:
            self.pool = SenderPool(self.w3, self.batch_size)
        return self.pool.get(account)

    def submit(self, progress: Progress | None = None) -> BatchReport:
        """Send every item that passed `preflight()` (run now if it was not) and collect receipts.

        Everything is signed locally and submitted in JSON-RPC batches without waiting for
        receipts. A borrower's co-signed items consume its consent nonce in order: the k-th goes in
        wave k, and wave k is sent with a priority fee 1 wei below wave k-1 so a block builder
        orders the waves even when they share a block. Should a co-signed item still land out of
        order (another program recorded a co-signed loan for the borrower meanwhile) it is
        re-signed with the current nonce and sent again (up to `retries` rounds)."""
        if not self.outcomes:
            self.preflight()
        started = time.perf_counter()
        out = self.outcomes
        pending = [i for i in range(len(self.items)) if out[i].status == READY]
        total = len(pending)
        done = 0
        submitted = 0
        if progress:
            progress(0, total)
        nonces = {b: pos[2] for b, pos in self._positions.items()}
        for round_ in range(self.retries + 1):
            if not pending:
                break
            if round_:
                nonces.update(self._nonces({self.items[i].request.borrower for i in pending}))
            sent = self._send_round(pending, nonces)
            submitted += len(sent)
            done += len(pending) - len(sent)
            if progress:
                progress(done, total)
            retry: list[int] = []
            for i, receipt in self._collect(sent, progress, done, total):
                done += 1
                o = out[i]
                o.tx_hash, o.gas_used = receipt.tx_hash, receipt.gas_used
                if receipt.status == 1:
                    o.status, o.error, o.reason = RECORDED, "", ""
                    for entry in receipt.logs:
                        topics = entry.get("topics") or []
                        if topics and topics[0] == LOAN_RECORDED_TOPIC:
                            o.loan_id = int(topics[1], 16)
                    continue
                error = reverted(self.w3, receipt)
                decoded = self.client.decoder.decode(error.revert_data) if error.revert_data else None
                self._refuse(o, decoded.name if decoded else "Reverted", decoded.message if decoded else str(error),
                             FAILED)
                if decoded is not None and decoded.name == "InvalidBorrowerSignature" and self.items[i].co_signed \
                        and round_ < self.retries:
                    retry.append(i)
            if retry:
                log.info("%d co-signed loans landed out of consent-nonce order: re-signing them", len(retry))
                done -= len(retry)
                for i in retry:
                    out[i].status = READY
            pending = sorted(retry)
        report = BatchReport(self.outcomes, time.perf_counter() - started, submitted)
        log.info("recorded %d loans in %.2fs (%.0f/s)", len(report.with_status(RECORDED)), report.seconds, report.rate)
        return report

    def _nonces(self, borrowers: set[int]) -> dict[int, int]:
        ordered = sorted(borrowers)
        results = self._eth_calls([(self.ledger, _SEL_POSITION + abi_encode(["uint32"], [b])) for b in ordered],
                                  "latest")
        return {b: int(abi_decode(["(uint128,uint32,uint32)"], r.data)[0][2]) for b, r in
                zip(ordered, results, strict=True) if r.ok}

    def _send_round(self, indices: Sequence[int], nonces: dict[int, int]) -> dict[int, str]:
        """Sign and submit `indices`; returns item -> tx hash for what was submitted."""
        items = self.items
        waves: list[list[int]] = []
        consent_seen: dict[int, int] = {}
        calldata: dict[int, bytes] = {}
        probes: dict[int, bytes] = {}
        deadline = int(self.service.chain_time()) + self.deadline_seconds
        chain_id, separator = self.client.deployment.chain_id, self.service.separator
        for i in indices:
            item, wave = items[i], 0
            if item.co_signed:
                assert item.borrower_account is not None
                b = item.request.borrower
                wave = consent_seen.get(b, 0)
                consent_seen[b] = wave + 1

                def signed(nonce: int, item: LoanItem = item) -> bytes:
                    assert item.borrower_account is not None
                    signature = sign_consent(item.borrower_account, item.request, item.draw, nonce, deadline,
                                             chain_id=chain_id, ledger=self.ledger, separator=separator)
                    return record_with_consent_calldata(item.request, item.terms, item.draw, deadline, signature)

                calldata[i] = signed(nonces[b] + wave)
                if wave and self.gas_mode == "estimate":
                    probes[i] = signed(nonces[b])  # same shape, valid against the current state
            else:
                calldata[i] = record_calldata(item.request, item.terms)
            while len(waves) <= wave:
                waves.append([])
            waves[wave].append(i)
        if self.pool is None:
            self.pool = SenderPool(self.w3, self.batch_size)
        self.pool.prepare(items[i].recorder for i in indices)
        gas = self._gas(indices, calldata, probes)
        # Waves in order, cut into chunks of at most `max_in_flight` transactions; a chunk's receipts
        # are collected before the next chunk is sent (anvil in automine mode slows down badly with
        # thousands of pending transactions).
        ordered = [(k, i) for k, wave_items in enumerate(waves) for i in wave_items if i in gas]
        tx_of: dict[int, str] = {}
        in_flight = self.max_in_flight or self._default_in_flight()
        for start in range(0, len(ordered), in_flight):
            chunk = ordered[start:start + in_flight]
            chunk_tx: dict[int, str] = {}
            for k in sorted({k for k, _ in chunk}):
                jobs: dict[str, list[int]] = {}
                for kk, i in chunk:
                    if kk == k:
                        jobs.setdefault(items[i].recorder.address, []).append(i)
                senders = [(self._sender(items[idx[0]].recorder), idx) for idx in jobs.values()]
                for sender, _ in senders:
                    sender.tip = self.tip + (len(waves) - 1 - k) * self.tip_step
                hashes = send_interleaved(
                    [(s, [Call(self.ledger, calldata[i], 0, gas[i]) for i in idx]) for s, idx in senders],
                    batch_size=self.batch_size)
                for (_, idx), hs in zip(senders, hashes, strict=True):
                    chunk_tx.update(zip(idx, hs, strict=True))
            tx_of.update(chunk_tx)
            if start + in_flight < len(ordered):
                self._collect(chunk_tx, None, 0, 0)  # receipts are read again (cheaply) by the caller
        return tx_of

    def _default_in_flight(self) -> int:
        try:
            automine = rpc(self.w3, "anvil_getAutomine")
        except XborderError:
            automine = True  # not anvil (Ganache mines each transaction as it arrives)
        return 1000 if automine is not False else 1_000_000

    def _collect(self, tx_of: dict[int, str], progress: Progress | None, done: int,
                 total: int) -> list[tuple[int, Receipt]]:
        """Receipts of every submitted item, polled in batches (reporting progress as they come)."""
        waiting = dict(tx_of)
        found: list[tuple[int, Receipt]] = []
        deadline = time.monotonic() + self.receipt_timeout
        while waiting:
            keys = list(waiting)
            responses = rpc_batch(self.w3, [("eth_getTransactionReceipt", [waiting[i]]) for i in keys],
                                  max(self.batch_size, 1000))
            for i, response in zip(keys, responses, strict=True):
                result = response.get("result")
                if result and result.get("blockNumber"):
                    found.append((i, Receipt.from_json(result)))
                    del waiting[i]
            if progress:
                progress(done + len(found), total)
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise ChainError(f"{len(waiting)} of {len(tx_of)} loan transactions were not mined within "
                                 f"{self.receipt_timeout:.0f}s (first: {next(iter(waiting.values()))}): is the node "
                                 "mining?")
            time.sleep(0.02)
        return found

    def _gas(self, indices: Sequence[int], calldata: dict[int, bytes], probes: dict[int, bytes]) -> dict[int, int]:
        """Gas limit per item. "estimate": every item (later-wave co-signed items through a probe
        signed for the current nonce: same shape); an item whose estimate reverts is FAILED (the
        state moved since the dry run). "sample": one estimate per kind of call, the largest
        calldata of each, plus a margin. "fixed": `fixed_gas` for all."""
        if self.gas_mode == "fixed":
            return {i: self.fixed_gas for i in indices}
        if self.gas_mode == "sample":
            samples: dict[tuple[bool, bool], int] = {}
            for i in indices:
                key = (self.items[i].co_signed, self.items[i].draw > 0)
                if key not in samples or len(calldata[i]) > len(calldata[samples[key]]):
                    samples[key] = i
            estimates = self._estimate(list(samples.values()), {i: calldata[i] for i in samples.values()})
            per_kind = {k: estimates.get(i) for k, i in samples.items()}
            gas = {}
            for i in indices:
                est = per_kind[(self.items[i].co_signed, self.items[i].draw > 0)]
                if est is not None:
                    gas[i] = est * self.gas_margin_percent // 100 + _FIRST_LOAN_GAS
                else:  # the sample itself was refused: estimate this one alone
                    gas.update(self._estimate([i], calldata))
            return gas
        return self._estimate(list(indices), {i: probes.get(i, calldata[i]) for i in indices})

    def _estimate(self, indices: Sequence[int], calldata: dict[int, bytes]) -> dict[int, int]:
        responses = rpc_batch(self.w3, [("eth_estimateGas", [{
            "from": self.items[i].recorder.address, "to": self.ledger, "data": "0x" + calldata[i].hex()}])
            for i in indices], self.batch_size)
        gas: dict[int, int] = {}
        for i, response in zip(indices, responses, strict=True):
            if "error" in response:
                error = response["error"]
                name, message = self._decode_failure(_CallResult(
                    False, revert_data(error) or b"",
                    error.get("message", str(error)) if isinstance(error, dict) else str(error)))
                self._refuse(self.outcomes[i], name, message, FAILED)
            else:
                gas[i] = int(response["result"], 16) * self.gas_margin_percent // 100
        return gas



# ------------------------------------------------------------------------------------- CSV front end

REQUIRED_COLUMNS = ("borrower", "creditor", "currency", "principal", "value_date", "maturity_date",
                    "financing_type", "document", "recorder_wallet")
OPTIONAL_COLUMNS = ("draw", "borrower_wallet", "interest_rate", "fees", "purpose", "external_ref", "document_name",
                    "document_uri", "notes")
TERMS_COLUMNS = ("interest_rate", "fees", "purpose", "external_ref", "document_name", "document_uri", "notes")
MAX_ROWS = 200_000

WalletResolver = Callable[[str], LocalAccount]


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    value: str
    allowed: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "value": self.value, "allowed": self.allowed,
                "message": self.message}


@dataclass
class ImportPlan:
    path: Path | None
    rows: int
    items: list[LoanItem]
    problems: list[RowProblem]

    def invalid_outcomes(self) -> list[Outcome]:
        by_row: dict[int, list[RowProblem]] = {}
        for p in self.problems:
            by_row.setdefault(p.row, []).append(p)
        return [Outcome(-1, f"row {row}", INVALID, "; ".join(p.message for p in ps), "ValidationError", row=row,
                        field=", ".join(p.field for p in ps), value=ps[0].value, allowed=ps[0].allowed)
                for row, ps in sorted(by_row.items())]


def read_loan_csv(source: Path | bytes) -> list[tuple[int, dict[str, str]]]:
    """Rows as (spreadsheet row number, {column: text}); the header is row 1. File-level problems
    (encoding, missing or unknown columns, no rows) raise ValidationError: nothing is imported."""
    name = str(source) if isinstance(source, Path) else "the CSV"
    raw = source.read_bytes() if isinstance(source, Path) else source
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ValidationError(
            f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, row {line}): save the file "
            "as CSV UTF-8", field="encoding", value=f"0x{raw[exc.start]:02x}", allowed="UTF-8 text",
            row=line) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError(f"{name}: the file is empty (a header row with {', '.join(REQUIRED_COLUMNS)} is needed)",
                              field="header", value="", allowed=", ".join(REQUIRED_COLUMNS)) from None
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    if missing or unknown or duplicated:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if duplicated:
            parts.append(f"repeated column(s) {', '.join(duplicated)}")
        allowed = f"required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}"
        raise ValidationError(f"{name}: {'; '.join(parts)} ({allowed})", field="header",
                              value=",".join(columns), allowed=allowed, row=1)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for record in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(columns):
                extra = record[len(columns):]
                if any(cell.strip() for cell in extra):
                    rows.append((number, {"__error__": f"{len(record)} cells but the header has {len(columns)}"}))
                    continue
            rows.append((number, {c: (record[k].strip() if k < len(record) else "") for k, c in enumerate(columns)}))
            if len(rows) > MAX_ROWS:
                raise ValidationError(f"{name}: more than {MAX_ROWS} rows: split the file", field="rows",
                                      value=len(rows), allowed=f"at most {MAX_ROWS} rows")
    except csv.Error as exc:
        raise ValidationError(f"{name}: row {reader.line_num}: not valid CSV ({exc})", field="csv",
                              value=reader.line_num, allowed="comma-separated values", row=reader.line_num) from None
    if not rows:
        raise ValidationError(f"{name}: no data rows under the header", field="rows", value=0,
                              allowed="at least one row")
    return rows


def prepare_import(client: XborderClient, source: Path | bytes, wallets: WalletResolver,
                   sealer: TermsSealer | None = None) -> ImportPlan:
    """Validate every row (reporting every problem: row, field, value, what is allowed) and turn the
    valid ones into LoanItems. Institutions are looked up by id or identifier, financing types by id
    or name, wallets through `wallets` (each name resolved once). With `sealer` every row's terms
    are sealed for its parties and the regulator (a party without a key makes the row invalid)."""
    rows = read_loan_csv(source)
    service = LoanService(client)
    type_names = service.financing_types()
    institutions: dict[str, int | ValidationError] = {}
    accounts: dict[str, LocalAccount | XborderError] = {}
    problems: list[RowProblem] = []
    items: list[LoanItem] = []

    def institution(ref: str, column: str) -> int:
        key = ref.strip().upper()
        if key not in institutions:
            try:
                institutions[key] = service.resolve_institution(ref, column)
            except ValidationError as exc:
                institutions[key] = exc
        found = institutions[key]
        if isinstance(found, ValidationError):
            raise found
        return found

    def wallet(name: str, column: str) -> LocalAccount:
        if name not in accounts:
            try:
                accounts[name] = wallets(name)
            except XborderError as exc:
                accounts[name] = exc
        found = accounts[name]
        if isinstance(found, XborderError):
            raise ValidationError(f"{column}: {found}", field=column, value=name,
                                  allowed="a wallet name from `xborder wallet list`, demo-N or dev-N")
        return found

    for number, cells in rows:
        row_problems: list[RowProblem] = []
        if "__error__" in cells:
            problems.append(RowProblem(number, "row", "", "one cell per header column", f"row {number}: "
                                       + cells["__error__"]))
            continue

        def attempt(column: str, parse: Callable[[str], Any], cells: dict[str, str] = cells,
                    row_problems: list[RowProblem] = row_problems, number: int = number) -> Any:
            value = cells.get(column, "")
            try:
                if column in REQUIRED_COLUMNS and not value:
                    raise ValidationError(f"{column}: empty (required)", field=column, value=value,
                                          allowed=_ALLOWED.get(column, "a value"))
                return parse(value)
            except ValidationError as exc:
                message = str(exc)
                shown = value if exc.value is None or exc.field == column else str(exc.value)
                row_problems.append(RowProblem(number, exc.field or column, shown, exc.allowed or "",
                                               f"row {number}, {message}"))
                return None

        borrower = attempt("borrower", lambda v: institution(v, "borrower"))
        creditor = attempt("creditor", lambda v: institution(v, "creditor"))
        currency = attempt("currency", parse_currency)
        principal = attempt("principal", lambda v: parse_amount(v, "principal"))
        value_date = attempt("value_date", lambda v: parse_date(v, "value_date"))
        maturity = attempt("maturity_date", lambda v: parse_date(v, "maturity_date"))
        ftype = attempt("financing_type", lambda v: service.resolve_financing_type(v, type_names))
        doc = attempt("document", lambda v: document_hash(v, "document"))
        draw = attempt("draw", lambda v: parse_amount(v, "draw", allow_zero=True) if v else 0)
        recorder = attempt("recorder_wallet", lambda v: wallet(v, "recorder_wallet"))
        borrower_account = attempt("borrower_wallet", lambda v: wallet(v, "borrower_wallet") if v else None)
        terms_fields = {c: cells.get(c, "") for c in TERMS_COLUMNS}

        def make_terms(_: str, f: dict[str, str] = terms_fields) -> terms_codec.LoanTerms:
            return terms_codec.LoanTerms(**f)

        terms = attempt("interest_rate", make_terms)
        if value_date is not None and maturity is not None and maturity <= value_date:
            row_problems.append(RowProblem(
                number, "maturity_date", cells["maturity_date"], f"a date after the value date {cells['value_date']}",
                f"row {number}, maturity_date: {cells['maturity_date']} is not after value_date {cells['value_date']}"))
        if draw and principal is not None and draw > principal:
            row_problems.append(RowProblem(number, "draw", cells["draw"], f"0 to the principal {cells['principal']}",
                                           f"row {number}, draw: {cells['draw']} is more than the principal "
                                           f"{cells['principal']}"))
        if draw and not cells.get("borrower_wallet"):
            row_problems.append(RowProblem(number, "draw", cells["draw"], "0 unless borrower_wallet co-signs",
                                           f"row {number}, draw: drawing at once needs the borrower's consent: "
                                           "fill borrower_wallet"))
        if row_problems:
            problems.extend(row_problems)
            continue
        try:
            items.append(LoanItem.build(
                borrower=borrower, creditor=creditor, currency=currency, principal=principal, value_date=value_date,
                maturity_date=maturity, financing_type=ftype, document=doc, terms=terms, recorder=recorder,
                borrower_account=borrower_account, draw=draw, ref=f"row {number}", row=number, sealer=sealer))
        except ValidationError as exc:  # a party without an encryption key
            problems.append(RowProblem(number, exc.field or "terms", str(exc.value or ""), exc.allowed or "",
                                       f"row {number}, {exc}"))
    return ImportPlan(source if isinstance(source, Path) else None, len(rows), items, problems)


_ALLOWED = {
    "borrower": "a registered institution id or identifier (LEI / USCC)",
    "creditor": "a registered institution id or identifier (LEI / USCC)",
    "currency": "three letters, e.g. USD",
    "principal": "a positive amount with at most 2 decimals",
    "value_date": "a UTC date YYYY-MM-DD",
    "maturity_date": "a UTC date YYYY-MM-DD after the value date",
    "financing_type": "an id 1..255 or a financing-type name",
    "document": "a document id or file name, or a 0x 32-byte hash",
    "recorder_wallet": "a wallet name from `xborder wallet list`, demo-N or dev-N",
}


def merged_report(plan: ImportPlan, report: BatchReport) -> BatchReport:
    """The batch outcomes plus the rows that never became items (invalid)."""
    return BatchReport(plan.invalid_outcomes() + report.outcomes, report.seconds, report.submitted)


def describe_outcome(o: Outcome) -> str:
    where = f"row {o.row}" if o.row else o.ref
    if o.status == RECORDED:
        return f"{where}: recorded loan {loan_label(o.loan_id or 0)} (tx {o.tx_hash}, gas {o.gas_used:,})"
    if o.status == ALREADY:
        return f"{where}: {o.reason}"
    if o.status == READY:
        return f"{where}: would be recorded"
    if o.status == INVALID:
        return o.reason if o.reason.startswith("row ") else f"{where}: {o.reason}"
    return f"{where}: {o.status}: {o.reason}"


__all__ = ["ALREADY", "FAILED", "INVALID", "READY", "RECORDED", "REFUSED", "BatchReport", "ImportPlan", "LoanBatch",
           "LoanItem", "Outcome", "RowProblem", "WalletResolver", "describe_outcome", "format_date",
           "merged_report", "prepare_import", "read_loan_csv"]
