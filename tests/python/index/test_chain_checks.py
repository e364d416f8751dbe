"""--chain-id and --rpc-url are honoured (issue #13 item 4), through the CLI on real anvils, and one
index has one writer (issue #13 "two writers, one index") on SQLite and PostgreSQL.

Exit 4 for: a node of another chain id than --chain-id (index run), an index built from another
chain with the same id (another genesis: a second anvil), another deployment, an index of another
chain than --chain-id (reports, index status), a node that does not answer when the command needs
it (index run/status with --rpc-url, report consistency). Reports that read only the database
succeed with a dead --rpc-url and say that they did not contact it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from cli_helpers import xborder
from web3 import Web3

from xborder.chain import LocalNode, start_anvil
from xborder.config import PROJECT_ROOT
from xborder.index import IndexBusy, Indexer, open_database
from xborder.index.service import indexer_web3
from xborder.services.deploy import deploy
from xborder.services.funding import dev_funder

from .helpers import Emitters, Workload, one_row

DEAD = "http://127.0.0.1:1"


def _deploy(rpc_url: str, deployments: Path) -> None:
    w3 = indexer_web3(rpc_url)
    deploy(w3, dev_funder(), w3.eth.accounts[0], deployments, PROJECT_ROOT)


def _env(rpc_url: str, root: Path, db_url: str) -> dict[str, str]:
    return {"XBORDER_DATA_DIR": str(root / ".xborder"), "XBORDER_DEPLOYMENTS_DIR": str(root / "deployments"),
            "XBORDER_DATABASE_URL": db_url, "XBORDER_RPC_URL": rpc_url}


def _error(run: object, code: int, text: str) -> None:
    assert getattr(run, "code") == code, (getattr(run, "code"), getattr(run, "err"))  # noqa: B009
    lines = str(getattr(run, "err")).splitlines()  # noqa: B009
    errors = [line for line in lines if line.startswith("xborder: error: ")]
    assert errors == [lines[-1]] and text in lines[-1], lines  # one line, the last, naming the cause


def test_chain_id_and_rpc_url_are_checked(anvil: LocalNode, tmp_path: Path) -> None:
    _deploy(anvil.rpc_url, tmp_path / "deployments")
    env = _env(anvil.rpc_url, tmp_path, f"sqlite:///{tmp_path / 'index.db'}")

    _error(xborder("index", "run", "--chain-id", "5", env=env), 4, "serves chain 31337, not chain 5 (--chain-id)")
    assert xborder("index", "run", "--chain-id", "31337", env=env).code == 0
    _error(xborder("index", "status", "--chain-id", "5", env=env), 4, "holds chain 31337, not chain 5")
    for report in (("report", "loans"), ("report", "summary"), ("report", "totals"), ("report", "exposure")):
        _error(xborder(*report, "--chain-id", "5", env=env), 4, "holds chain 31337, not chain 5")

    # A node that does not answer: a command that needs it fails at once; one that does not says so.
    _error(xborder("index", "run", "--rpc-url", DEAD, env=env), 4, f"check that the node at {DEAD}")
    _error(xborder("index", "status", "--rpc-url", DEAD, env=env), 4, f"check that the node at {DEAD}")
    _error(xborder("report", "consistency", "--rpc-url", DEAD, env=env), 4, f"check that the node at {DEAD}")
    loans = xborder("report", "loans", "--json", "--rpc-url", DEAD, env=env)
    assert loans.code == 0 and loans.json()["total"] == 0
    assert f"reads only the index database: the node at {DEAD} was not contacted" in loans.err
    assert xborder("report", "consistency", env=env).code == 0

    # Another chain with the same chain id (a second anvil: another genesis), same deployment addresses.
    with start_anvil(log_path=tmp_path / "other.log") as other:
        _deploy(other.rpc_url, tmp_path / "other-deployments")
        env_other = {**env, "XBORDER_RPC_URL": other.rpc_url,
                     "XBORDER_DEPLOYMENTS_DIR": str(tmp_path / "other-deployments")}
        _error(xborder("index", "run", env=env_other), 4, "was built from another chain with id 31337")
        _error(xborder("index", "status", "--rpc-url", other.rpc_url, env=env), 4, "was built from another chain")
        _error(xborder("report", "consistency", env=env_other), 4, "was built from another chain")

    # Another deployment on the same chain (a manifest naming new contracts).
    _deploy(anvil.rpc_url, tmp_path / "second-deployments")
    second = {**env, "XBORDER_DEPLOYMENTS_DIR": str(tmp_path / "second-deployments")}
    _error(xborder("index", "run", env=second), 4, "indexes another deployment")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_second_indexer_on_the_same_database_refuses(engine: str, request: pytest.FixtureRequest, w3: Web3,
                                                        emitters: Emitters, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'one.db'}" if engine == "sqlite" else str(request.getfixturevalue("postgres_url"))
    work = Workload(emitters, seed=4)
    work.setup()
    work.run(10)
    first = open_database(db_url)
    with first.writer_lock():
        second = open_database(db_url)
        with pytest.raises(IndexBusy, match="another indexer is already writing to the index database") as caught:
            Indexer(second, w3, emitters.contracts()).run()
        assert f"pid {os.getpid()}" in str(caught.value)  # who holds it
        assert one_row(second, "SELECT COUNT(*) FROM raw_logs")[0] == 0  # it wrote nothing
        second.close()
    # Released: the next indexer runs.
    stats = Indexer(open_database(db_url), w3, emitters.contracts()).run()
    assert stats.logs > 10
    first.close()


def test_a_second_indexer_beside_a_following_process_refuses(w3: Web3, emitters: Emitters, anvil: LocalNode,
                                                              tmp_path: Path) -> None:
    """An indexer process following the head holds the database; another one is refused, named."""
    Workload(emitters, seed=6).setup()
    db_url = f"sqlite:///{tmp_path / 'busy.db'}"
    contracts = tmp_path / "contracts.json"
    contracts.write_text(json.dumps([asdict(c) for c in emitters.contracts()]))
    follower = subprocess.Popen([sys.executable, str(Path(__file__).with_name("helpers.py")), anvil.rpc_url, db_url,
                                 str(contracts), "-1", "50"], stderr=subprocess.PIPE)
    try:
        lock = Path(str(tmp_path / "busy.db") + ".writer.lock")
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        db = open_database(db_url)
        with pytest.raises(IndexBusy, match=f"pid {follower.pid} on"):
            Indexer(db, w3, emitters.contracts()).run()
        db.close()
    finally:
        follower.terminate()
        follower.wait(30)


def test_an_index_without_raw_logs_is_not_upgraded_in_place(tmp_path: Path) -> None:
    """An index of schema 2 with data has no raw logs to rebuild from: refused with what to do."""
    from xborder.index.db import IndexDatabaseError, load_migrations

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = open_database(url, migrate=False)
    old.migrate(load_migrations()[:2])
    with old.transaction():
        old.execute("INSERT INTO checkpoint (id, chain_id, block_number, block_hash) VALUES (1, 31337, 5, '0x00')")
    old.close()
    with pytest.raises(IndexDatabaseError, match="built by an older xborder \\(schema 2\\) without the raw log table"):
        open_database(url)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    fresh = open_database(empty, migrate=False)
    fresh.migrate(load_migrations()[:2])
    fresh.close()
    assert open_database(empty).schema_version() == len(load_migrations())  # nothing indexed: upgraded


def test_an_index_of_a_v1_ledger_is_not_upgraded_in_place(tmp_path: Path) -> None:
    """Schema 3 with data was indexed from a v1 ledger: its raw logs are v1 events, which the v2
    projection does not read. Refused with what to do; an empty schema-3 database is upgraded."""
    from xborder.index.db import IndexDatabaseError, load_migrations

    url = f"sqlite:///{tmp_path / 'v1.db'}"
    old = open_database(url, migrate=False)
    old.migrate(load_migrations()[:3])
    with old.transaction():
        old.execute("INSERT INTO checkpoint (id, chain_id, block_number, block_hash) VALUES (1, 31337, 5, '0x00')")
    old.close()
    with pytest.raises(IndexDatabaseError, match="built by an older xborder \\(schema 3\\) from a v1 ledger"):
        open_database(url)
    empty = f"sqlite:///{tmp_path / 'empty3.db'}"
    fresh = open_database(empty, migrate=False)
    fresh.migrate(load_migrations()[:3])
    fresh.close()
    assert open_database(empty).schema_version() == len(load_migrations())
