"""The reorg-safe event indexer: backfill with adaptive eth_getLogs ranges, then follow the head.

At start: the node's chain id, genesis hash and deployment's base block are checked against
`--chain-id` and against what the database recorded at its first run (`identity`); a node that
does not answer fails the command (exit 4) instead of being waited for. One writer per database:
`Database.writer_lock` is held for the whole run.

Ranges are sized by logs, not blocks: the first range of a run is at most FIRST_RANGE_BLOCKS
blocks, and after each batch the next range is sized for about `target_events` logs at the density
just seen (at most twice the blocks of the last one), and no range is ever held with more than
`log_budget` logs (the reply is read as a stream and dropped at the budget: `RpcClient.logs`); an
over-budget range is cut before the block where the budget ran out and read again. The read
ahead (below) shares that budget with the batch being written. So memory is bounded by the budget
whatever the blocks' density; only a single block of more logs than the budget is read whole.

Per batch [start, end] (end <= head - confirmations):

1. the hash of `end` is read, then `eth_getLogs` for all indexed addresses (in up to READ_PARTS
   parts of the range, the next fetched while one is decoded: `reader`), then (in JSON-RPC batches
   of a few dozen) hash, parent hash and time of every block with a log, of `end` again and of the
   checkpoint;
2. if `end` changed, a log's block hash is not the canonical one, or the checkpoint block is no
   longer canonical, the chain reorganised mid-batch (`ChainMoved`): nothing is written and the
   loop starts over;
3. otherwise every log (raw, as the node returned it), its block, the projection of the decoded
   events and the new checkpoint are written in ONE transaction (`IndexStore.write`).

Before every batch the checkpoint's hash is compared with the node's; on a mismatch the stored
blocks are walked down to the newest one still canonical (the common ancestor, or below it), every
table (raw logs included) is rolled back to it and indexing continues from there. So the database
always equals the canonical chain up to the checkpoint, and a kill -9 at any instant loses or
doubles nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from web3 import Web3

from xborder.errors import ConfigurationError
from xborder.index import deferred
from xborder.index.db import Database
from xborder.index.decode import EventDecoder
from xborder.index.identity import (
    IndexerError,
    check_contracts,
    check_node,
    node_identity,
    record_identity,
    stored_identity,
)
from xborder.index.projection import Projection, XborderProjection
from xborder.index.reader import READ_PARTS, ChainMoved, RangeReader
from xborder.index.rpc import RangeTooLarge, RetryPolicy, RpcClient, TooManyLogs, classify
from xborder.index.store import (
    ZERO_HASH,
    IndexedContract,
    IndexStore,
    LogBatch,
    gc_paused,
    release_freed_memory,
)

__all__ = ["IndexStats", "IndexedContract", "Indexer", "IndexerError"]

log = logging.getLogger(__name__)

#: Tries per request of the checks at start (about 4 s before a dead node fails the command).
START_ATTEMPTS = 6
#: The most blocks of the first range of a run, while the chain's density is unknown: a request over
#: the log budget is dropped once the node has built all of its reply (anvil: 10 s for the 414,196
#: logs of the 2022-size chain), so the first range is kept small and the next ones sized from it.
#: It is read in READ_PARTS parts of at most 32 blocks (the whole first range when it was read in one
#: request): a part over the budget wastes that part and at most the one fetched behind it. The bench
#: chain's 31,697 logs in 58 blocks took 3 batches with a first range of 32 blocks (21,687 events/s,
#: median of 8 alternations) where v1's first range of 200 took one (25,291; 0.86x).
FIRST_RANGE_BLOCKS = 32 * READ_PARTS
#: SQLite: WAL pages (4 KiB) between automatic checkpoints while the indexer writes. At SQLite's
#: default of 1,000, a checkpoint ran after nearly every batch and wrote the secondary indexes'
#: pages again and again: the 2022-size chain in 41 batches took 78 s, 61 s with this (one batch: 54 s).
WRITER_WAL_PAGES = 65_536


class _Unwound(Exception):
    """A request retried in a thread while `sync` unwinds: abandoned."""


@dataclass
class _ReadAhead:
    """The read of the range after `checkpoint` up to `end`, running in the reader thread."""

    checkpoint: tuple[int, str]
    end: int
    future: Future[tuple[LogBatch, str]]


def _discard(ahead: _ReadAhead | None) -> None:
    """Wait for a read ahead that will not be used (whatever it raised) before the RPC client is
    used again from this thread."""
    if ahead is not None:
        ahead.future.cancel()
        with contextlib.suppress(Exception):  # nothing of it is used
            ahead.future.result()


@dataclass
class IndexStats:
    """What a run did; `failures` counts RPC failures by kind (all retried). `start_block` is the
    checkpoint the run started from and `target` the block it is indexing to (both -1 until known):
    a progress bar is (checkpoint - start_block) of (target - start_block)."""

    batches: int = 0
    events: int = 0
    logs: int = 0
    blocks: int = 0
    reorgs: int = 0
    rolled_back_blocks: int = 0
    range_shrinks: int = 0
    start_block: int = -1
    checkpoint: int = -1
    target: int = -1
    head: int = -1
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class Indexer:
    """Indexes `contracts`' logs from `w3` into `db` (already migrated)."""

    def __init__(self, db: Database, w3: Web3, contracts: list[IndexedContract], *,
                 confirmations: int = 0, batch_blocks: int = 200, max_batch_blocks: int = 100_000,
                 min_batch_blocks: int = 1, target_events: int = 10_000, log_budget: int | None = None,
                 retry: RetryPolicy | None = None,
                 projection: Projection | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_batch: Callable[[IndexStats], None] | None = None,
                 expected_chain_id: int | None = None) -> None:
        if not contracts:
            raise ConfigurationError("no contracts to index: pass at least one IndexedContract")
        if confirmations < 0:
            raise ConfigurationError("confirmations must be 0 or more")
        self.db = db
        self.rpc = RpcClient(w3, retry or RetryPolicy(), sleep=self._retry_sleep)
        self.contracts = contracts
        self.confirmations = confirmations
        self.batch_blocks = max(min_batch_blocks, batch_blocks)
        self.max_batch_blocks = max(max_batch_blocks, self.batch_blocks)
        self.min_batch_blocks = max(1, min_batch_blocks)
        self.target_events = max(1, target_events)
        #: The most logs held at once: a range read alone, or the batch being written plus the range
        #: read ahead (a single block of more logs is the one exception: it is read whole, alone).
        self.log_budget = max(self.target_events, log_budget if log_budget is not None else 4 * self.target_events)
        self.projection = projection or XborderProjection()
        self.store = IndexStore(db, self.projection)
        self.decoder = EventDecoder([(c.name, c.address, c.abi) for c in contracts])
        self.addresses = sorted({c.address.lower() for c in contracts})
        self.reader = RangeReader(self.rpc, self.addresses, self.decoder, {c.address.lower(): c.name for c in contracts})
        self.base_block = min(c.start_block for c in contracts) - 1
        self.expected_chain_id = expected_chain_id
        self._sleep = sleep
        #: Set while `sync` unwinds: an RPC retry in the fetch or read-ahead thread gives up then.
        self._unwinding = threading.Event()
        self._on_batch = on_batch
        self._ready = False
        self._density_known = False
        self.stats = IndexStats()

    def _retry_sleep(self, seconds: float) -> None:
        """The wait before an RPC retry. Once `sync` unwinds (an error, Ctrl-C, SIGTERM), a request
        still retried in the fetch or read-ahead thread gives up here (`_Unwound`) instead of
        retrying a dead node for ever while the unwinding waits for its thread."""
        if self._sleep is time.sleep:
            unwound = self._unwinding.wait(seconds)
        else:
            self._sleep(seconds)
            unwound = self._unwinding.is_set()
        if unwound:
            raise _Unwound("the indexer is stopping: request abandoned")

    # ------------------------------------------------------------------ identity and checkpoint

    def _initialise(self) -> tuple[int, str]:
        """Check that the node and the database belong to this chain and deployment (once per
        Indexer); create the checkpoint at the first run."""
        if not self._ready:
            rpc = self.rpc.bounded(START_ATTEMPTS)
            node = node_identity(rpc, self.base_block + 1)
            check_node(self.db, node, expected_chain_id=self.expected_chain_id, rpc_url=self.rpc.url)
            check_contracts(self.db, self.contracts)
            if self.store.checkpoint() is None:
                if node.first_hash == ZERO_HASH:
                    raise ConfigurationError(f"start block {self.base_block + 1} is beyond the chain head of "
                                             f"{self.rpc.url}: is it the node of this deployment's chain?")
                base = rpc.header(self.base_block) if self.base_block >= 0 else None
                base_hash = str(base["hash"]).lower() if base is not None else ZERO_HASH
                with self.db.transaction():
                    record_identity(self.db, node, self.contracts)
                    self.db.execute("INSERT INTO checkpoint (id, chain_id, block_number, block_hash) "
                                    "VALUES (1, ?, ?, ?)", (node.chain_id, self.base_block, base_hash))
                    deferred.defer(self.db)  # built once the backfill has caught up (`deferred`)
                log.info("new index of chain %d from block %d", node.chain_id, self.base_block + 1)
            self._ready = True
        checkpoint = self.store.checkpoint()
        assert checkpoint is not None
        return checkpoint

    # ------------------------------------------------------------------ reorgs

    def _canonical(self, number: int, known_hash: str) -> bool:
        if number < 0:
            return True
        header = self.rpc.header(number)
        return header is not None and str(header["hash"]).lower() == known_hash

    def _handle_reorg(self, checkpoint: tuple[int, str]) -> tuple[int, str]:
        """If the checkpoint left the canonical chain, roll back to the newest stored block that
        did not; return the (possibly new) checkpoint."""
        number, block_hash = checkpoint
        if self._canonical(number, block_hash):
            return checkpoint
        ancestor: int | None = None
        below = number
        while ancestor is None:
            rows = self.db.query("SELECT block_number, block_hash FROM blocks WHERE block_number < ? "
                                 "ORDER BY block_number DESC LIMIT 64", (below,))
            if not rows:
                break
            headers = self.rpc.headers([int(r[0]) for r in rows])
            ancestor = next((int(r[0]) for r in rows if (h := headers.get(int(r[0]))) is not None
                             and str(h["hash"]).lower() == r[1]), None)
            below = int(rows[-1][0])
        if ancestor is None:  # nothing stored is canonical: the same chain, rewritten from the base?
            stored = stored_identity(self.db)
            if stored is not None:
                check_node(self.db, node_identity(self.rpc, stored.first_block), rpc_url=self.rpc.url)
            ancestor = self.base_block
        if ancestor >= 0:
            header = self.rpc.header(ancestor)
            if header is None:
                raise ChainMoved()
            ancestor_hash = str(header["hash"]).lower()
        else:
            ancestor_hash = ZERO_HASH
        deferred.build(self.db)  # a rollback reads through the secondary indexes
        self.store.rollback(ancestor, ancestor_hash)
        self.stats.reorgs += 1
        self.stats.rolled_back_blocks += number - ancestor
        log.warning("chain reorganisation: block %d (%s) left the canonical chain; rolled back to "
                    "block %d and re-indexing", number, block_hash[:10], ancestor)
        return ancestor, ancestor_hash

    # ------------------------------------------------------------------ one batch

    def sync(self, to_block: int | None = None, stop: threading.Event | None = None) -> int:
        """Index up to min(head - confirmations, to_block); return the checkpoint block.

        While one batch is written, the next range is read (fetched, checked and decoded) in a
        thread: the node's time on eth_getLogs overlaps the database's on the write. That read is
        checked against the checkpoint the written batch sets (as `_read_batch` checks any
        checkpoint), so it stands in for the reorg check before the next batch; it is used only
        if that write committed, and thrown away on anything else (a failure, a shrunk range).
        It may hold what `log_budget` leaves beside the batch being written, and is not started
        when that is less than `target_events`."""
        self._unwinding.clear()
        checkpoint = self._initialise()
        if self.stats.start_block < 0:
            self.stats.start_block = checkpoint[0]
        self.stats.checkpoint = checkpoint[0]
        attempt = 0
        target = checkpoint[0]
        ahead: _ReadAhead | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xborder-index-read") as read_ahead, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="xborder-index-fetch") as self.reader.fetcher:
            try:
                while stop is None or not stop.is_set():
                    try:
                        if ahead is not None and ahead.checkpoint == checkpoint:
                            end, pending = ahead.end, ahead.future
                            ahead = None
                        else:
                            _discard(ahead)
                            ahead = None
                            checkpoint, target = self._locate(checkpoint, to_block)
                            if checkpoint[0] >= target:
                                return checkpoint[0]
                            end = min(target, checkpoint[0] + (self.batch_blocks if self._density_known
                                                               else min(self.batch_blocks, FIRST_RANGE_BLOCKS)))
                            pending = None
                        read = self._read_or_shrink(checkpoint, end, pending)
                        if read is None:
                            continue
                        batch, end_hash = read
                        logs, events, blocks = len(batch.raw), len(batch.events), len(batch.blocks)
                        self._resize(end - checkpoint[0], logs)
                        room = self.log_budget - logs
                        if end < target and room >= self.target_events and (stop is None or not stop.is_set()):
                            after = min(target, end + self.batch_blocks)
                            ahead = _ReadAhead((end, end_hash), after,
                                               read_ahead.submit(self.reader.read, (end, end_hash), after, room))
                        with gc_paused():
                            self.store.write(batch, end, end_hash)
                        del batch
                        release_freed_memory()
                        checkpoint = (end, end_hash)
                        self._tally(logs, events, blocks, end)
                        attempt = 0
                    except ChainMoved:
                        log.info("the chain moved under batch after block %d; reading it again", checkpoint[0])
                        self._sleep(0.05)
                    except (IndexerError, ConfigurationError):
                        raise
                    except Exception as exc:  # a node failure the RPC layer gave up on, or a DB hiccup
                        _discard(ahead)
                        ahead = None
                        attempt += 1
                        kind = classify(exc)
                        self.rpc.failures[kind] += 1
                        delay = self.rpc.retry.delay(attempt)
                        if self.rpc.retry.max_attempts is not None and attempt >= self.rpc.retry.max_attempts:
                            raise
                        log.warning("indexing after block %d failed (%s: %s); retry in %.2fs",
                                    checkpoint[0], kind, str(exc)[:200], delay)
                        self._sleep(delay)
                        checkpoint = self.store.checkpoint() or checkpoint
            finally:
                self._unwinding.set()  # a request retried in a thread gives up, so the threads end
                _discard(ahead)
                self.reader.fetcher = None
        return checkpoint[0]

    def _read_or_shrink(self, checkpoint: tuple[int, str], end: int,
                        pending: Future[tuple[LogBatch, str]] | None) -> tuple[LogBatch, str] | None:
        """The batch after `checkpoint` up to `end` (read ahead in `pending`, else read now); None
        if the range must shrink: it holds more logs than the budget, or the node refused it."""
        try:
            return pending.result() if pending is not None else self.reader.read(checkpoint, end, self.log_budget)
        except TooManyLogs as exc:
            # [start, over - 1] holds at most the budget; a first block over it is read alone.
            self.batch_blocks = max(1, exc.over - 1 - checkpoint[0])
            self._density_known = True
            self.stats.range_shrinks += 1
            log.info("%s; %d blocks per request now", exc, self.batch_blocks)
            return None
        except RangeTooLarge as exc:
            if self.batch_blocks <= self.min_batch_blocks:
                raise  # handled by the caller: retried with backoff
            self.batch_blocks = max(self.min_batch_blocks, (end - checkpoint[0]) // 2)
            self.stats.range_shrinks += 1
            log.info("eth_getLogs range too large (%s); %d blocks per request now", str(exc)[:120],
                     self.batch_blocks)
            return None

    def _locate(self, checkpoint: tuple[int, str], to_block: int | None) -> tuple[tuple[int, str], int]:
        """The checkpoint after any reorg, and the block to index to now."""
        checkpoint = self._handle_reorg(checkpoint)
        self.stats.checkpoint = checkpoint[0]
        head = self.rpc.block_number()
        self.stats.head = head
        target = head - self.confirmations
        if to_block is not None:
            target = min(target, to_block)
        self.stats.target = max(target, checkpoint[0])
        self.stats.start_block = min(self.stats.start_block, checkpoint[0])
        return checkpoint, target

    def _resize(self, span: int, logs: int) -> None:
        """Size the next range for about `target_events` logs: big enough to amortise the round
        trip and the commit, small enough to keep memory flat on busy chains."""
        self._density_known = True
        grown = min(self.batch_blocks, span) * 2
        if logs:
            grown = min(grown, max(1, span * self.target_events // logs))
        self.batch_blocks = max(self.min_batch_blocks, min(self.max_batch_blocks, grown))

    def _tally(self, logs: int, events: int, blocks: int, end: int) -> None:
        self.stats.batches += 1
        self.stats.events += events
        self.stats.logs += logs
        self.stats.blocks += blocks
        self.stats.checkpoint = end
        self.stats.failures = dict(self.rpc.failures)
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def run(self, *, follow: bool = False, poll_interval: float = 1.0, to_block: int | None = None,
            stop: threading.Event | None = None) -> IndexStats:
        """Backfill to the head (minus confirmations); with `follow`, keep following it until
        `stop` is set (or KeyboardInterrupt). Refuses (IndexBusy) when another indexer writes to
        the same database."""
        started = time.perf_counter()
        try:
            with self.db.writer_lock():
                if self.db.dialect == "sqlite":
                    self.db.execute(f"PRAGMA wal_autocheckpoint={WRITER_WAL_PAGES}")
                while True:
                    self.stats.checkpoint = self.sync(to_block=to_block, stop=stop)
                    if stop is None or not stop.is_set():
                        deferred.build(self.db)  # the first backfill's secondary indexes, once caught up
                    if not follow or (stop is not None and stop.is_set()):
                        break
                    if to_block is not None and self.stats.checkpoint >= to_block:
                        break
                    if stop is not None:
                        if stop.wait(poll_interval):
                            break
                    else:
                        self._sleep(poll_interval)
        finally:
            self.stats.seconds = time.perf_counter() - started
            self.stats.failures = dict(self.rpc.failures)
        return self.stats
