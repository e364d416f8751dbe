"""Receipts: the one poller (`wait_receipts`, batched `eth_getTransactionReceipt`) and the replay
that recovers a mined failure's revert data."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3

from xborder.chain.rpc import Rpc, StateUnavailable
from xborder.errors import ChainError, TransactionRejected

log = logging.getLogger(__name__)

#: `wait_receipts` asks the receipts again after this long even when no new block was seen.
REASK_SECONDS = 1.0
#: Called with (receipts found so far, hashes asked) while polling.
ReceiptProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Receipt:
    """A mined transaction's receipt (hex fields decoded; `raw` is the node's JSON object)."""

    tx_hash: str
    status: int
    block_number: int
    gas_used: int
    sender: str | None
    to: str | None
    contract_address: str | None
    logs: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            tx_hash=str(data["transactionHash"]), status=int(data.get("status") or "0x0", 16),
            block_number=int(data["blockNumber"], 16), gas_used=int(data["gasUsed"], 16),
            sender=data.get("from"), to=data.get("to"), contract_address=data.get("contractAddress"),
            logs=list(data.get("logs") or []), raw=dict(data),
        )

    def topics(self, topic0: str) -> list[list[str]]:
        """The topic lists of this receipt's logs whose first topic is `topic0`."""
        return [list(e["topics"]) for e in self.logs if e.get("topics") and e["topics"][0] == topic0]


def wait_receipts(w3: Web3, hashes: Sequence[str], *, timeout: float = 120.0, poll: float = 0.05,
                  batch_size: int = 1000, nudge_after: float | None = None,
                  progress: ReceiptProgress | None = None, sent_after: int | None = None) -> list[Receipt]:
    """Receipts of `hashes` (in order), polled in batches until all are mined or `timeout`.

    `nudge_after` (development nodes only): when no new receipt arrived for that many seconds,
    call `evm_mine`. anvil's automine can stall with thousands of transactions in its pool
    (they stay pending until the next transaction arrives); one `evm_mine` restarts it.

    Between blocks a poll asks only `eth_blockNumber`: the receipts are asked again once a block
    newer than the last receipt poll's exists, or `REASK_SECONDS` after it (every poll asked every
    waiting receipt: at 0.2 s blocks three polls in four found nothing new, each with thousands of
    lookups for the node). `sent_after`: the head when the transactions were sent (none of them
    is in it): the first receipt poll waits for a newer block too (on a node that mines when asked,
    a poll right after sending asked for every receipt in vain: one lookup in two)."""
    rpc = Rpc(w3)
    found: dict[str, Receipt] = {}
    waiting = list(dict.fromkeys(hashes))
    total = len(waiting)
    deadline = time.monotonic() + timeout
    progress_at = time.monotonic()
    # block number and time of the last receipt poll
    asked: tuple[int, float] | None = None if sent_after is None else (sent_after, time.monotonic())
    while waiting:
        before = len(waiting)
        head = rpc.block_number()
        if asked is None or head > asked[0] or time.monotonic() - asked[1] > REASK_SECONDS:
            asked = (head, time.monotonic())
            responses = rpc.batch([("eth_getTransactionReceipt", [h]) for h in waiting], batch_size)
            still: list[str] = []
            for tx_hash, response in zip(waiting, responses, strict=True):
                result = response.get("result")
                if result and result.get("blockNumber"):
                    found[tx_hash] = Receipt.from_json(result)
                else:
                    still.append(tx_hash)
            waiting = still
            if progress is not None:
                progress(total - len(waiting), total)
        if not waiting:
            break
        now = time.monotonic()
        if len(waiting) < before:
            progress_at = now
        elif nudge_after is not None and now - progress_at > nudge_after:
            log.info("no receipt for %.1fs with %d transactions pending: evm_mine", nudge_after, len(waiting))
            if rpc.try_call("evm_mine") is None:
                nudge_after = None  # not a development node: just keep waiting
            progress_at = now
        if now > deadline:
            raise ChainError(
                f"{len(waiting)} of {total} transactions were not mined within {timeout:.0f}s "
                f"(first: {waiting[0]}): is the node mining? (an anvil started with no_mining needs "
                "evm_mine; a gap in a wallet's nonces also stalls it)")
        time.sleep(poll)
    return [found[h] for h in hashes]


def replay(w3: Web3, call: Mapping[str, Any], block: int) -> bytes | None:
    """Revert data of `call` (`from`, `to`, `data`, `value`) run on the state at `block`; None if it passes."""
    try:
        Rpc(w3).call("eth_call", [dict(call), hex(max(block, 0))])
    except TransactionRejected as exc:
        return exc.revert_data or b""
    return None


def recorded_revert(w3: Web3, tx_hash: str) -> bytes | None:
    """The revert data anvil recorded when it mined the failed `tx_hash` (`ots_getTransactionError`:
    no past state needed, for a node that keeps few); None if the node cannot say."""
    try:
        answer = Rpc(w3).call("ots_getTransactionError", [tx_hash])
    except ChainError:
        return None
    return bytes.fromhex(str(answer)[2:]) if isinstance(answer, str) and answer.startswith("0x") else None


def mined_revert(w3: Web3, call: Mapping[str, Any], receipt: Receipt) -> bytes | None:
    """Revert data of the mined, failed transaction `receipt` whose call was `call` (`from`, `to`,
    `data`, `value`): replayed on the state before its block, then on its block's state (when an
    earlier transaction of the same block took the room); on a node that no longer keeps that state,
    what it recorded as it mined it. None if the replay passes both times; raises StateUnavailable
    if the state is gone and the node recorded nothing."""
    try:
        data = replay(w3, call, receipt.block_number - 1)
        return data if data is not None else replay(w3, call, receipt.block_number)
    except StateUnavailable:
        data = recorded_revert(w3, receipt.tx_hash)
        if data is None:
            raise
        return data


def reverted(w3: Web3, receipt: Receipt, who: str = "") -> TransactionRejected:
    """A TransactionRejected for a mined, failed transaction, with its revert data (`mined_revert`)."""
    data: bytes | None = None
    try:
        tx = Rpc(w3).call("eth_getTransactionByHash", [receipt.tx_hash]) or {}
        call = {k: tx[k] for k in ("from", "to", "value", "input", "gas") if tx.get(k) is not None}
        if "input" in call:
            call["data"] = call.pop("input")
        data = mined_revert(w3, call, receipt)
    except ChainError:
        pass
    return TransactionRejected(
        f"transaction {receipt.tx_hash}{' from ' + who if who else ''} reverted in block "
        f"{receipt.block_number}", revert_data=data, tx_hash=receipt.tx_hash)


def check_receipts(w3: Web3, receipts: Sequence[Receipt]) -> None:
    """Raise TransactionRejected for the first receipt with status 0."""
    for receipt in receipts:
        if receipt.status != 1:
            raise reverted(w3, receipt, to_checksum_address(receipt.sender) if receipt.sender else "")
