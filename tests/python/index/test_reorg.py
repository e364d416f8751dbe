"""Reorgs: events that left the canonical chain leave the database; the new ones come in."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from xborder.index import Indexer, open_database

from .helpers import Emitters, Workload, dump, dump_diff, one_row


def _fresh_dump(db_url_suffix: str, w3: Web3, emitters: Emitters, tmp_url: str) -> dict[str, list[tuple[str, ...]]]:
    fresh = open_database(tmp_url)
    Indexer(fresh, w3, emitters.contracts()).run()
    out = dump(fresh)
    fresh.close()
    return out


@pytest.mark.parametrize("how", ["snapshot-revert", "anvil_reorg"])
def test_reorg_rolls_back_and_reindexes(how: str, db_url: str, w3: Web3, emitters: Emitters,
                                        tmp_path: Path) -> None:
    work = Workload(emitters, seed=7)
    work.setup()
    work.run(20)
    fork_point = w3.eth.block_number
    snapshot = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    branch_a = work.fork(seed=100)
    branch_a.run(25)
    db = open_database(db_url)
    indexer = Indexer(db, w3, emitters.contracts(), batch_blocks=4)
    indexer.run()
    orphaned = {r[0] for r in db.query("SELECT tx_hash FROM loan_events WHERE block_number > ?", (fork_point,))}
    assert orphaned, "branch A left loan events in the index"

    if how == "snapshot-revert":
        assert w3.provider.make_request(RPCEndpoint("evm_revert"), [snapshot])["result"]
        branch_b = work.fork(seed=200)
        branch_b.run(35)  # longer than branch A: the node switches to it
    else:
        # Replace the last 10 blocks by empty ones (anvil keeps the height).
        reply = w3.provider.make_request(RPCEndpoint("anvil_reorg"), [10, []])
        assert "error" not in reply, reply
    new_head = w3.eth.block_number
    stats = Indexer(db, w3, emitters.contracts(), batch_blocks=4).run()
    assert stats.reorgs == 1 and stats.checkpoint == new_head

    canonical = {r[0] for r in db.query("SELECT tx_hash FROM loan_events WHERE block_number > ?", (fork_point,))}
    for tx in orphaned:
        receipt_block = db.query_one("SELECT block_number FROM loan_events WHERE tx_hash = ?", (tx,))
        if receipt_block is not None:  # still there only if the tx is canonical now
            assert w3.eth.get_transaction_receipt(tx)["blockNumber"] == receipt_block[0]
    if how == "snapshot-revert":
        assert canonical and not (canonical & orphaned)
    head_hash = w3.eth.get_block(new_head)["hash"].hex()
    assert one_row(db, "SELECT block_hash FROM checkpoint")[0].removeprefix("0x") == head_hash.removeprefix("0x")
    # The database equals a fresh index of the canonical chain, row for row.
    fresh_url = f"sqlite:///{tmp_path}/fresh.db"
    assert not dump_diff(dump(db), _fresh_dump("", w3, emitters, fresh_url))


def test_follow_mode_survives_a_reorg_with_confirmations(w3: Web3, emitters: Emitters, tmp_path: Path) -> None:
    work = Workload(emitters, seed=3)
    work.setup()
    work.run(10)
    db = open_database(f"sqlite:///{tmp_path}/follow.db")
    stop = threading.Event()
    seen: list[int] = []
    indexer = Indexer(db, w3, emitters.contracts(), confirmations=2,
                      on_batch=lambda s: seen.append(s.checkpoint))
    thread = threading.Thread(target=indexer.run, kwargs={"follow": True, "poll_interval": 0.05, "stop": stop})
    thread.start()
    try:
        work.run(10)
        # Let the follower index up to its confirmed depth first: the reorg must replace blocks it
        # has already indexed (5 deep > 2 confirmations), however slowly its thread started.
        _wait_for_checkpoint(db, w3.eth.block_number - 2)
        w3.provider.make_request(RPCEndpoint("anvil_reorg"), [5, []])
        work.fork(seed=4).run(5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = db.query_one("SELECT block_number FROM checkpoint")
            if row and row[0] == w3.eth.block_number - 2:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert indexer.stats.reorgs >= 1 and seen
    assert one_row(db, "SELECT block_number FROM checkpoint")[0] == w3.eth.block_number - 2
    fresh = open_database(f"sqlite:///{tmp_path}/fresh.db")
    Indexer(fresh, w3, emitters.contracts(), confirmations=2).run()
    assert not dump_diff(dump(db), dump(fresh))


def _wait_for_checkpoint(db: Any, block: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.query_one("SELECT block_number FROM checkpoint")
        if row and row[0] >= block:
            return
        time.sleep(0.02)
    raise AssertionError(f"the follower did not reach block {block} within {timeout:.0f}s")
