"""Pages of listings: every listing is paged by KEYSET, never by OFFSET (issue #14).

A listing has a fixed order on indexed columns ending in a unique key; a page is the first `limit`
rows after the previous page's last row. `next_cursor` is that last row's sort key, opaque to the
caller (URL-safe base64 of a JSON list), and `None` on the last page. So page 1,000 costs what
page 1 costs, and rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from xborder.errors import ValidationError
from xborder.index.db import Row

MAX_PAGE = 10_000
_CURSOR_HELP = "the next_cursor of the previous page, unchanged"


@dataclass
class Listing:
    """Rows with column names: what every listing returns; `to_csv` exports any of them.
    `total` counts every row of the listing (all pages), `next_cursor` asks for the next page."""

    columns: list[str]
    rows: list[Row]
    total: int | None = None
    next_cursor: str | None = None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self, out: TextIO | None = None) -> str:
        buffer = out or io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue() if isinstance(buffer, io.StringIO) else ""


def check_limit(limit: int) -> None:
    if not 0 < limit <= MAX_PAGE:
        raise ValidationError(f"limit: {limit} is out of range (1 to {MAX_PAGE})", field="limit",
                              value=limit, allowed=f"1 to {MAX_PAGE}")


def encode_cursor(key: Sequence[int | float | str]) -> str:
    text = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: Sequence[type]) -> tuple[Any, ...] | None:
    """The sort key in `cursor` (None for the first page), checked against `kinds` (int, float, str)."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    ok = isinstance(key, list) and len(key) == len(kinds) and all(
        isinstance(v, kind) and not isinstance(v, bool) or (kind is float and isinstance(v, int))
        for v, kind in zip(key, kinds, strict=False))
    if not ok:
        raise ValidationError(f"cursor: {cursor[:80]!r} is not a cursor of this listing ({_CURSOR_HELP})",
                              field="cursor", value=cursor[:80], allowed=_CURSOR_HELP)
    assert isinstance(key, list)
    return tuple(float(v) if kind is float else v for v, kind in zip(key, kinds, strict=True))


def page_of(columns: list[str], rows: list[Row], limit: int, key: Sequence[int], total: int | None) -> Listing:
    """A page from `limit + 1` fetched rows: the extra row only says that a next page exists;
    `key` are the positions of the sort-key columns in a row."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor([rows[-1][i] for i in key]) if more and rows else None
    return Listing(columns, rows, total, cursor)
