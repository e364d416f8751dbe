"""Many loans through the indexer's write path: the regulator's queries return the right figures.

Latency is NOT checked here (house rule: no timed unit tests). The target (median < 10 ms for a
borrower's exposure at 1,000,000 indexed loans) is measured by `python -m xborder.bench --only query`;
see docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

from xborder.bench.query import load
from xborder.index import open_database
from xborder.index.queries import borrower_exposure, list_loans, totals

LOANS = 5_000
BORROWERS = 40
CREDITORS = 6


def test_queries_agree_with_the_loaded_loans(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    _, events = load(url, LOANS, BORROWERS, CREDITORS)
    assert events == CREDITORS + BORROWERS + 2 * LOANS
    db = open_database(url)
    rows = db.query("SELECT borrower, currency, outstanding, status FROM loans")
    assert len(rows) == LOANS
    for borrower in range(CREDITORS + 1, CREDITORS + BORROWERS + 1, 7):
        mine = [r for r in rows if int(r[0]) == borrower]
        exposure = borrower_exposure(db, borrower)
        expected: dict[str, int] = {}
        for _, currency, outstanding, _status in mine:
            expected[str(currency)] = expected.get(str(currency), 0) + int(outstanding)
        assert exposure.outstanding == dict(sorted(expected.items()))
        assert exposure.active_loans == len(mine)
        capital = int(db.query_one("SELECT capital_base FROM institutions WHERE institution_id = ?", (borrower,))[0])
        assert exposure.limit == capital * 20000 * 17500 // 10**8
        assert exposure.risk_weighted_balance == sum(int(r[2]) for r in mine)  # the last event's balance
        page = list_loans(db, borrower=borrower, status="Active", limit=50)
        assert page.total == len(mine) and len(page.rows) == min(50, len(mine))
    by_currency = {r[0]: int(r[1]) for r in totals(db, "currency").rows}
    assert sum(by_currency.values()) == LOANS
    db.close()
