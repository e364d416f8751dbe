"""Fixtures of the API tests: one anvil and one indexed financing book per module (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from xborder.api import create_app
from xborder.chain import start_anvil

from .world import Book, build_book


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    folder = tmp_path_factory.mktemp("book")
    with start_anvil(log_path=folder / "anvil.log") as node:
        yield build_book(node.rpc_url, folder, f"sqlite:///{folder / 'index.db'}")


@pytest.fixture(scope="module")
def client(book: Book) -> Iterator[TestClient]:
    with TestClient(create_app(book.settings)) as test_client:
        yield test_client
