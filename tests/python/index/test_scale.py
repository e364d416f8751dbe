"""The read side at size, on SQLite and PostgreSQL: a seeded 2022-shaped workload (the benchmark's,
smaller) built through the indexer's write path; every summary-backed answer equals the same
question asked of the rows, every keyset listing walks all its rows exactly once in order, and a
reprojection from the raw logs gives the same tables.

Latency is NOT checked here (house rule: no timed unit tests): `make bench` times every query at
1,000,000 loans with the 50 ms p99 target beside it (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from xborder.bench.query import load
from xborder.index import IndexStore, analytics, open_database, queries
from xborder.index.consistency import summary_differences
from xborder.index.projection import XborderProjection
from xborder.index.store import stored_contracts

from .helpers import PROJECTED, dump, dump_diff

LOANS, BORROWERS, BANKS, CREDITORS = 3_000, 60, 6, 8


def _walk(fetch: Any, limit: int) -> tuple[list[tuple[Any, ...]], list[int | None]]:
    rows: list[tuple[Any, ...]] = []
    totals: list[int | None] = []
    cursor = None
    while True:
        page = fetch(limit=limit, cursor=cursor)
        rows += page.rows
        totals.append(page.total)
        if page.next_cursor is None:
            return rows, totals
        cursor = page.next_cursor


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def book(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'scale.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        url = server.create_database()
    _, logs = load(url, LOANS, borrowers=BORROWERS, banks=BANKS, creditors=CREDITORS)
    db = open_database(url)
    yield db, logs
    db.close()


def test_summaries_equal_the_rows(book: Any) -> None:
    db, logs = book
    assert summary_differences(db) == []
    assert db.query_one("SELECT SUM(logs) FROM log_counts")[0] == logs
    loans = db.query("SELECT loan_id, borrower, creditor, recorder, currency, creditor_country, financing_type, status, "
                     "principal, outstanding, contribution FROM loans")
    assert len(loans) == LOANS
    for by, at in (("currency", 4), ("creditor_country", 5), ("bank", 3), ("creditor", 2), ("financing_type", 6)):
        expected: dict[str, list[int]] = {}
        for row in loans:
            sums = expected.setdefault(str(row[at]), [0, 0, 0])
            sums[0] += 1
            sums[1] += int(row[8])
            sums[2] += int(row[10])
        got = {str(r[0]): [int(r[1]), int(r[2]), int(r[5])] for r in queries.totals(db, by).rows}
        assert got == expected, by
    active = queries.totals(db, "currency", status="Active").rows
    assert sum(int(r[1]) for r in active) == sum(1 for r in loans if r[7] == 2)
    drawn = db.query_one("SELECT SUM(amount) FROM loan_events WHERE event = 'LoanDrawn'")[0]
    assert sum(int(r[2]) for r in analytics.volumes_with_cny(db, "month").rows) == drawn
    assert sum(int(r[2]) for r in analytics.volumes_with_cny(db, "day").rows) == drawn
    summary = analytics.summary(db)
    assert summary.loans == LOANS and summary.borrowers == BORROWERS + BANKS  # banks can borrow too
    assert summary.risk_weighted_balance == sum(int(r[0]) for r in db.query("SELECT balance FROM borrower_positions"))


def test_keyset_pages_walk_every_row_once(book: Any) -> None:
    db, _ = book
    expected = [r[0] for r in db.query("SELECT loan_id FROM loans WHERE currency = 'USD' AND creditor_country = 'HK' "
                                       "ORDER BY recorded_block DESC, loan_id DESC")]
    rows, totals = _walk(lambda **k: queries.list_loans(db, currency="USD", creditor_country="HK", **k), 37)
    assert [r[0] for r in rows] == expected and set(totals) == {len(expected)}
    everything, _ = _walk(lambda **k: queries.list_loans(db, **k), 500)
    assert len({r[0] for r in everything}) == LOANS
    biggest = int(db.query_one("SELECT borrower FROM borrower_positions ORDER BY loans DESC LIMIT 1")[0])
    mine, totals = _walk(lambda **k: queries.list_loans(db, borrower=biggest, status="Active", **k), 50)
    assert set(totals) == {len(mine)} == {db.query_one(
        "SELECT COUNT(*) FROM loans WHERE borrower = ? AND status = 2", (biggest,))[0]}
    events, totals = _walk(lambda **k: queries.loan_events(db, currency="JPY", event="repaid", **k), 25)
    expected_events = db.query("SELECT e.block_number, e.log_index FROM loan_events e JOIN loans l ON l.loan_id = "
                               "e.loan_id WHERE l.currency = 'JPY' AND e.event = 'LoanRepaid' "
                               "ORDER BY e.block_number DESC, e.log_index DESC")
    assert [tuple(r[:2]) for r in events] == [tuple(r) for r in expected_events]
    assert set(totals) == {len(expected_events)}
    for sort in analytics.EXPOSURE_SORTS:
        ranked: list[Any] = []
        cursor = None
        while True:
            page = analytics.ranked_exposures(db, sort=sort, limit=7, cursor=cursor)
            ranked += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len({e.borrower for e in ranked}) == BORROWERS + BANKS == page.total, sort
        keys = {"utilisation": lambda e: (e.utilisation is None, -(e.utilisation or 0.0), -e.risk_weighted_balance,
                                          e.borrower),
                "balance": lambda e: (-e.risk_weighted_balance, e.borrower),
                "headroom": lambda e: (e.limit == 0, e.headroom, e.borrower), "borrower": lambda e: (e.borrower,)}
        assert ranked == sorted(ranked, key=keys[sort]), sort
    near = analytics.ranked_exposures(db, min_utilisation=0.5, limit=1000)
    assert all(e.utilisation is not None and e.utilisation >= 0.5 for e in near.items) and near.total == len(near.items)
    biggest_page = analytics.borrower_page(db, biggest)
    assert (biggest_page.exposure.borrower == biggest and len(biggest_page.loans.rows) == 50
            and biggest_page.loans.next_cursor)


def test_reprojection_gives_the_same_tables(book: Any) -> None:
    db, logs = book
    before = dump(db)
    assert stored_contracts(db)  # the ABIs are in the database
    assert IndexStore(db, XborderProjection()).reproject(chunk=4_000) == logs
    assert not dump_diff({t: before[t] for t in PROJECTED}, {t: dump(db)[t] for t in PROJECTED})
