"""`Database.insert_rows` appends rows as given, in order, on SQLite (statements of many rows, and
the rest one by one) and PostgreSQL (COPY): any count, NULLs, bytes, 64-bit integers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from xborder.index import open_database


@pytest.mark.parametrize("count", [0, 1, 199, 200, 201, 450])
def test_insert_rows_appends_every_row_in_order(db_url: str, count: int) -> None:
    db = open_database(db_url)
    db.execute("CREATE TABLE appended (n BIGINT NOT NULL, amount NUMERIC(40, 0), note TEXT, raw BYTEA)")
    rows = [(n, 2**63 - 1 - n if n % 7 == 0 else n * 3, None if n % 5 == 0 else f"row {n}", bytes([n % 256]) * 3)
            for n in range(count)]
    with db.transaction():
        db.insert_rows("appended", ("n", "amount", "note", "raw"), rows)
    got = db.query("SELECT n, amount, note, raw FROM appended ORDER BY n")
    assert [(int(n), int(a), note, bytes(raw)) for n, a, note, raw in got] == rows
    db.close()


def test_a_row_with_an_integer_past_64_bits_is_written_once_with_the_others(db_url: str) -> None:
    """SQLite cannot bind such an integer: the statement is undone and every row written again with it
    as text (the rows bound before it were not left behind twice); PostgreSQL takes it as it is."""
    db = open_database(db_url)
    db.execute("CREATE TABLE wide (n BIGINT NOT NULL, big TEXT)")
    rows = [(n, 2**70 + n if n == 300 else n) for n in range(450)]
    with db.transaction():
        db.insert_rows("wide", ("n", "big"), rows)
        db.executemany("INSERT INTO wide (n, big) VALUES (?, ?)", [(1000 + n, 2**70 if n == 3 else n) for n in range(5)])
    got = db.query("SELECT n, big FROM wide ORDER BY n")
    assert [(int(n), int(big)) for n, big in got] == [*rows, *[(1000 + n, 2**70 if n == 3 else n) for n in range(5)]]
    db.close()


def test_a_failing_insert_leaves_none_of_its_rows(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'one.db'}")
    db.execute("CREATE TABLE keyed (n BIGINT PRIMARY KEY)")
    with pytest.raises(sqlite3.IntegrityError):
        db.executemany("INSERT INTO keyed (n) VALUES (?)", [(1,), (2,), (2,)])  # outside a transaction too
    assert db.query("SELECT COUNT(*) FROM keyed") == [(0,)]
    db.close()
