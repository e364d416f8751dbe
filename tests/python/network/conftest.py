"""Fixtures of the multi-node tests: a real 4-node geth (clique) network per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xborder.chain.network import Network

from .chains import geth_network


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with geth_network(tmp_path_factory.mktemp("net") / "network") as net:
        yield net
