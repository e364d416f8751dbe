"""Fixtures of the API tests: one anvil and one indexed financing book per module (see world.py),
API tokens issued into its index, and a client that sends the regulator's token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from loan_setup import BANK_A, BORROWER_X, BORROWER_Y

from xborder.api import create_app
from xborder.api.tokens import Scope, TokenStore
from xborder.chain import start_anvil
from xborder.config import Settings
from xborder.index.db import open_database

from .world import Book, build_book


@dataclass
class Tokens:
    regulator: str
    institutions: dict[int, str]  # institution id -> its token


def issue_tokens(settings: Settings) -> Tokens:
    db = open_database(settings.index_url, migrate=False)
    try:
        store = TokenStore(db)
        regulator = store.issue(Scope(), label="test regulator").token
        institutions = {i: store.issue(Scope(i), label=f"test {i}").token for i in (BORROWER_X, BORROWER_Y, BANK_A)}
    finally:
        db.close()
    return Tokens(regulator, institutions)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    folder = tmp_path_factory.mktemp("book")
    with start_anvil(log_path=folder / "anvil.log") as node:
        yield build_book(node.rpc_url, folder, f"sqlite:///{folder / 'index.db'}")


@pytest.fixture(scope="module")
def tokens(book: Book) -> Tokens:
    return issue_tokens(book.settings)


@pytest.fixture(scope="module")
def client(book: Book, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(book.settings), headers=bearer(tokens.regulator)) as test_client:
        yield test_client
