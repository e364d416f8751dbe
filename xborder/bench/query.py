"""Regulator queries at 2022 size (issue #14): 1,000,000 loans of 12,000 enterprises through 300
banks, with 200 foreign creditors, on SQLite and on PostgreSQL.

The index is built through the indexer's own write path, not by SQL: every event is ABI-encoded
into an `eth_getLogs` entry with the compiled contracts' ABIs (topics, data, block and tx hashes,
as a node returns it), then decoded, stored raw and projected exactly as `Indexer` does
(`store.decode_logs` + `IndexStore.write`, ~20,000 logs per transaction). Then every query the API
exposes is timed (p50 and p99, warm), with the 50 ms p99 target beside the ones #14 names.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak
from faster_eth_abi import encode as abi_encode

from xborder.bench.results import Results, Row
from xborder.build.compiler import compile_project
from xborder.config import PROJECT_ROOT
from xborder.domain.limits import repayment_reduction
from xborder.index import analytics, open_database, queries
from xborder.index.decode import EventDecoder, abi_type, event_signature
from xborder.index.identity import ChainIdentity, record_identity
from xborder.index.policy import ceil_cny
from xborder.index.projection import XborderProjection
from xborder.index.store import IndexedContract, IndexStore, LogBatch, decode_logs

SECTION = "query"
CONTRACTS = ("InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger")
ADDRESSES = {name: "0x" + f"{i + 1:040x}" for i, name in enumerate(CONTRACTS)}
REGULATOR = "0x" + "ee" * 20
CURRENCIES = [(b"USD", 710_000_000), (b"USD", 710_000_000), (b"USD", 710_000_000), (b"EUR", 780_000_000),
              (b"HKD", 91_000_000), (b"CNY", 100_000_000), (b"JPY", 4_700_000)]
COUNTRIES = [b"HK", b"SG", b"US", b"GB", b"DE", b"JP", b"FR", b"KR"]
START_TIME = 1_551_398_400  # 2019-03-01
SPAN = 1_096 * 86_400  # to 2022-03-01
LOGS_PER_BLOCK = 500
LOGS_PER_BATCH = 20_000
#: The adjustment parameter as it moved (docs/benchmarks.md): 1.25 from 11 March 2020, back to 1.0
#: for financial institutions from 11 December 2020 and for enterprises from 7 January 2021.
POLICY_CALENDAR = [(1_583_884_800, 4, 12_500), (1_583_884_800, 5, 12_500), (1_607_644_800, 5, 10_000),
                   (1_609_977_600, 4, 10_000)]
TARGET_P99_MS = 50.0
#: The PostgreSQL cluster of the section (durable: fsync stays on, as in production).
POSTGRES_SETTINGS = {"shared_buffers": "256MB", "synchronous_commit": "off", "max_wal_size": "4GB"}


def _topic(type_str: str, value: Any) -> str:
    """One indexed argument as a topic (the static types of these events)."""
    if type_str.startswith("uint"):
        return f"0x{int(value):064x}"
    if type_str == "address":
        return "0x" + "0" * 24 + str(value)[2:].lower()
    return "0x" + abi_encode([type_str], [value]).hex()


def _word_encoder(type_str: str) -> Callable[[Any], bytes]:
    """The encoder of one static value as its 32-byte ABI word (the types of these events' data)."""
    if type_str == "address":
        return lambda value: bytes(12) + bytes.fromhex(str(value)[2:])
    if type_str.startswith("bytes"):
        return lambda value: bytes(value).ljust(32, b"\0")
    signed = type_str.startswith("int")
    return lambda value: int(value).to_bytes(32, "big", signed=signed)


def _dynamic(value: Any) -> tuple[bytes, bytes]:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return len(raw).to_bytes(32, "big"), raw.ljust(-(-len(raw) // 32) * 32, b"\0")


def data_encoder(types: list[str]) -> Callable[[list[Any]], bytes]:
    """`faster_eth_abi.encode(types, values)` for one-word static types, static tuples of them and
    `bytes`/`string`, compiled once per event (the workload's values are valid by construction:
    nothing to validate, ~5x faster; `LogEncoder` checks the first entry of each event against
    faster_eth_abi)."""
    plan: list[tuple[int, Any]] = []  # (0 word | 1 tuple | 2 dynamic, encoder(s))
    for t in types:
        if t.startswith("("):
            plan.append((1, [_word_encoder(part) for part in t[1:-1].split(",")]))
        elif t in ("bytes", "string"):
            plan.append((2, _dynamic))
        else:
            plan.append((0, _word_encoder(t)))
    head_size = 32 * sum(len(how) if kind == 1 else 1 for kind, how in plan)

    def encode(values: list[Any]) -> bytes:
        head: list[bytes] = []
        tail: list[bytes] = []
        offset = head_size
        for (kind, how), value in zip(plan, values, strict=True):
            if kind == 0:
                head.append(how(value))
            elif kind == 1:
                head += [word(v) for word, v in zip(how, value, strict=True)]
            else:
                size, padded = how(value)
                head.append(offset.to_bytes(32, "big"))
                tail += [size, padded]
                offset += 32 + len(padded)
        return b"".join(head + tail)

    return encode


class LogEncoder:
    """eth_getLogs entries of events given by name and argument dict, from the contracts' ABIs."""

    def __init__(self, abis: dict[str, list[dict[str, Any]]]) -> None:
        self._specs: dict[str, tuple[str, str, list[tuple[str, str]], list[tuple[str, str]]]] = {}
        self._encoders: dict[str, Callable[[list[Any]], bytes]] = {}
        for contract, abi in abis.items():
            for item in abi:
                if item.get("type") == "event":
                    inputs = item.get("inputs", [])
                    data = [(str(p["name"]), abi_type(p)) for p in inputs if not p.get("indexed")]
                    self._specs[str(item["name"])] = (
                        ADDRESSES[contract], "0x" + keccak(text=event_signature(item)).hex(),
                        [(str(p["name"]), abi_type(p)) for p in inputs if p.get("indexed")], data)
                    self._encoders[str(item["name"])] = data_encoder([t for _, t in data])
        self.block = 1
        self.index = 0
        self._checked: set[str] = set()

    def entry(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        address, topic0, indexed, data = self._specs[name]
        topics = [topic0] + [_topic(t, args[n]) for n, t in indexed]
        values = [args[n] for n, _ in data]
        body = self._encoders[name](values)
        if name not in self._checked:
            assert body == abi_encode([t for _, t in data], values), f"the bench's encoding of {name} is not the ABI's"
            self._checked.add(name)
        log_index, block = self.index, self.block
        self.index += 1
        if self.index == LOGS_PER_BLOCK:
            self.block, self.index = self.block + 1, 0
        return {"address": address, "topics": topics, "data": "0x" + body.hex(), "blockNumber": hex(block),
                "blockHash": "0x" + f"{block:064x}", "transactionIndex": hex(log_index),
                "transactionHash": "0x" + f"{block:032x}{log_index:032x}", "logIndex": hex(log_index)}


@dataclass
class Book:
    """The seeded 2022-size workload's bookkeeping."""

    banks: list[int] = field(default_factory=list)
    creditors: list[int] = field(default_factory=list)
    borrowers: list[int] = field(default_factory=list)
    balance: dict[int, int] = field(default_factory=dict)
    loans_of: dict[int, int] = field(default_factory=dict)


def _weighted(amount: int, rate: int) -> int:
    """ceil(ceil(amount x rate / 1e8) x 1.5): the ledger's contribution at weight 15,000 bps."""
    return -(-ceil_cny(amount, rate) * 15_000 // 10**4)


def workload(encoder: LogEncoder, loans: int, borrowers: int, banks: int, creditors: int,
             seed: int = 5) -> Iterator[dict[str, Any]]:
    """Registrations, rates, the policy calendar, then per loan (ledger v2 events): recorded
    (co-signed, Active, submitted by a bank acting for the creditor) and drawn; some repaid, some
    closed, a few cancelled (never confirmed) or defaulted (still counting; half written off)."""
    rng, book = random.Random(seed), Book()
    total_blocks = (loans * 24 // 10 + borrowers + banks + creditors) // LOGS_PER_BLOCK + 1

    def now() -> int:
        return START_TIME + SPAN * encoder.block // total_blocks

    yield from _institutions(encoder, rng, book, borrowers, banks, creditors)
    calendar = list(POLICY_CALENDAR)
    for _ in range(loans):
        while calendar and now() >= calendar[0][0]:
            _, parameter, value = calendar.pop(0)
            yield encoder.entry("ParameterUpdated", {"parameter": parameter, "oldValue": 0, "newValue": value})
        yield from _loan(encoder, rng, book, now())


def _institutions(encoder: LogEncoder, rng: random.Random, book: Book, borrowers: int, banks: int,
                  creditors: int) -> Iterator[dict[str, Any]]:
    iid = 0
    for count, kind, bucket in ((banks, 0, book.banks), (creditors, 4, book.creditors), (borrowers, 3, book.borrowers)):
        for _ in range(count):
            iid += 1
            bucket.append(iid)
            yield encoder.entry("InstitutionRegistered", {
                "institutionId": iid, "admin": "0x" + f"{iid:040x}", "kind": kind,
                "identifier": f"LEI{iid:017d}".encode().ljust(20, b"\0"),
                "jurisdiction": rng.choice(COUNTRIES) if kind == 4 else b"CN",
                "capitalBase": int(10 ** rng.uniform(8, 11.5)) if kind != 4 else 0, "name": f"Institution {iid}"})
    for currency, rate in sorted(set(CURRENCIES)):
        yield encoder.entry("ReferenceRateUpdated", {"currency": currency, "oldRate": 0, "newRate": rate,
                                                     "updatedAt": START_TIME})


def _loan(encoder: LogEncoder, rng: random.Random, book: Book, now: int) -> Iterator[dict[str, Any]]:
    borrower = book.borrowers[int(len(book.borrowers) * rng.random() ** 2)]
    book.loans_of[borrower] = book.loans_of.get(borrower, 0) + 1
    loan_id = borrower << 32 | book.loans_of[borrower]
    creditor, bank = rng.choice(book.creditors), rng.choice(book.banks)
    currency, rate = rng.choice(CURRENCIES)
    principal = int(rng.lognormvariate(16, 1.2)) + 100
    value = now - rng.randrange(0, 20) * 86_400
    fate = rng.random()
    status = 1 if fate < 0.02 else 2
    days = rng.choice([180, 365, 720])
    request = (borrower, creditor, currency, principal, value, value + days * 86_400, 1, rng.randbytes(32),
               rng.randbytes(32))
    balance = book.balance.get(borrower, 0)
    yield encoder.entry("LoanRecorded", {
        "loanId": loan_id, "borrower": borrower, "creditor": creditor, "recorder": bank, "status": status,
        "request": request, "shortTerm": days <= 365, "confirmBy": now + 30 * 86_400,
        "borrowerConsented": status == 2, "creditorConsented": True, "borrowerBalance": balance, "terms": b""})
    if status == 1:  # never confirmed: cancelled
        yield encoder.entry("LoanCancelled", {"loanId": loan_id, "borrower": borrower, "by": bank,
                                              "borrowerBalance": balance})
        return
    draw = principal // 2 + 1
    weight = _weighted(draw, rate)
    book.balance[borrower] = balance = balance + weight
    yield encoder.entry("LoanDrawn", {"loanId": loan_id, "borrower": borrower, "by": bank, "amount": draw,
                                      "drawn": draw, "outstanding": draw, "rate": rate, "weightBps": 15_000,
                                      "contributionAdded": weight, "borrowerBalance": balance})
    if fate > 0.7:
        repaid = draw if fate > 0.92 else draw // 2
        outstanding = draw - repaid
        removed = repayment_reduction(weight, draw, repaid)  # pro rata, as the ledger
        book.balance[borrower] = balance = balance - removed
        yield encoder.entry("LoanRepaid", {"loanId": loan_id, "borrower": borrower, "by": bank, "amount": repaid,
                                           "outstanding": outstanding, "contributionRemoved": removed,
                                           "borrowerBalance": balance})
        if outstanding == 0:
            yield encoder.entry("LoanClosed", {"loanId": loan_id, "borrower": borrower, "by": bank,
                                               "borrowerBalance": balance})
    elif fate < 0.025:  # declared by the bank as the creditor's agent: still counts until written off
        yield encoder.entry("LoanDefaulted", {"loanId": loan_id, "borrower": borrower, "by": bank,
                                              "creditor": creditor, "byAgent": True, "outstanding": draw,
                                              "borrowerBalance": balance})
        if fate < 0.0225:
            book.balance[borrower] = balance = balance - weight
            yield encoder.entry("LoanWrittenOff", {"loanId": loan_id, "borrower": borrower, "by": REGULATOR,
                                                   "outstanding": draw, "contributionRemoved": weight, "reason": 6,
                                                   "borrowerBalance": balance})


def contracts() -> list[IndexedContract]:
    artifacts = compile_project(PROJECT_ROOT)
    return [IndexedContract(name, ADDRESSES[name], artifacts[name].abi, 1) for name in CONTRACTS]


def load(db_url: str, loans: int, borrowers: int = 12_000, banks: int = 300, creditors: int = 200,
         seed: int = 5) -> tuple[float, int]:
    """Build the index of the seeded workload through the indexer's write path; (seconds, logs)."""
    indexed = contracts()
    db = open_database(db_url)
    store = IndexStore(db, XborderProjection())
    decoder = EventDecoder([(c.name, c.address, c.abi) for c in indexed])
    contract_of = {c.address: c.name for c in indexed}
    with db.transaction():
        record_identity(db, ChainIdentity(1, "0x" + "00" * 32, 1, "0x" + f"{1:064x}"), indexed)
        db.execute("INSERT INTO checkpoint (id, chain_id, block_number, block_hash) VALUES (1, 1, 0, ?)", ("0x" + "00" * 32,))
    encoder = LogEncoder({c.name: c.abi for c in indexed})
    total_blocks = (loans * 24 // 10 + borrowers + banks + creditors) // LOGS_PER_BLOCK + 1
    started = time.perf_counter()
    count = 0
    entries: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal count
        rows, events = decode_logs(entries, decoder, contract_of)
        numbers = {r[0] for r in rows}
        blocks = {n: ("0x" + f"{n:064x}", "0x" + f"{n - 1:064x}", START_TIME + SPAN * n // total_blocks)
                  for n in numbers}
        last = max(numbers)
        store.write(LogBatch(rows, events, blocks), last, blocks[last][0])
        count += len(rows)
        entries.clear()

    for entry in workload(encoder, loans, borrowers, banks, creditors, seed):
        entries.append(entry)
        if len(entries) >= LOGS_PER_BATCH and entry["logIndex"] == hex(LOGS_PER_BLOCK - 1):
            flush()
    if entries:
        flush()
    seconds = time.perf_counter() - started
    db.close()
    return seconds, count


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def cases(db: Any, rng: random.Random, borrowers: list[int]) -> list[tuple[str, Callable[[], object], bool]]:
    """(name, query, has the #14 target) for every query the API exposes."""
    heavy = borrowers[0]
    first = queries.list_loans(db, currency="USD", creditor_country="HK", limit=50)
    deep = first
    for _ in range(20):  # page 21 of a filtered listing: keyset pages cost what page 1 costs
        deep = queries.list_loans(db, currency="USD", creditor_country="HK", limit=50, cursor=deep.next_cursor)
    near = analytics.ranked_exposures(db, sort="utilisation", limit=50)
    return [
        ("totals by currency", lambda: queries.totals(db, "currency"), True),
        ("totals by creditor country (Active)", lambda: queries.totals(db, "creditor_country", status="Active"), True),
        ("totals by bank", lambda: queries.totals(db, "bank"), True),
        ("totals by financing type", lambda: queries.totals(db, "financing_type"), False),
        ("volumes by month (with CNY)", lambda: analytics.volumes_with_cny(db, "month"), True),
        ("volumes by day (with CNY)", lambda: analytics.volumes_with_cny(db, "day"), False),
        ("borrowers nearest their limits, 50", lambda: analytics.ranked_exposures(db, sort="utilisation", limit=50),
         True),
        ("borrowers nearest their limits, page 2", lambda: analytics.ranked_exposures(
            db, sort="utilisation", limit=50, cursor=near.next_cursor), False),
        ("borrowers >= 90 % of their limit", lambda: analytics.ranked_exposures(db, min_utilisation=0.9, limit=50), False),
        ("borrower page (exposure + 50 loans + 20 events)",
         lambda: analytics.borrower_page(db, rng.choice(borrowers)), True),
        ("borrower page, the biggest borrower", lambda: analytics.borrower_page(db, heavy), True),
        ("borrower exposure", lambda: queries.borrower_exposure(db, rng.choice(borrowers)), False),
        ("loans page: newest 100", lambda: queries.list_loans(db, limit=100), False),
        ("loans page: a borrower's Active loans, 50", lambda: queries.list_loans(
            db, borrower=rng.choice(borrowers), status="Active", limit=50), False),
        ("loans page: USD from HK creditors, page 21", lambda: queries.list_loans(
            db, currency="USD", creditor_country="HK", limit=50, cursor=deep.next_cursor), False),
        ("loans page: value dates in one month", lambda: queries.list_loans(
            db, value_date_from=1_600_000_000, value_date_to=1_602_592_000, limit=50), False),
        ("events page: newest 20", lambda: analytics.latest_events(db, limit=20), False),
        ("events page: a borrower's, 20", lambda: analytics.latest_events(db, borrower=rng.choice(borrowers), limit=20),
         False),
        ("events page: LoanRepaid in JPY, 20", lambda: analytics.latest_events(db, currency="JPY", event="repaid",
                                                                                 limit=20), False),
        ("one loan (detail + history)", lambda: (analytics.loan_detail(db, heavy << 32 | 1),
                                                 queries.loan_history(db, heavy << 32 | 1)), False),
        ("summary (headline figures)", lambda: analytics.summary(db), False),
    ]


def run_engine(results: Results, db_url: str, engine: str, *, loans: int, borrowers: int, repeat: int) -> None:
    seconds, count = load(db_url, loans, borrowers=borrowers)
    results.add(Row(SECTION, f"{engine}: load through the indexer's write path", count / seconds, "logs/s",
                    note=f"{count:,} logs ({loans:,} loans, {borrowers:,} borrowers) in {seconds:.0f}s"))
    db = open_database(db_url)
    db.execute("ANALYZE")  # planner statistics, as a long-running index would have
    rng = random.Random(9)
    ids = queries.borrowers(db)
    by_loans = [int(r[0]) for r in db.query("SELECT borrower FROM borrower_positions ORDER BY loans DESC LIMIT 1")]
    for name, fn, targeted in cases(db, rng, by_loans + ids):
        fn()  # warm
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - started) * 1000)
        p50, p99 = statistics.median(timings), _p(timings, 0.99)
        results.add(Row(SECTION, f"{engine}: {name}: p99", p99, "ms", target=f"< {TARGET_P99_MS:g}" if targeted else "",
                        note=f"p50 {p50:.2f} ms, {repeat} runs"))
    db.close()


def run(results: Results, workdir: Path, *, loans: int, borrowers: int = 12_000, repeat: int = 100,
        engines: tuple[str, ...] = ("sqlite", "postgresql")) -> None:
    if "sqlite" in engines:
        path = workdir / "query.db"
        path.unlink(missing_ok=True)
        run_engine(results, f"sqlite:///{path}", "sqlite", loans=loans, borrowers=borrowers, repeat=repeat)
    if "postgresql" in engines:
        from xborder.bench.postgres import postgres_database

        with postgres_database(settings=POSTGRES_SETTINGS) as url:
            run_engine(results, url, "postgresql", loans=loans, borrowers=borrowers, repeat=repeat)
