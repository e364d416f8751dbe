"""The one batch engine: plan -> dry run -> submit -> settle, into one typed outcome per item.

Everything that writes goes through it: a single CLI command (a batch of one), a CSV import,
onboarding, funding, deployment, the demo and the benchmark. A planner (the services) turns its
domain knowledge into `Tx`s; the engine

1. **dry runs** every READY tx with `eth_call` (or `eth_estimateGas` when the tx names no gas
   limit) from its own wallet on one block, in JSON-RPC batches: a refusal is decoded into the
   contract's error name and a sentence and the tx is never sent (status REFUSED);
2. **submits** the rest through the sender (`xborder.chain.sender.send_all`: local signing, batched
   sends, pipelined windows, lower `priority` first);
3. **settles** every receipt into its outcome: DONE, or FAILED with the decoded reason (replayed
   on the state before its block, and after it when that state accepted it: a race inside one
   block).

Outcome fields mean the same everywhere: `error` is the name (a contract error such as
`BorrowingLimitExceeded`, or `ValidationError`, `Reverted`), `reason` the sentence.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.reverts import ErrorDecoder
from xborder.chain.receipts import Receipt, mined_revert
from xborder.chain.rpc import Rpc, StateUnavailable, classify, error_message, node_error, revert_data
from xborder.chain.sender import SenderPool, send_all
from xborder.chain.signer import Call
from xborder.errors import InsufficientFunds, TransactionRejected, XborderError

log = logging.getLogger(__name__)

READY = "ready"          # planned, passed the dry run so far (nothing sent yet)
DONE = "done"            # landed with status 1
INVALID = "invalid"      # the item itself is wrong (field, value, what is allowed)
REFUSED = "refused"      # the dry run says the chain would refuse it: never sent
FAILED = "failed"        # sent, and refused on chain (the state moved since the dry run)
SKIPPED = "skipped"      # nothing to do (already there)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Tx:
    """One planned transaction from `account`."""

    account: LocalAccount
    #: None creates a contract (`data` is the init code).
    to: str | None
    data: bytes
    gas: int | None = None
    value: int = 0
    label: str = ""
    #: Lower priorities are submitted first (see `xborder.chain.sender.send_all`).
    priority: int = 0
    #: False: the dry run does not call it (only its wallet's funds are checked), for a tx whose
    #: outcome nothing else in its batch can change, so that the chain's answer is the dry run's:
    #: a refusal is then decoded from the mined tx (`settle`), with the same error, as FAILED.
    dry_run: bool = True


@dataclass
class Outcome:
    """What became of one item."""

    index: int
    label: str
    status: str = READY
    error: str = ""
    reason: str = ""
    tx_hash: str | None = None
    gas_used: int | None = None
    block_number: int | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    contract_address: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == DONE

    def refuse(self, name: str, message: str, status: str = REFUSED) -> None:
        self.status, self.error, self.reason = status, name, message

    def raise_if_not_done(self, action: str) -> None:
        """A batch of one: its refusal as the exception a single command raises."""
        if self.status == DONE:
            return
        kind = InsufficientFunds if self.error == "InsufficientFunds" else TransactionRejected
        raise kind(f"{action} refused: {self.reason}" if self.error not in ("", "Reverted")
                   else f"{action} was refused: {self.reason}", error_name=self.error or None)


@functools.lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """`Web3.to_checksum_address`, once per address: a batch's txs go to a handful of contracts, and
    the keccak of each call's checksum was a tenth of the demo's CPU at scale."""
    return str(Web3.to_checksum_address(address))


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    result: dict[str, int] = {}
    for outcome in outcomes:
        result[outcome.status] = result.get(outcome.status, 0) + 1
    return result


@dataclass
class Batch:
    """A batch of txs through the engine. `outcomes[i]` belongs to `txs[i]`."""

    w3: Web3
    decoder: ErrorDecoder
    txs: Sequence[Tx]
    #: Share one pool between the batches of a run so each wallet's nonce is asked once.
    pool: SenderPool | None = None
    batch_size: int = 500
    window_blocks: float = 4.0
    receipt_timeout: float = 600.0
    gas_margin_percent: int = 120
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.outcomes:
            self.outcomes = [Outcome(i, tx.label) for i, tx in enumerate(self.txs)]
        self.pool = self.pool or SenderPool(self.w3, self.batch_size)
        self.rpc = Rpc(self.w3, batch_size=self.batch_size)
        self.gas_limits: dict[int, int] = {i: tx.gas for i, tx in enumerate(self.txs) if tx.gas is not None}

    def ready(self) -> list[int]:
        return [i for i, o in enumerate(self.outcomes) if o.status == READY]

    # -- dry run --------------------------------------------------------------------------------
    def dry_run(self, block: str = "latest", indices: Sequence[int] | None = None) -> list[Outcome]:
        """eth_call (eth_estimateGas for txs without a gas limit) every READY tx from its own wallet
        (but those planned with `dry_run=False` and a gas limit); refusals are decoded and never
        sent. Every wallet's funds are checked. Returns the refused outcomes."""
        todo = list(indices) if indices is not None else self.ready()
        probed = [i for i in todo if self.txs[i].dry_run or i not in self.gas_limits]
        calls = []
        for i in probed:
            body = self._call_json(self.txs[i])
            calls.append(("eth_call", [body, block]) if i in self.gas_limits else ("eth_estimateGas", [body, block]))
        refused = []
        for i, (method, _), response in zip(probed, calls, self.rpc.batch(calls), strict=True):
            error = response.get("error")
            if error is None:
                if method == "eth_estimateGas":
                    self.gas_limits[i] = int(response["result"], 16) * self.gas_margin_percent // 100
                continue
            if classify(error) is StateUnavailable:  # a node's answer about the block, not the contract's
                raise node_error(error, f"dry run at block {block}")
            if classify(error) is InsufficientFunds:
                self.outcomes[i].refuse("InsufficientFunds", f"wallet {self.txs[i].account.address} cannot pay for "
                                        f"this transaction: fund it (node said: {error_message(error)})")
            else:
                self.decode_into(self.outcomes[i], revert_data(error), error_message(error), REFUSED)
            refused.append(self.outcomes[i])
        refused += self.check_funds([i for i in todo if self.outcomes[i].status == READY], block)
        return refused

    def check_funds(self, indices: Sequence[int], block: str = "latest") -> list[Outcome]:
        """Can each wallet pay for its txs (gas limit x fee cap + value)? The txs beyond what a wallet
        can pay are REFUSED with InsufficientFunds, naming the wallet, its balance and the count."""
        by_wallet: dict[str, list[int]] = {}
        for i in indices:
            by_wallet.setdefault(self.txs[i].account.address, []).append(i)
        if not by_wallet:
            return []
        assert self.pool is not None
        cap = self.pool.get(self.txs[indices[0]].account).fees().cap
        wallets = list(by_wallet)
        balances = self.rpc.batch([("eth_getBalance", [w, block]) for w in wallets])
        refused = []
        for wallet, answer in zip(wallets, balances, strict=True):
            left = int(answer.get("result") or "0x0", 16)
            group = by_wallet[wallet]
            for n, i in enumerate(group):
                cost = self.gas_limits.get(i, 0) * cap + self.txs[i].value
                if cost <= left:
                    left -= cost
                    continue
                for k in group[n:]:
                    self.outcomes[k].refuse("InsufficientFunds", (
                        f"wallet {wallet} holds {Web3.from_wei(int(answer.get('result') or '0x0', 16), 'ether')} "
                        f"ETH, enough gas for {n} of its {len(group)} transactions: fund it"))
                    refused.append(self.outcomes[k])
                break
        return refused

    @staticmethod
    def _call_json(tx: Tx) -> dict[str, Any]:
        body = {"from": tx.account.address, "data": "0x" + tx.data.hex(), "value": hex(tx.value)}
        if tx.to is not None:
            body["to"] = _checksum(tx.to)
        return body

    def decode_into(self, outcome: Outcome, data: bytes | None, fallback: str, status: str) -> None:
        decoded = self.decoder.decode(data) if data else None
        if decoded is None:
            outcome.refuse("Reverted", f"the contract refused it: {fallback}", status)
        else:
            outcome.refuse(decoded.name, decoded.message, status)

    # -- submit and settle ----------------------------------------------------------------------
    def submit(self, progress: Progress | None = None, indices: Sequence[int] | None = None) -> list[Outcome]:
        """Send every READY tx (or `indices`), then settle each receipt into its outcome.
        Returns the outcomes that FAILED on chain."""
        started = time.perf_counter()
        todo = [i for i in (indices if indices is not None else self.ready()) if self.outcomes[i].status == READY]
        missing = [i for i in todo if i not in self.gas_limits]
        if missing:  # planned without a limit and not dry-run: estimate now
            self.dry_run(indices=missing)
            todo = [i for i in todo if self.outcomes[i].status == READY]
        by_wallet: dict[str, list[int]] = {}
        for i in todo:
            by_wallet.setdefault(self.txs[i].account.address, []).append(i)
        for group in by_wallet.values():
            group.sort(key=lambda i: self.txs[i].priority)
        assert self.pool is not None
        self.pool.prepare(self.txs[g[0]].account for g in by_wallet.values())
        jobs = [(self.pool.get(self.txs[g[0]].account), [self._call(i) for i in g]) for g in by_wallet.values()]
        if progress:
            progress(0, len(todo))
        receipts = send_all(jobs, window_blocks=self.window_blocks, batch_size=self.batch_size,
                            timeout=self.receipt_timeout, progress=progress, window_txs=self.pool.window_txs,
                            after_window=self.pool.after_window)
        failed = []
        for group, group_receipts in zip(by_wallet.values(), receipts, strict=True):
            for i, receipt in zip(group, group_receipts, strict=True):
                if not self.settle(i, receipt):
                    failed.append(self.outcomes[i])
        self.seconds += time.perf_counter() - started
        log.info("%d transactions in %.2fs (%d failed)", len(todo), time.perf_counter() - started, len(failed))
        return failed

    def _call(self, i: int) -> Call:
        tx = self.txs[i]
        to = _checksum(tx.to) if tx.to is not None else None
        return Call(to, tx.data, tx.value, self.gas_limits[i], tx.priority)

    def settle(self, i: int, receipt: Receipt) -> bool:
        outcome, tx = self.outcomes[i], self.txs[i]
        outcome.tx_hash, outcome.gas_used = receipt.tx_hash, receipt.gas_used
        outcome.block_number, outcome.logs = receipt.block_number, list(receipt.logs)
        outcome.contract_address = receipt.contract_address
        if receipt.status == 1:
            outcome.status, outcome.error, outcome.reason = DONE, "", ""
            return True
        data = mined_revert(self.w3, self._call_json(tx), receipt)
        self.decode_into(outcome, data, f"reverted in block {receipt.block_number}", FAILED)
        return False

    def run(self, progress: Progress | None = None, *, dry_run: bool = True) -> list[Outcome]:
        """dry run (unless told not to) + submit; every outcome."""
        if dry_run:
            self.dry_run()
        self.submit(progress)
        return self.outcomes


def one(w3: Web3, decoder: ErrorDecoder, tx: Tx, action: str, *, timeout: float = 120.0) -> Outcome:
    """A batch of one, as a single command sends it: a refusal raises TransactionRejected with the
    decoded reason before anything is sent; a failure on chain raises it too."""
    batch = Batch(w3, decoder, [tx], receipt_timeout=timeout)
    batch.dry_run()
    outcome = batch.outcomes[0]
    if outcome.status == READY:
        try:
            batch.submit()
        except XborderError as exc:
            if isinstance(exc, TransactionRejected) and exc.revert_data:
                batch.decode_into(outcome, exc.revert_data, str(exc), FAILED)
            else:
                raise
    outcome.raise_if_not_done(action)
    return outcome
