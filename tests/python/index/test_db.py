"""`Database.insert_rows` appends rows as given, in order, on SQLite (statements of many rows, and
the rest one by one) and PostgreSQL (COPY): any count, NULLs, bytes, 64-bit integers."""

from __future__ import annotations

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
