"""The basic path: backfill a workload into SQLite and PostgreSQL; both hold the same rows."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from xborder.cli.commands.index import progress_fraction
from xborder.index import Indexer, IndexStats, open_database

from .helpers import Emitters, Workload, dump, one_row


def test_backfill_matches_the_workload(db_url: str, w3: Web3, emitters: Emitters) -> None:
    work = Workload(emitters, seed=1)
    work.setup()
    work.run(60)
    db = open_database(db_url)
    stats = Indexer(db, w3, emitters.contracts(), batch_blocks=7).run()
    assert stats.checkpoint == w3.eth.block_number
    loans = {r[0]: r[1:] for r in db.query("SELECT loan_id, status, drawn, outstanding FROM loans")}
    assert set(loans) == set(work.loans)
    for loan_id, loan in work.loans.items():
        assert loans[loan_id] == (loan["status"], loan["drawn"], loan["outstanding"])
    latest: dict[int, int] = dict(db.query(
        "SELECT borrower, borrower_balance FROM loan_events e WHERE NOT EXISTS (SELECT 1 FROM loan_events f "
        "WHERE f.borrower = e.borrower AND (f.block_number > e.block_number OR (f.block_number = "
        "e.block_number AND f.log_index > e.log_index)))"))
    assert latest == {b: work.balances.get(b, 0) for b in latest}
    assert one_row(db, "SELECT COUNT(*) FROM institutions")[0] == len(work.institutions)
    # A second run finds nothing new and changes nothing.
    before = dump(db)
    again = Indexer(db, w3, emitters.contracts()).run()
    assert again.events == 0 and dump(db) == before


def test_progress_never_shows_impossible_totals(w3: Web3, emitters: Emitters, tmp_path: Path) -> None:
    """Issue #13 item 6: the bar counts blocks from the run's start to its target; before, it took
    the number of blocks WITH logs for the span and a checkpoint never updated per batch."""
    work = Workload(emitters, seed=9)
    work.setup()
    work.run(40)
    db = open_database(f"sqlite:///{tmp_path}/progress.db")
    seen: list[tuple[int, int]] = []

    def on_batch(stats: IndexStats) -> None:
        seen.append(progress_fraction(stats))

    first = Indexer(db, w3, emitters.contracts(), batch_blocks=3, max_batch_blocks=3, on_batch=on_batch).run()
    head = w3.eth.block_number
    assert len(seen) > 5 and all(0 <= done <= total for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # never goes back
    assert {t for _, t in seen} == {head - (emitters.start_block - 1)} and seen[-1][0] == seen[-1][1]
    assert progress_fraction(first) == (seen[-1][1], seen[-1][1])
    work.run(10)  # a second run counts only the new blocks
    seen.clear()
    Indexer(db, w3, emitters.contracts(), batch_blocks=3, max_batch_blocks=3, on_batch=on_batch).run()
    assert seen and {t for _, t in seen} == {w3.eth.block_number - head} and seen[-1][0] == seen[-1][1]
