"""The reorg-safe event indexer: backfill with adaptive eth_getLogs ranges, then follow the head.

Per batch [start, end] (end <= head - confirmations):

1. the hash of `end` is read, then `eth_getLogs` for all indexed addresses at once, then (in one
   JSON-RPC batch) the headers of every block with a log, of `end` again and of the checkpoint;
2. if `end` changed, a log's block hash is not the canonical one, or the checkpoint block is no
   longer canonical, the chain reorganised mid-batch: nothing is written and the loop starts over;
3. otherwise the events, their blocks and the new checkpoint are written in ONE transaction.

Before every batch the checkpoint's hash is compared with the node's; on a mismatch the stored
blocks are walked down to the newest one still canonical (the common ancestor, or below it), every
table is rolled back to it and indexing continues from there. So the database always equals the
canonical chain up to the checkpoint, and a kill -9 at any instant loses or doubles nothing.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from xborder.bindings.deployment import CONTRACT_NAMES as INDEXED_CONTRACT_NAMES
from xborder.bindings.deployment import load_deployment
from xborder.errors import ConfigurationError, DeploymentNotFound, XborderError
from xborder.index.db import Database
from xborder.index.decode import DecodedEvent, EventDecoder
from xborder.index.projection import Projection, XborderProjection
from xborder.index.rpc import RangeTooLarge, RetryPolicy, RpcClient, classify

log = logging.getLogger(__name__)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A batch allocates 100,000s of small objects that all live until it ends: the cyclic GC
    would walk them again and again for nothing (it doubles the decode time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class IndexerError(XborderError, RuntimeError):
    """The index database does not belong to this chain or deployment."""

    exit_code = 8


class _ChainMoved(Exception):
    """The chain reorganised while a batch was being read; read it again."""


@dataclass(frozen=True)
class IndexedContract:
    name: str
    address: str
    abi: list[dict[str, Any]]
    start_block: int


@dataclass
class IndexStats:
    """What a run did; `failures` counts RPC failures by kind (all retried)."""

    batches: int = 0
    events: int = 0
    blocks: int = 0
    reorgs: int = 0
    rolled_back_blocks: int = 0
    range_shrinks: int = 0
    checkpoint: int = -1
    head: int = -1
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class IndexStatus:
    chain_id: int | None
    checkpoint: int | None
    checkpoint_hash: str | None
    contracts: list[tuple[str, str, int]]
    counts: dict[str, int]
    schema_version: int


class Indexer:
    """Indexes `contracts`' events from `w3` into `db` (already migrated)."""

    def __init__(self, db: Database, w3: Web3, contracts: list[IndexedContract], *,
                 confirmations: int = 0, batch_blocks: int = 200, max_batch_blocks: int = 100_000,
                 min_batch_blocks: int = 1, target_events: int = 10_000, retry: RetryPolicy | None = None,
                 projection: Projection | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_batch: Callable[[IndexStats], None] | None = None) -> None:
        if not contracts:
            raise ConfigurationError("no contracts to index: pass at least one IndexedContract")
        if confirmations < 0:
            raise ConfigurationError("confirmations must be 0 or more")
        self.db = db
        self.rpc = RpcClient(w3, retry or RetryPolicy(), sleep=sleep)
        self.contracts = contracts
        self.confirmations = confirmations
        self.batch_blocks = max(min_batch_blocks, batch_blocks)
        self.max_batch_blocks = max(max_batch_blocks, self.batch_blocks)
        self.min_batch_blocks = max(1, min_batch_blocks)
        self.target_events = max(1, target_events)
        self.projection = projection or XborderProjection()
        self.decoder = EventDecoder([(c.name, c.address, c.abi) for c in contracts])
        self.addresses = sorted({c.address.lower() for c in contracts})
        self._start_of = {c.address.lower(): c.start_block for c in contracts}
        self.base_block = min(c.start_block for c in contracts) - 1
        self._sleep = sleep
        self._on_batch = on_batch
        self.stats = IndexStats()

    # ------------------------------------------------------------------ checkpoint

    def _checkpoint(self) -> tuple[int, str] | None:
        row = self.db.query_one("SELECT block_number, block_hash FROM checkpoint WHERE id = 1")
        return (int(row[0]), str(row[1])) if row else None

    def _initialise(self) -> tuple[int, str]:
        """Check that the database belongs to this chain and deployment; create its checkpoint."""
        chain_id = self.rpc.chain_id()
        stored = self.db.query_one("SELECT chain_id FROM checkpoint WHERE id = 1")
        contracts = sorted((c.name, c.address.lower(), c.start_block) for c in self.contracts)
        if stored is not None:
            if int(stored[0]) != chain_id:
                raise IndexerError(
                    f"the index database {self.db.url} holds chain {stored[0]}, the node serves chain "
                    f"{chain_id}: use another database (--database-url) for this chain")
            known = sorted((str(r[0]), str(r[1]), int(r[2])) for r in self.db.query(
                "SELECT name, address, start_block FROM indexed_contracts"))
            if known != contracts:
                raise IndexerError(
                    f"the index database {self.db.url} indexes other contracts ({known}) than "
                    f"{contracts}: use a new database for a new deployment")
            checkpoint = self._checkpoint()
            assert checkpoint is not None
            return checkpoint
        base_hash = "0x" + "00" * 32
        if self.base_block >= 0:
            header = self.rpc.header(self.base_block)
            if header is None:
                raise ConfigurationError(f"start block {self.base_block + 1} is beyond the chain head")
            base_hash = str(header["hash"]).lower()
        with self.db.transaction():
            self.db.executemany("INSERT INTO indexed_contracts (name, address, start_block) VALUES (?, ?, ?)",
                                contracts)
            self.db.execute("INSERT INTO checkpoint (id, chain_id, block_number, block_hash) VALUES (1, ?, ?, ?)",
                            (chain_id, self.base_block, base_hash))
        log.info("new index of chain %d from block %d", chain_id, self.base_block + 1)
        return self.base_block, base_hash

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
        ancestor = self.base_block
        below = number
        while True:
            rows = self.db.query("SELECT block_number, block_hash FROM blocks WHERE block_number < ? "
                                 "ORDER BY block_number DESC LIMIT 64", (below,))
            if not rows:
                break
            headers = self.rpc.headers([int(r[0]) for r in rows])
            match = next((int(r[0]) for r in rows if (h := headers.get(int(r[0]))) is not None
                          and str(h["hash"]).lower() == r[1]), None)
            if match is not None:
                ancestor = match
                break
            below = int(rows[-1][0])
        if ancestor >= 0:
            header = self.rpc.header(ancestor)
            if header is None:
                raise _ChainMoved()
            ancestor_hash = str(header["hash"]).lower()
        else:
            ancestor_hash = "0x" + "00" * 32
        with self.db.transaction():
            self.projection.rollback(self.db, ancestor)
            self.db.execute("DELETE FROM blocks WHERE block_number > ?", (ancestor,))
            self.db.execute("UPDATE checkpoint SET block_number = ?, block_hash = ? WHERE id = 1",
                            (ancestor, ancestor_hash))
        self.stats.reorgs += 1
        self.stats.rolled_back_blocks += number - ancestor
        log.warning("chain reorganisation: block %d (%s) left the canonical chain; rolled back to "
                    "block %d and re-indexing", number, block_hash[:10], ancestor)
        return ancestor, ancestor_hash

    # ------------------------------------------------------------------ one batch

    def _read_batch(self, checkpoint: tuple[int, str], end: int) -> tuple[
            list[DecodedEvent], dict[int, dict[str, Any]], str]:
        start = checkpoint[0] + 1
        first = self.rpc.header(end)
        if first is None:
            raise _ChainMoved()
        raw = self.rpc.logs(self.addresses, start, end)
        numbers = {int(entry["blockNumber"], 16) for entry in raw}
        wanted = sorted(numbers | {end} | ({checkpoint[0]} if checkpoint[0] >= 0 else set()))
        headers = self.rpc.headers(wanted)
        end_header = headers.get(end)
        if end_header is None or end_header["hash"] != first["hash"]:
            raise _ChainMoved()
        if checkpoint[0] >= 0:
            cp = headers.get(checkpoint[0])
            if cp is None or str(cp["hash"]).lower() != checkpoint[1]:
                raise _ChainMoved()
        events: list[DecodedEvent] = []
        for entry in raw:
            if entry.get("removed"):
                raise _ChainMoved()
            header = headers.get(int(entry["blockNumber"], 16))
            if header is None or str(header["hash"]).lower() != str(entry["blockHash"]).lower():
                raise _ChainMoved()
            event = self.decoder.decode(entry)
            if event is not None and event.block_number >= self._start_of.get(event.address, 0):
                events.append(event)
        events.sort(key=lambda e: (e.block_number, e.log_index))
        log_headers = {n: h for n, h in headers.items() if n in numbers and h is not None}
        return events, log_headers, str(end_header["hash"]).lower()

    def _write_batch(self, events: list[DecodedEvent], headers: dict[int, dict[str, Any]],
                     end: int, end_hash: str) -> None:
        times = {n: int(h["timestamp"], 16) for n, h in headers.items()}
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO blocks (block_number, block_hash, parent_hash, block_time) VALUES (?, ?, ?, ?)",
                [(n, str(h["hash"]).lower(), str(h["parentHash"]).lower(), times[n])
                 for n, h in sorted(headers.items())])
            self.projection.apply(self.db, events, times)
            self.db.execute("UPDATE checkpoint SET block_number = ?, block_hash = ? WHERE id = 1",
                            (end, end_hash))

    def sync(self, to_block: int | None = None, stop: threading.Event | None = None) -> int:
        """Index up to min(head - confirmations, to_block); return the checkpoint block."""
        checkpoint = self._initialise()
        attempt = 0
        while stop is None or not stop.is_set():
            try:
                checkpoint = self._handle_reorg(checkpoint)
                head = self.rpc.block_number()
                self.stats.head = head
                target = head - self.confirmations
                if to_block is not None:
                    target = min(target, to_block)
                if checkpoint[0] >= target:
                    self.stats.checkpoint = checkpoint[0]
                    return checkpoint[0]
                end = min(target, checkpoint[0] + self.batch_blocks)
                try:
                    with _gc_paused():
                        events, headers, end_hash = self._read_batch(checkpoint, end)
                except RangeTooLarge as exc:
                    if self.batch_blocks <= self.min_batch_blocks:
                        raise  # handled below: retried with backoff
                    self.batch_blocks = max(self.min_batch_blocks, (end - checkpoint[0]) // 2)
                    self.stats.range_shrinks += 1
                    log.info("eth_getLogs range too large (%s); %d blocks per request now",
                             str(exc)[:120], self.batch_blocks)
                    continue
                with _gc_paused():
                    self._write_batch(events, headers, end, end_hash)
                span = end - checkpoint[0]
                checkpoint = (end, end_hash)
                # Size the next range for about `target_events` events: big enough to amortise the
                # round trip and the commit, small enough to keep memory flat on busy chains.
                grown = self.batch_blocks * 2
                if len(events) > 0:
                    grown = min(grown, max(1, span * self.target_events // len(events)))
                self.batch_blocks = max(self.min_batch_blocks, min(self.max_batch_blocks, grown))
                self._tally(events, headers)
                attempt = 0
            except _ChainMoved:
                log.info("the chain moved under batch after block %d; reading it again", checkpoint[0])
                self._sleep(0.05)
            except (IndexerError, ConfigurationError):
                raise
            except Exception as exc:  # a node failure the RPC layer gave up on, or a DB hiccup
                attempt += 1
                kind = classify(exc)
                self.rpc.failures[kind] += 1
                delay = self.rpc.retry.delay(attempt)
                if self.rpc.retry.max_attempts is not None and attempt >= self.rpc.retry.max_attempts:
                    raise
                log.warning("indexing after block %d failed (%s: %s); retry in %.2fs",
                            checkpoint[0], kind, str(exc)[:200], delay)
                self._sleep(delay)
                checkpoint = self._checkpoint() or checkpoint
        self.stats.checkpoint = checkpoint[0]
        return checkpoint[0]

    def _tally(self, events: list[DecodedEvent], headers: dict[int, dict[str, Any]]) -> None:
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.blocks += len(headers)
        self.stats.failures = dict(self.rpc.failures)
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def run(self, *, follow: bool = False, poll_interval: float = 1.0, to_block: int | None = None,
            stop: threading.Event | None = None) -> IndexStats:
        """Backfill to the head (minus confirmations); with `follow`, keep following it until
        `stop` is set (or KeyboardInterrupt)."""
        started = time.perf_counter()
        try:
            while True:
                self.stats.checkpoint = self.sync(to_block=to_block, stop=stop)
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


# ---------------------------------------------------------------------- status and entry points

def index_status(db: Database) -> IndexStatus:
    checkpoint = db.query_one("SELECT chain_id, block_number, block_hash FROM checkpoint WHERE id = 1")
    counts = {table: int(db.query_one(f"SELECT COUNT(*) FROM {table}")[0])  # type: ignore[index]
              for table in ("blocks", "institutions", "wallets", "loans", "loan_events",
                            "parameter_changes", "reference_rate_changes", "financing_type_changes")}
    return IndexStatus(
        chain_id=int(checkpoint[0]) if checkpoint else None,
        checkpoint=int(checkpoint[1]) if checkpoint else None,
        checkpoint_hash=str(checkpoint[2]) if checkpoint else None,
        contracts=[(str(r[0]), str(r[1]), int(r[2])) for r in db.query(
            "SELECT name, address, start_block FROM indexed_contracts ORDER BY name")],
        counts=counts, schema_version=db.schema_version())


def deployment_contracts(deployments_dir: Path, chain_id: int) -> list[IndexedContract]:
    """The indexed contracts of the deploy service's manifest `deployments/<chain-id>.json`."""
    deployment = load_deployment(deployments_dir, chain_id)
    missing = [n for n in INDEXED_CONTRACT_NAMES if n not in deployment.contracts]
    if missing:
        raise DeploymentNotFound(f"the deployment of chain {chain_id} in {deployments_dir} lacks "
                                 f"{', '.join(missing)}: finish it with `xborder deploy`")
    return [IndexedContract(name=name, address=deployment.address(name),
                            abi=deployment.abi(name, deployments_dir),
                            start_block=deployment.contracts[name].block_number)
            for name in INDEXED_CONTRACT_NAMES]
