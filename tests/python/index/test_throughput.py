"""Throughput: decoding + inserting events end to end into SQLite, against the plain web3.py path
(`contract.events.X.get_logs` per event type, row-by-row inserts). Prints the figures.

Targets (the issue): >= 20,000 events/s, >= 10x the web3.py path.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from web3 import Web3

from xborder.index import Indexer, open_database

from .helpers import Emitters, Workload

EVENTS = 100_000
PER_TX = 2_000
WEB3_SAMPLE = 10_000


@pytest.mark.slow
def test_indexer_throughput_beats_the_web3_path(w3: Web3, emitters: Emitters, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    work = Workload(emitters, seed=1)
    work.setup(institutions=2)
    loan_id = 1 << 32 | 1
    request = (1, 2, b"USD", 10**15, 1_700_000_000, 1_800_000_000, 1, b"\x01" * 32, b"\x02" * 32)
    emitters.send(emitters.ledger.functions.loanRecorded(loan_id, 2, 2, request, 710_000_000, 15000, 0))
    first = w3.eth.block_number + 1
    for i in range(EVENTS // PER_TX):
        emitters.ledger.functions.drawMany(loan_id, 1, i * PER_TX, i * PER_TX, PER_TX).transact(
            {"from": w3.eth.accounts[0], "gas": 29_000_000})
    last = w3.eth.block_number

    db = open_database(f"sqlite:///{tmp_path / 'fast.db'}")
    started = time.perf_counter()
    stats = Indexer(db, w3, emitters.contracts(), batch_blocks=10_000).run()
    fast_seconds = time.perf_counter() - started
    indexed = db.query_one("SELECT COUNT(*) FROM loan_events WHERE event = 'LoanDrawn'")[0]
    assert indexed == EVENTS
    assert db.query_one("SELECT drawn, outstanding FROM loans WHERE loan_id = ?", (loan_id,)) == (EVENTS, EVENTS)
    fast_rate = stats.events / fast_seconds

    # The plain web3.py path over the first WEB3_SAMPLE drawdowns.
    sample_last = first + (WEB3_SAMPLE // PER_TX) - 1
    ledger = w3.eth.contract(address=emitters.ledger.address, abi=emitters.ledger.abi)
    conn = sqlite3.connect(tmp_path / "slow.db")
    conn.execute("CREATE TABLE drawn (block_number, log_index, tx_hash, loan_id, borrower, amount, drawn, "
                 "outstanding, balance)")
    started = time.perf_counter()
    count = 0
    for event in (ledger.events.LoanDrawn, ledger.events.LoanRepaid, ledger.events.LoanRecorded):
        for log in event.get_logs(from_block=first, to_block=sample_last):
            a = log["args"]
            conn.execute("INSERT INTO drawn VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                log["blockNumber"], log["logIndex"], log["transactionHash"].hex(), a["loanId"],
                a["borrower"], a.get("amount"), a.get("drawn"), a.get("outstanding"), a["borrowerBalance"]))
            count += 1
    conn.commit()
    slow_seconds = time.perf_counter() - started
    assert count == WEB3_SAMPLE
    slow_rate = count / slow_seconds
    with capsys.disabled():
        print(f"\nindexer: {stats.events} events in {fast_seconds:.2f}s = {fast_rate:,.0f} events/s "
              f"({stats.batches} batches, blocks {first}..{last}); web3.py path: {count} events in "
              f"{slow_seconds:.2f}s = {slow_rate:,.0f} events/s; ratio {fast_rate / slow_rate:.1f}x")
    assert fast_rate >= 20_000
    assert fast_rate >= 10 * slow_rate
