"""A PostgreSQL server for tests: the throwaway cluster of `xborder.bench.postgres` (the benchmarks'
recipe, with its no-fsync settings), or the server of `XBORDER_TEST_POSTGRES_URL` (a URL to a
server where the user may CREATE DATABASE).

Without either, tests that need PostgreSQL are skipped on a workstation and FAIL under CI
(`CI=true`): a missing server must never pass for a green run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import NoReturn

import pytest

from xborder.bench.postgres import EPHEMERAL, PostgresServer, PostgresUnavailable
from xborder.bench.postgres import postgres_server as _postgres_server

__all__ = ["PostgresServer", "postgres_server"]


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}. Install it with "
                    "`bash tools/system-deps.sh` or set XBORDER_TEST_POSTGRES_URL")
    pytest.skip(f"no PostgreSQL: {reason} (set XBORDER_TEST_POSTGRES_URL or install postgresql)")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server of `XBORDER_TEST_POSTGRES_URL`, or a throwaway cluster stopped on exit."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(_postgres_server(admin_url=os.environ.get("XBORDER_TEST_POSTGRES_URL"),
                                                          settings=EPHEMERAL))
        except PostgresUnavailable as exc:
            _missing(str(exc))
        yield server
