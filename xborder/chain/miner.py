"""Mining a development anvil's pool on demand, for a bulk load (the scale demo).

anvil does work proportional to the whole state for every block it mines, empty or not (on the
scale demo's chain at 1/20 of its size, halfway: ~36 ms a block, 18 % of a core for empty 0.2 s
blocks alone), so a chain that grows mined at a fixed 0.2 s interval spends ever more per
transaction (4.3 / 5.4 / 8.2 ms of anvil CPU at 1/50, 1/20, 1/10). And a block time of 2 s or
less makes anvil keep 1,500 past states (`--prune-history N` is then ignored): 6.7 GB at 1/10.

`PoolMiner` instead watches an anvil started with `--no-mining` and mines (`evm_mine`) only when
transactions wait: as soon as the pool has stopped growing for `settle` seconds (the sender has
sent what it had and waits for receipts), when `full` transactions wait, or when the oldest has
waited `max_wait` seconds, or at once when a sender says it has sent a window (`mine_now`: no
settling wait between a window's last transaction and its block). No empty blocks; few, full
ones while a sender streams.

`ON_DEMAND` is how such an anvil is started (`start_anvil(**ON_DEMAND)`, `embedded.start(...,
**ON_DEMAND)`): no interval mining and few past states, in memory only, which anvil honours only
when it does not mine on an interval of 2 s or less (then it keeps ~1,500 full past states, 16.6 GB
on the bench chain). A transaction that fails in such a block is explained by
`receipts.mined_revert` (the state before it may be pruned already).
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TypedDict

from xborder.chain import scratch
from xborder.chain.launcher import rpc_call
from xborder.errors import ChainError

if TYPE_CHECKING:
    from xborder.chain.sender import SenderPool

log = logging.getLogger(__name__)

#: Seconds between two looks at the pool.
POLL = 0.05
#: Mine once the pool has not grown for this long.
SETTLE = 0.15
#: ... or once this many transactions wait (more than a 1e9-gas block holds of the demo's records).
FULL = 3000
#: ... or once the oldest waiting transaction has waited this long.
MAX_WAIT = 1.0
#: Transactions per sending window, and so per block, of a sender the miner feeds (`PoolMiner.feed`).
#: anvil 1.7.1 builds a receipt by walking the receipt's whole block (`eth_getTransactionReceipt` and
#: `eth_getBlockReceipts` alike: 0.04 / 0.19 / 0.70 / 3.2 s for all the receipts of a block of 500 /
#: 1,000 / 2,000 / 4,000 transfers), so a block's receipts cost the square of its size, while each
#: block costs one state-root computation (~0.1-0.2 s on the scale demo's chain at 1/4 of its size,
#: empty or not). There the 10,206 agent appointments took 8.1 / 11.2 / 19.6-24.0 s of anvil CPU in
#: windows of 500 / 1,000 / 2,500 (22 / 13 / 5 blocks); the bench's lifecycle went from ~1,150 tx/s in
#: blocks of ~1,000 to 1,950-2,090 tx/s in windows of 500 or 250.
WINDOW_TXS = 500


class OnDemand(TypedDict):
    no_mining: bool
    memory_states: int


#: The launch options of an anvil a `PoolMiner` mines (see the module).
ON_DEMAND: OnDemand = {"no_mining": True, "memory_states": scratch.BULK_LOAD_STATES}


def pending(rpc_url: str, timeout: float = 30.0) -> int:
    """Transactions in the node's pool (pending, not yet mined)."""
    status = rpc_call(rpc_url, "txpool_status", timeout=timeout)
    assert isinstance(status, dict)
    return int(str(status.get("pending") or "0x0"), 16)


class PoolMiner:
    """A thread that mines the pool of the anvil at `rpc_url` on demand (see the module)."""

    def __init__(self, rpc_url: str, *, poll: float = POLL, settle: float = SETTLE, full: int = FULL,
                 max_wait: float = MAX_WAIT) -> None:
        self.rpc_url, self.poll, self.settle, self.full, self.max_wait = rpc_url, poll, settle, full, max_wait
        self.blocks = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pool-miner", daemon=True)

    def start(self) -> PoolMiner:
        self._thread.start()
        return self

    def feed(self, pool: SenderPool, window_txs: int | None = WINDOW_TXS) -> None:
        """Have every batch sent through `pool` send windows of at most `window_txs` transactions,
        each mined as soon as it is sent (see `WINDOW_TXS`)."""
        pool.window_txs, pool.after_window = window_txs, self.mine_now

    def mine_now(self) -> None:
        """A sender has sent what it had (`SenderPool.after_window`): mine what waits, now."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def __enter__(self) -> PoolMiner:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        last, changed, since = 0, time.monotonic(), None
        failures = 0
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                waiting = pending(self.rpc_url)
            except (OSError, ValueError, ChainError) as exc:
                failures += 1
                if failures >= 20:  # a node gone for good: the senders will say so
                    self.error = exc
                    log.warning("pool miner stops: %s", exc)
                    return
                continue
            failures = 0
            now = time.monotonic()
            if waiting != last:
                changed, last = now, waiting
            if not waiting:
                since = None
                continue
            since = since or now
            if woken or now - changed >= self.settle or waiting >= self.full or now - since >= self.max_wait:
                try:
                    rpc_call(self.rpc_url, "evm_mine", timeout=120.0)
                except (OSError, ValueError, ChainError) as exc:
                    log.warning("evm_mine failed: %s", exc)
                    continue
                self.blocks += 1
                since, last, changed = None, -1, now
