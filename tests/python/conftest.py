"""Shared fixtures of the Python tests: real nodes on free ports (never Brownie's 8545)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from xborder.chain import LocalNode, start_anvil, start_ganache
from xborder.config import PROJECT_ROOT, Settings


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[LocalNode]:
    """A fresh anvil for one test (it starts in well under a second)."""
    with start_anvil(log_path=tmp_path / "anvil.log") as node:
        yield node


@pytest.fixture(scope="module")
def ganache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """One Ganache per test module (it takes about a second to start)."""
    with start_ganache(log_path=tmp_path_factory.mktemp("ganache") / "ganache.log") as node:
        yield node


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose every folder lives in the test's temporary directory."""
    return Settings(project_root=PROJECT_ROOT, data_dir=tmp_path / ".xborder",
                    deployments_dir=tmp_path / "deployments")
