"""Regulator queries at 1,000,000 indexed loans. The loans are loaded through the indexer's own
write path (`XborderProjection.apply` on decoded events, batch by batch in one transaction each,
as `Indexer._write_batch` does), never with hand-written SQL; then the API's query functions are
timed: a borrower's exposure, a filtered listing page, the totals."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xborder.bench.results import Results, Row
from xborder.index import open_database
from xborder.index.decode import DecodedEvent
from xborder.index.projection import XborderProjection
from xborder.index.queries import borrower_exposure, list_loans, totals

SECTION = "query"
CURRENCIES = [b"USD", b"USD", b"USD", b"EUR", b"HKD", b"CNY", b"JPY"]
COUNTRIES = [b"HK", b"SG", b"US", b"GB", b"DE", b"JP"]
EVENTS_PER_BLOCK = 500
BATCH_BLOCKS = 40  # 20,000 events per write transaction


def _ev(name: str, args: dict[str, Any], block: int, log_index: int, contract: str) -> DecodedEvent:
    return DecodedEvent(contract, name, args, "0x" + "11" * 20, block, "0x" + f"{block:064x}", 0,
                        "0x" + f"{block:032x}{log_index:032x}", log_index)


def load(db_url: str, loans: int, borrowers: int, creditors: int, seed: int = 5) -> tuple[float, int]:
    """Registrations, then per loan a LoanRecorded (Active, as co-signed) and a LoanDrawn."""
    rng = random.Random(seed)
    db = open_database(db_url)
    projection = XborderProjection()
    events: list[DecodedEvent] = []
    block = 1
    count = 0
    started = time.perf_counter()

    def flush() -> None:
        nonlocal events, count
        if not events:
            return
        times = {e.block_number: 1_600_000_000 + e.block_number for e in events}
        with db.transaction():
            projection.apply(db, events, times)
        count += len(events)
        events = []

    def emit(name: str, args: dict[str, Any], contract: str = "LoanLedger") -> None:
        nonlocal block
        events.append(_ev(name, args, block, len(events) % EVENTS_PER_BLOCK, contract))
        if len(events) % EVENTS_PER_BLOCK == 0:
            block += 1
            if len(events) >= EVENTS_PER_BLOCK * BATCH_BLOCKS:
                flush()

    for i in range(1, creditors + borrowers + 1):
        creditor = i <= creditors
        emit("InstitutionRegistered", {
            "institutionId": i, "admin": "0x" + f"{i:040x}", "kind": 4 if creditor else 3,
            "identifier": f"LEI{i:017d}".encode(), "jurisdiction": COUNTRIES[i % len(COUNTRIES)] if creditor else b"CN",
            "capitalBase": 0 if creditor else rng.randrange(10**9, 10**11) * 100, "name": f"Institution {i}"},
            "InstitutionRegistry")
    flush()
    n_of: dict[int, int] = {}
    balance: dict[int, int] = {}
    for _ in range(loans):
        borrower = creditors + 1 + int(borrowers * rng.random() ** 2)  # some borrow much more than others
        n_of[borrower] = n_of.get(borrower, 0) + 1
        loan_id = borrower << 32 | n_of[borrower]
        lender = rng.randrange(1, creditors + 1)
        principal = rng.randrange(10**6, 10**10)
        value = 1_546_300_800 + rng.randrange(300) * 86_400
        request = (borrower, lender, rng.choice(CURRENCIES), principal, value, value + 400 * 86_400, 1,
                   rng.randbytes(32), rng.randbytes(32))
        emit("LoanRecorded", {"loanId": loan_id, "borrower": borrower, "creditor": lender, "recorder": lender,
                              "status": 2, "request": request, "rate": 703_830_000, "weightBps": 15_000,
                              "borrowerBalance": balance.get(borrower, 0), "terms": b""})
        draw = principal // 2
        balance[borrower] = balance.get(borrower, 0) + draw
        emit("LoanDrawn", {"loanId": loan_id, "borrower": borrower, "amount": draw, "drawn": draw,
                           "outstanding": draw, "borrowerBalance": balance[borrower]})
    flush()
    seconds = time.perf_counter() - started
    db.close()
    return seconds, count


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(results: Results, workdir: Path, *, loans: int, borrowers: int = 2_000, creditors: int = 60) -> None:
    path = workdir / "query.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    seconds, count = load(url, loans, borrowers, creditors)
    results.add(Row(SECTION, "load through the projection (write path)", count / seconds, "events/s",
                    note=f"{count:,} events ({loans:,} loans) in {seconds:.1f}s"))
    db = open_database(url)
    rng = random.Random(9)
    ids = range(creditors + 1, creditors + borrowers + 1)
    cases: list[tuple[str, Callable[[], object], int, str]] = [
        ("borrower exposure", lambda: borrower_exposure(db, rng.choice(ids)), 500, "< 10"),
        ("listing page: a borrower's Active loans, 50", lambda: list_loans(db, borrower=rng.choice(ids),
                                                                            status="Active", limit=50), 200, ""),
        ("listing page: USD loans from HK creditors, 50, random offset",
         lambda: list_loans(db, currency="USD", creditor_country="HK", limit=50),
         10, ""),
        ("totals by currency", lambda: totals(db, "currency"), 5, ""),
        ("totals by creditor country (Active)", lambda: totals(db, "creditor_country", status="Active"), 5, ""),
    ]
    for name, fn, repeat, target in cases:
        fn()  # warm the page cache once
        timings = [t * 1000 for t in _time(fn, repeat)]
        median, p99 = statistics.median(timings), _p(timings, 0.99)
        results.add(Row(SECTION, f"{name}: median", median, "ms", target=target,
                        note=f"p99 {p99:.2f} ms, {repeat} runs"))
    db.close()
