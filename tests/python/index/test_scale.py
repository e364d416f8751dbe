"""At 1,000,000 indexed loans a borrower's exposure query has a median under 10 ms."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import pytest

from xborder.index import open_database
from xborder.index.queries import borrower_exposure, list_loans

LOANS = 1_000_000
BORROWERS = 2_000


@pytest.mark.slow
def test_exposure_query_median_under_10ms_at_a_million_loans(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'big.db'}")
    rng = random.Random(1)
    with db.transaction():
        db.executemany(
            "INSERT INTO institutions VALUES (?, 3, ?, 'CN', ?, 1, ?, '0x00', 1, 0, 1)",
            [(i, f"LEI{i:017d}", f"Institution {i}", 10**10) for i in range(1, BORROWERS + 1)])
        batch, events = [], []
        for n in range(LOANS):
            borrower = rng.randrange(1, BORROWERS + 1)
            loan_id = borrower << 32 | n
            outstanding = rng.randrange(0, 10**8)
            batch.append((loan_id, borrower, 1, 1, rng.choice(["USD", "CNY", "EUR"]), 1, 10**8, 710_000_000,
                          1_700_000_000 + n, "0x", "0x", 10 + n // 100, 0, "0x", rng.choice([1, 2, 2, 3]), outstanding,
                          outstanding, 1_800_000_000, 15000, outstanding, 10 + n // 100))
            events.append((10 + n // 100, n % 100, 0, "0x", 0, loan_id, borrower, "LoanDrawn", 1, None, None,
                           2, outstanding, outstanding, 1_800_000_000, 15000, outstanding, rng.randrange(10**9)))
            if len(batch) == 50_000:
                db.executemany(f"INSERT INTO loans VALUES ({', '.join('?' * 21)})", batch)
                db.executemany(f"INSERT INTO loan_events VALUES ({', '.join('?' * 18)})", events)
                batch, events = [], []
        db.execute("INSERT INTO checkpoint VALUES (1, 31337, 10100, '0x')")
    db.execute("ANALYZE")
    timings = []
    for _ in range(300):
        borrower = rng.randrange(1, BORROWERS + 1)
        started = time.perf_counter()
        exposure = borrower_exposure(db, borrower)
        timings.append(time.perf_counter() - started)
        assert exposure.limit == 10**10 * 20000 * 17500 // 10**8
    median = statistics.median(timings)
    started = time.perf_counter()
    page = list_loans(db, borrower=7, status="Active", limit=50)
    listing = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n{LOANS:,} loans: borrower exposure median {median * 1000:.2f} ms, p95 "
              f"{sorted(timings)[int(len(timings) * 0.95)] * 1000:.2f} ms; a page of a borrower's loans "
              f"{listing * 1000:.1f} ms ({page.total} loans)")
    assert median < 0.010
