"""Crash safety: a backfill killed with SIGKILL at random instants and restarted ends with the
same database, row for row, as an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from web3 import Web3

from xborder.chain import LocalNode
from xborder.index import Indexer, open_database

from .helpers import Emitters, Workload, dump, one_row

HELPER = Path(__file__).resolve().parent / "helpers.py"


def test_kill_9_and_restart_loses_and_doubles_nothing(db_url: str, anvil: LocalNode, w3: Web3,
                                                     emitters: Emitters, tmp_path: Path) -> None:
    work = Workload(emitters, seed=11)
    work.setup(institutions=6)
    work.run(250)
    target = w3.eth.block_number
    contracts_file = tmp_path / "contracts.json"
    contracts_file.write_text(json.dumps([asdict(c) for c in emitters.contracts()]))
    argv = [sys.executable, str(HELPER), anvil.rpc_url, db_url, str(contracts_file), str(target), "1"]

    rng = random.Random(5)
    kills, progress = 0, []
    for round_ in range(20):
        # Kill at a random instant once the checkpoint passed the next of ten thresholds spread
        # over the backfill (polling the DB; random jitter around each); after 10 kills, let it
        # finish. Spreading the thresholds keeps the kill points distinct however loaded the
        # machine is.
        current = max(_checkpoint(db_url), emitters.start_block)
        span = target - emitters.start_block
        spot = emitters.start_block + span * (round_ + 1) // 12 + rng.randrange(0, max(span // 24, 1))
        threshold = max(current, spot) if round_ < 10 else target + 1
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _checkpoint(db_url) >= threshold:
                time.sleep(rng.uniform(0, 0.02))
                break
            time.sleep(0.003)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            progress.append(_checkpoint(db_url))
            continue
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        break
    else:
        raise AssertionError("the indexer never finished")
    assert kills >= 5, "the indexer must have been killed mid-backfill several times"
    assert len({p for p in progress if emitters.start_block <= p < target}) >= 3, progress

    crashed = open_database(db_url)
    reference = open_database(f"sqlite:///{tmp_path / 'reference.db'}")
    Indexer(reference, w3, emitters.contracts(), batch_blocks=1, max_batch_blocks=1).run(to_block=target)
    assert one_row(crashed, "SELECT block_number FROM checkpoint")[0] == target
    assert dump(crashed) == dump(reference)


def _checkpoint(db_url: str) -> int:
    try:
        db = open_database(db_url, migrate=False)
    except Exception:
        return -1
    try:
        if not db.table_exists("checkpoint"):
            return -1
        row = db.query_one("SELECT block_number FROM checkpoint")
        return int(row[0]) if row else -1
    finally:
        db.close()
