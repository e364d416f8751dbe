"""The basic path: backfill a workload into SQLite and PostgreSQL; both hold the same rows."""

from __future__ import annotations

from web3 import Web3

from xborder.index import Indexer, open_database

from .helpers import Emitters, Workload, dump


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
        assert loans[loan_id] == (loan["status"], loan["drawn"], loan["drawn"])
    latest = dict(db.query(
        "SELECT borrower, borrower_balance FROM loan_events e WHERE NOT EXISTS (SELECT 1 FROM loan_events f "
        "WHERE f.borrower = e.borrower AND (f.block_number > e.block_number OR (f.block_number = "
        "e.block_number AND f.log_index > e.log_index)))"))
    assert latest == {b: v for b, v in work.balances.items() if b in latest}
    assert db.query_one("SELECT COUNT(*) FROM institutions")[0] == len(work.institutions)
    # A second run finds nothing new and changes nothing.
    before = dump(db)
    again = Indexer(db, w3, emitters.contracts()).run()
    assert again.events == 0 and dump(db) == before
