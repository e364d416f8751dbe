"""The indexer's fast path (raw eth_getLogs + compiled decoding + batched inserts) and the plain
web3.py path (`contract.events.X.get_logs`) read the same rows from the same chain.

Speed is NOT checked here (house rule: no timed unit tests). The throughput target
(>= 20,000 events/s, >= 10x the web3.py path) is measured by `python -m xborder.bench --only index`;
see docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from xborder.index import Indexer, open_database

from .helpers import Emitters, Workload

EVENTS = 1_500
PER_TX = 500


def test_fast_path_and_web3_path_produce_identical_rows(w3: Web3, emitters: Emitters, tmp_path: Path) -> None:
    work = Workload(emitters, seed=1)
    work.setup(institutions=3)
    work.run(40)  # a mix of registry, policy and ledger events
    loan_id = 1 << 32 | 999
    request = (1, 2, b"USD", 10**15, 1_700_000_000, 1_800_000_000, 1, b"\x01" * 32, b"\x02" * 32)
    emitters.send(emitters.ledger.functions.loanRecorded(loan_id, 2, 2, request, False, 0))
    for i in range(EVENTS // PER_TX):
        emitters.ledger.functions.drawMany(loan_id, 1, i * PER_TX, i * PER_TX, PER_TX).transact(
            {"from": w3.eth.accounts[0], "gas": 29_000_000})

    db = open_database(f"sqlite:///{tmp_path / 'fast.db'}")
    Indexer(db, w3, emitters.contracts(), batch_blocks=7).run()  # several batches
    fast = sorted((int(b), int(i), str(t).lower(), str(e), int(lid), int(bo), None if a is None else int(a),
                   int(bal)) for b, i, t, e, lid, bo, a, bal in db.query(
        "SELECT block_number, log_index, tx_hash, event, loan_id, borrower, amount, borrower_balance "
        "FROM loan_events"))
    assert sum(1 for row in fast if row[3] == "LoanDrawn" and row[4] == loan_id) == EVENTS

    ledger = w3.eth.contract(address=emitters.ledger.address, abi=emitters.ledger.abi)
    plain = []
    for event in (ledger.events.LoanRecorded, ledger.events.LoanDrawn, ledger.events.LoanRepaid,
                  ledger.events.LoanClosed):
        for log in event.get_logs(from_block=emitters.start_block, to_block=w3.eth.block_number):
            a = log["args"]
            plain.append((log["blockNumber"], log["logIndex"], "0x" + log["transactionHash"].hex().removeprefix("0x"),
                          log["event"], a["loanId"], a["borrower"], a.get("amount"), a["borrowerBalance"]))
    assert fast == sorted(plain)
