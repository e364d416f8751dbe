"""The index database's write path, shared by the indexer, a rollback and a reprojection.

One batch = the raw logs exactly as the node returned them (`raw_logs`), their per-contract and
per-event counts (`log_counts`), the blocks they are in, the projection of their decoded events
and the new checkpoint, all in ONE transaction. A rollback removes all of it above a block, in one
transaction too. `reproject` rebuilds every projected table from `raw_logs` alone (the ABIs are
stored in `indexed_contracts`), so the domain tables are a projection of the audit trail.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import operator
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from xborder.errors import ConfigurationError
from xborder.index.db import Database
from xborder.index.decode import DecodedEvent, EventDecoder, UndecodableLog
from xborder.index.projection import Projection

log = logging.getLogger(__name__)

RAW_COLUMNS = ("block_number", "log_index", "block_hash", "tx_hash", "tx_index", "address", "contract", "event",
               "topic0", "topic1", "topic2", "topic3", "data")
_COUNT_SQL = ("INSERT INTO log_counts (contract, event, logs) VALUES (?, ?, ?) ON CONFLICT (contract, event) "
              "DO UPDATE SET logs = log_counts.logs + excluded.logs")
ZERO_HASH = "0x" + "00" * 32


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """A batch allocates 100,000s of small objects that all live until it ends: the cyclic GC
    would walk them again and again for nothing (it doubles the decode time). Decoding and writing
    a batch run with it paused, whoever calls them (the indexer, a reprojection, the bench's load).
    Counted across threads (the indexer reads the next batch in a thread while it writes one): the
    collector runs again when the last pause ends, as it was before the first."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def release_freed_memory() -> None:
    """Hand the memory a batch freed back to the system (glibc keeps freed small blocks in its
    arenas; after batches of 100,000s of short-lived objects that is most of the resident size)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc
        return None


_LIBC = _libc()


@dataclass(frozen=True)
class IndexedContract:
    name: str
    address: str
    abi: list[dict[str, Any]]
    start_block: int


@dataclass
class LogBatch:
    """What one batch read from the chain: raw rows (RAW_COLUMNS), the decoded events in chain
    order, and (hash, parent hash, time) of every block holding a log."""

    raw: list[tuple[Any, ...]]
    events: list[DecodedEvent]
    blocks: dict[int, tuple[str, str, int]]


def event_label(event: str | None, topic0: bytes | None) -> str:
    """The `log_counts.event` of a log: its decoded name, else its topic0."""
    if event:
        return event
    return f"topic0:0x{topic0.hex()}" if topic0 is not None else "(anonymous, no topics)"


def log_counts(raw: Sequence[tuple[Any, ...]]) -> Counter[tuple[str, str]]:
    """Logs per (contract, `log_counts.event`) of `raw_logs` rows (counted by name first: the
    labels of the logs the ABIs do not know are built for those only)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (contract, event), n in Counter(map(_contract_event, raw)).items():
        if event is not None:
            counts[(contract, event)] += n
        else:
            counts.update((row[6], event_label(None, row[8])) for row in raw if row[6] == contract and row[7] is None)
    return counts


_contract_event = operator.itemgetter(6, 7)


def decode_logs(entries: Sequence[dict[str, Any]], decoder: EventDecoder, contract_of: dict[str, str]
                ) -> tuple[list[tuple[Any, ...]], list[DecodedEvent]]:
    """`raw_logs` rows and decoded events (both in chain order) of `eth_getLogs` entries: each log's
    data is parsed once and serves both."""
    with gc_paused():
        return _decode_logs(entries, decoder, contract_of)


def _decode_logs(entries: Sequence[dict[str, Any]], decoder: EventDecoder, contract_of: dict[str, str]
                 ) -> tuple[list[tuple[Any, ...]], list[DecodedEvent]]:
    rows: list[tuple[Any, ...]] = []
    events: list[DecodedEvent] = []
    add_row, add_event = rows.append, events.append
    # A block's, a transaction's and an address's fields repeat over their logs: converted once per run
    # of them (addresses once per batch).
    last_block, last_tx = None, None
    number, block_hash, tx_hash = 0, "", ""
    seen: dict[str, tuple[str, str]] = {}
    fromhex, spec_of = bytes.fromhex, decoder.spec_of
    for entry in entries:
        if entry["blockHash"] != last_block:
            last_block = entry["blockHash"]
            number, block_hash = int(entry["blockNumber"], 16), str(last_block).lower()
        if entry["transactionHash"] != last_tx:
            last_tx = entry["transactionHash"]
            tx_hash = str(last_tx).lower()
        raw_address = entry["address"]
        known = seen.get(raw_address)
        if known is None:
            lowered = str(raw_address).lower()
            known = seen[raw_address] = (lowered, contract_of.get(lowered, lowered))
        address, contract = known
        topics = entry["topics"]
        data = fromhex(entry["data"][2:])
        log_index, tx_index = int(entry["logIndex"], 16), int(entry["transactionIndex"], 16)
        spec = spec_of(address, topics[0]) if topics else None
        if spec is not None:
            try:
                add_event(spec.build(topics, data, address, number, block_hash, tx_index, tx_hash, log_index))
            except (UndecodableLog, ValueError) as exc:
                raise ConfigurationError(
                    f"log {log_index} of block {number} (tx {tx_hash}) at {address} does not decode as "
                    f"{spec.signature}: {exc}; is the deployment's ABI the one of these contracts?") from None
        add_row((number, log_index, block_hash, tx_hash, tx_index, address, contract, spec.name if spec else None,
                 *_topic_columns(topics, fromhex), data))
    rows.sort(key=_log_position)
    events.sort(key=_event_position)
    return rows, events


def _topic_columns(topics: Sequence[str], fromhex: Callable[[str], bytes]) -> tuple[bytes | None, ...]:
    """`raw_logs.topic0` .. `topic3` of a log's topics (0x hex)."""
    n = len(topics)
    if n == 4:
        return fromhex(topics[0][2:]), fromhex(topics[1][2:]), fromhex(topics[2][2:]), fromhex(topics[3][2:])
    if n == 3:
        return fromhex(topics[0][2:]), fromhex(topics[1][2:]), fromhex(topics[2][2:]), None
    return (*(fromhex(t[2:]) for t in topics[:4]), *(None,) * (4 - min(n, 4)))


_log_position = operator.itemgetter(0, 1)
_event_position = operator.attrgetter("block_number", "log_index")


def stored_contracts(db: Database) -> list[IndexedContract]:
    """The contracts this database indexes, with the ABIs stored at its first run."""
    return [IndexedContract(str(n), str(a), json.loads(abi) if abi else [], int(s)) for n, a, s, abi in db.query(
        "SELECT name, address, start_block, abi FROM indexed_contracts ORDER BY name")]


@dataclass
class IndexStore:
    """Writes batches, rollbacks and reprojections of one index database through `projection`."""

    db: Database
    projection: Projection

    def checkpoint(self) -> tuple[int, str] | None:
        row = self.db.query_one("SELECT block_number, block_hash FROM checkpoint WHERE id = 1")
        return (int(row[0]), str(row[1])) if row else None

    def write(self, batch: LogBatch, end: int, end_hash: str) -> None:
        """The batch and the checkpoint `end` in one transaction."""
        db = self.db
        counts = log_counts(batch.raw)
        with gc_paused(), db.transaction():
            db.insert_rows("blocks", ("block_number", "block_hash", "parent_hash", "block_time"),
                           [(n, *b) for n, b in sorted(batch.blocks.items())])
            db.insert_rows("raw_logs", RAW_COLUMNS, batch.raw)
            db.executemany(_COUNT_SQL, [(c, e, n) for (c, e), n in sorted(counts.items())])
            self.projection.apply(db, batch.events, {n: b[2] for n, b in batch.blocks.items()})
            db.execute("UPDATE checkpoint SET block_number = ?, block_hash = ? WHERE id = 1", (end, end_hash))

    def rollback(self, ancestor: int, ancestor_hash: str) -> None:
        """Remove every log, block and projected row above `ancestor`, in one transaction."""
        db = self.db
        with db.transaction():
            gone = db.query("SELECT contract, event, topic0, COUNT(*) FROM raw_logs WHERE block_number > ? "
                            "GROUP BY contract, event, topic0", (ancestor,))
            counts: Counter[tuple[str, str]] = Counter()
            for contract, event, topic0, n in gone:
                counts[(str(contract), event_label(event, None if topic0 is None else bytes(topic0)))] += int(n)
            db.executemany("UPDATE log_counts SET logs = logs - ? WHERE contract = ? AND event = ?",
                           [(n, c, e) for (c, e), n in sorted(counts.items())])
            db.execute("DELETE FROM log_counts WHERE logs = 0")
            db.execute("DELETE FROM raw_logs WHERE block_number > ?", (ancestor,))
            self.projection.rollback(db, ancestor)
            db.execute("DELETE FROM blocks WHERE block_number > ?", (ancestor,))
            db.execute("UPDATE checkpoint SET block_number = ?, block_hash = ? WHERE id = 1",
                       (ancestor, ancestor_hash))

    def reproject(self, *, chunk: int = 20_000, on_progress: Callable[[int], None] | None = None) -> int:
        """Rebuild every projected table from `raw_logs`, in one transaction; return the logs read."""
        db = self.db
        decoder = EventDecoder([(c.name, c.address, c.abi) for c in stored_contracts(db)])
        done = 0
        with db.transaction():
            self.projection.reset(db)
            after = (-1, -1)
            while True:
                rows = db.query(
                    "SELECT block_number, log_index, block_hash, tx_hash, tx_index, address, topic0, topic1, topic2, "
                    "topic3, data FROM raw_logs WHERE block_number > ? OR (block_number = ? AND log_index > ?) "
                    "ORDER BY block_number, log_index LIMIT ?", (after[0], after[0], after[1], chunk))
                if not rows:
                    break
                events = []
                for number, index, block_hash, tx_hash, tx_index, address, *rest in rows:
                    topics = ["0x" + bytes(t).hex() for t in rest[:4] if t is not None]
                    spec = decoder.spec_of(str(address), topics[0] if topics else None)
                    if spec is not None:
                        events.append(decoder.decode_with(spec, str(address), topics, bytes(rest[4]), int(number),
                                                          str(block_hash), int(tx_index), str(tx_hash), int(index)))
                first, last = int(rows[0][0]), int(rows[-1][0])
                times = {int(n): int(t) for n, t in db.query(
                    "SELECT block_number, block_time FROM blocks WHERE block_number BETWEEN ? AND ?", (first, last))}
                self.projection.apply(db, events, times)
                done += len(rows)
                after = (last, int(rows[-1][1]))
                if on_progress is not None:
                    on_progress(done)
        log.info("reprojected %d raw logs", done)
        return done
