"""Many contract calls from many wallets at once: dry-run them all, send only what the chain
would accept, collect receipts, and say why anything was refused.

`LoanBatch` (loan_import.py) records loans; `ActionBatch` covers everything else that comes in
bulk: registering a roster, confirmations, drawdowns, repayments, funding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain.sender import Call, SenderPool, TxSender, revert_data, reverted, rpc_batch, send_all

log = logging.getLogger(__name__)

READY, DONE, REFUSED, FAILED = "ready", "done", "refused", "failed"

Progress = Callable[[int, int], None]


@dataclass
class Action:
    account: LocalAccount
    to: str
    data: bytes
    gas: int
    label: str = ""
    value: int = 0
    status: str = READY
    reason: str = ""
    error: str = ""
    tx_hash: str | None = None
    gas_used: int | None = None
    logs: list[dict[str, object]] = field(default_factory=list)


@dataclass
class ActionBatch:
    client: XborderClient
    actions: list[Action]
    batch_size: int = 500
    window_blocks: float = 4.0
    #: Share one pool between the batches of a run so each wallet's nonce is asked once.
    pool: SenderPool | None = None

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = SenderPool(self.client.w3, self.batch_size)

    def _sender(self, account: LocalAccount) -> TxSender:
        assert self.pool is not None
        return self.pool.get(account)

    def preflight(self) -> list[Action]:
        """eth_call every action from its own wallet on the latest state; refusals are decoded.
        Returns the refused actions."""
        calls = [("eth_call", [{"from": a.account.address, "to": a.to, "data": "0x" + a.data.hex(),
                                "value": hex(a.value)}, "latest"]) for a in self.actions if a.status == READY]
        ready = [a for a in self.actions if a.status == READY]
        for action, response in zip(ready, rpc_batch(self.client.w3, calls, self.batch_size), strict=True):
            error = response.get("error")
            if error is None:
                continue
            data = revert_data(error)
            decoded = self.client.decoder.decode(data) if data else None
            action.status = REFUSED
            action.reason = decoded.name if decoded else "Reverted"
            action.error = decoded.message if decoded else str(error.get("message", error))
        return [a for a in self.actions if a.status == REFUSED]

    def submit(self, progress: Progress | None = None) -> list[Action]:
        """Send every READY action (wallets interleaved, in windows), then record the outcome.
        Returns the actions that failed on-chain (state moved between dry run and mining)."""
        ready = [a for a in self.actions if a.status == READY]
        by_wallet: dict[str, list[Action]] = {}
        for action in ready:
            by_wallet.setdefault(action.account.address, []).append(action)
        assert self.pool is not None
        self.pool.prepare(group[0].account for group in by_wallet.values())
        jobs = [(self._sender(group[0].account),
                 [Call(to=Web3.to_checksum_address(a.to), data=a.data, value=a.value, gas=a.gas) for a in group])
                for group in by_wallet.values()]
        started = time.perf_counter()
        if progress:
            progress(0, len(ready))
        receipts = send_all(jobs, window_blocks=self.window_blocks, batch_size=self.batch_size)
        done = 0
        for group, group_receipts in zip(by_wallet.values(), receipts, strict=True):
            for action, receipt in zip(group, group_receipts, strict=True):
                action.tx_hash, action.gas_used = receipt.tx_hash, receipt.gas_used
                action.logs = list(receipt.logs)
                if receipt.status == 1:
                    action.status = DONE
                else:
                    error = reverted(self.client.w3, receipt)
                    data = error.revert_data or self._replay_after(action, receipt.block_number)
                    decoded = self.client.decoder.decode(data) if data else None
                    action.status = FAILED
                    action.reason = decoded.name if decoded else "Reverted"
                    action.error = decoded.message if decoded else str(error)
                done += 1
            if progress:
                progress(done, len(ready))
        log.info("%d actions in %.2fs", len(ready), time.perf_counter() - started)
        return [a for a in self.actions if a.status == FAILED]

    def _replay_after(self, action: Action, block: int) -> bytes | None:
        """Revert data from replaying on the state after the action's block: when the state
        before the block accepts the call, what refused it was another transaction of the same
        block (two drawdowns of one borrower racing for its headroom)."""
        call = {"from": action.account.address, "to": action.to, "data": "0x" + action.data.hex(),
                "value": hex(action.value)}
        response = rpc_batch(self.client.w3, [("eth_call", [call, hex(block)])])[0]
        return revert_data(response.get("error"))

    def run(self, progress: Progress | None = None) -> list[Action]:
        self.preflight()
        self.submit(progress)
        return self.actions


def counts(actions: Sequence[Action]) -> dict[str, int]:
    result: dict[str, int] = {}
    for action in actions:
        result[action.status] = result.get(action.status, 0) + 1
    return result
