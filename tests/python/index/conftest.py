"""Fixtures of the indexer tests: index databases on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PostgresServer, postgres_server
from web3 import Web3

from xborder.chain import LocalNode
from xborder.config import PROJECT_ROOT, Settings
from xborder.index.service import indexer_web3
from xborder.services.deploy import deploy
from xborder.services.funding import dev_funder

from .helpers import Emitters


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty index database: a SQLite file, then a fresh database on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def w3(anvil: LocalNode) -> Web3:
    return indexer_web3(anvil.rpc_url)


@pytest.fixture
def emitters(w3: Web3) -> Emitters:
    return Emitters.deploy(w3)


@pytest.fixture
def deployed(anvil: LocalNode, settings: Settings) -> tuple[Web3, Settings]:
    """The real contracts deployed on a fresh anvil; settings naming that node and manifest."""
    w3 = indexer_web3(anvil.rpc_url)
    deploy(w3, dev_funder(), w3.eth.accounts[0], settings.deployments, PROJECT_ROOT)
    return w3, Settings(project_root=settings.project_root, data_dir=settings.data_dir,
                        deployments_dir=settings.deployments_dir, rpc_url=anvil.rpc_url)
