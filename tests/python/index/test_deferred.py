"""A first backfill builds its secondary indexes once, at its end (`xborder.index.deferred`): the
database it leaves has exactly the indexes of a migrated one; one that stopped before the end says
so and is completed by the next run; a rollback reads through built indexes."""

from __future__ import annotations

import threading
from pathlib import Path

from web3 import Web3

from xborder.index import Indexer, IndexStats, open_database
from xborder.index.db import Database
from xborder.index.deferred import DEFERRED, pending
from xborder.index.status import index_status

from .helpers import Emitters, Workload, dump


def _indexes(db: Database) -> list[tuple[str, str]]:
    if db.dialect == "sqlite":
        rows = db.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
    else:
        rows = db.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                        "ORDER BY indexname")
    return [(str(n), str(d)) for n, d in rows]


def _migrated_indexes(db_url: str) -> list[tuple[str, str]]:
    db = open_database(db_url)
    try:
        return _indexes(db)
    finally:
        db.close()


def test_a_first_backfill_leaves_the_indexes_of_a_migrated_database(db_url: str, w3: Web3,
                                                                     emitters: Emitters) -> None:
    expected = _migrated_indexes(db_url)  # open_database migrates; nothing indexed yet
    assert {n for n, _ in expected} >= set(DEFERRED)
    work = Workload(emitters, seed=5)
    work.setup()
    work.run(40)
    db = open_database(db_url)
    Indexer(db, w3, emitters.contracts(), batch_blocks=5).run()
    assert _indexes(db) == expected
    assert pending(db) == [] and index_status(db).deferred_indexes == []


def test_a_backfill_stopped_early_is_completed_by_the_next_run(db_url: str, w3: Web3, emitters: Emitters,
                                                               tmp_path: Path) -> None:
    work = Workload(emitters, seed=6)
    work.setup()
    work.run(40)
    expected = _migrated_indexes(db_url)
    stop = threading.Event()

    def after_first(stats: IndexStats) -> None:
        stop.set()  # as SIGTERM does: the batch being written commits, nothing more

    db = open_database(db_url)
    first = Indexer(db, w3, emitters.contracts(), batch_blocks=3, max_batch_blocks=3, on_batch=after_first).run(
        stop=stop)
    assert 0 < first.checkpoint < w3.eth.block_number
    assert pending(db) == sorted(DEFERRED) and index_status(db).deferred_indexes == sorted(DEFERRED)
    assert not {n for n, _ in _indexes(db)} & set(DEFERRED)
    Indexer(db, w3, emitters.contracts()).run()
    assert _indexes(db) == expected and pending(db) == []
    # the same rows as a backfill in one go
    whole = open_database(f"sqlite:///{tmp_path / 'whole.db'}")
    Indexer(whole, w3, emitters.contracts()).run()
    assert dump(whole) == dump(db)
