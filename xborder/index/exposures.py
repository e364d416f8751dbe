"""Borrowers' exposures from the summary tables `borrower_positions` and `borrower_currency`:
one borrower's (a primary-key read), or all of them ranked (one index range per page).

Balances, limits and headroom are CNY minor units; utilisation = balance / limit (None without a
limit). The limit is the one the projection keeps under the current parameters (the policy's
formula, `xborder.index.policy.borrowing_limit`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xborder.errors import ValidationError
from xborder.index.db import Database, Row
from xborder.index.pages import Listing, check_limit, decode_cursor, encode_cursor
from xborder.index.projection import INSTITUTION_KIND_NAMES, INSTITUTION_STATUS_NAMES

EXPOSURE_SORTS = ("utilisation", "balance", "headroom", "borrower")
#: Utilisation bands of the dashboard (balance / limit).
BANDS = (("over", 1.0), ("critical", 0.9), ("high", 0.75), ("moderate", 0.5), ("low", 0.0))
EXPOSURE_COLUMNS = ["borrower", "name", "kind", "status", "capital_base", "risk_weighted_balance",
                    "limit", "headroom", "utilisation", "band", "active_loans", "outstanding"]
#: sort -> (ORDER BY columns of borrower_positions, their cursor types)
_ORDERS: dict[str, tuple[tuple[str, ...], tuple[type, ...]]] = {
    "utilisation": (("util_rank", "balance_rank", "borrower"), (float, int, int)),
    "balance": (("balance_rank", "borrower"), (int, int)),
    "headroom": (("no_limit", "headroom", "borrower"), (int, int, int)),
    "borrower": (("borrower",), (int,)),
}
_COLUMNS = ("p.borrower, i.name, p.kind, p.status, p.capital_base, p.balance, p.limit_cny, p.headroom, "
            "p.utilisation, p.active_loans")


@dataclass
class Exposure:
    borrower: int
    name: str
    kind: str
    status: str
    capital_base: int
    risk_weighted_balance: int
    limit: int
    headroom: int
    utilisation: float | None  # balance / limit; None when the limit is 0
    active_loans: int
    outstanding: dict[str, int] = field(default_factory=dict)  # by currency, minor units
    as_of_block: int | None = None


def band(utilisation: float | None) -> str:
    """'over' (> 100 %, grandfathered), 'critical' (>= 90 %), 'high' (>= 75 %), 'moderate'
    (>= 50 %), 'low', or 'none' when the borrower has no limit."""
    if utilisation is None:
        return "none"
    if utilisation > 1.0:
        return "over"
    return next(name for name, floor in BANDS[1:] if utilisation >= floor)


def exposure_dict(exposure: Exposure) -> dict[str, Any]:
    data = asdict(exposure)
    data["band"] = band(exposure.utilisation)
    return data


def _checkpoint(db: Database) -> int | None:
    row = db.query_one("SELECT block_number FROM checkpoint WHERE id = 1")
    return int(row[0]) if row else None


def _outstanding(db: Database, borrowers: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {b: {} for b in borrowers}
    for i in range(0, len(borrowers), 500):
        chunk = borrowers[i:i + 500]
        for borrower, currency, amount in db.query(
                f"SELECT borrower, currency, outstanding FROM borrower_currency WHERE borrower IN "
                f"({', '.join('?' * len(chunk))}) ORDER BY borrower, currency", chunk):
            out[int(borrower)][str(currency)] = int(amount)
    return out


def _exposure(row: Row, outstanding: dict[str, int], block: int | None) -> Exposure:
    borrower, name, kind, status, capital, balance, limit, headroom, utilisation, active = row
    return Exposure(
        borrower=int(borrower), name=str(name or ""), kind=INSTITUTION_KIND_NAMES.get(int(kind), str(kind)),
        status=INSTITUTION_STATUS_NAMES.get(int(status), str(status)), capital_base=int(capital),
        risk_weighted_balance=int(balance), limit=int(limit), headroom=int(headroom),
        utilisation=None if utilisation is None else float(utilisation), active_loans=int(active),
        outstanding=outstanding, as_of_block=block)


def borrower_exposure(db: Database, borrower: int, params: dict[str, int] | None = None) -> Exposure:
    """A borrower's outstanding (per currency), risk-weighted balance, limit, headroom, utilisation.
    (`params` is accepted for compatibility; the limit is the one kept by the projection.)"""
    row = db.query_one(f"SELECT {_COLUMNS} FROM borrower_positions p LEFT JOIN institutions i "
                       "ON i.institution_id = p.borrower WHERE p.borrower = ?", (borrower,))
    if row is None:
        inst = db.query_one("SELECT name, kind, status, capital_base FROM institutions WHERE institution_id = ?",
                            (borrower,))
        if inst is None:
            raise ValidationError(f"institution {borrower} is not in the index (is the indexer up to date?)",
                                  field="borrower", value=borrower)
        row = (borrower, inst[0], inst[1], inst[2], inst[3], 0, 0, 0, None, 0)  # cannot borrow
    return _exposure(row, _outstanding(db, [borrower])[borrower], _checkpoint(db))


def borrowers(db: Database) -> list[int]:
    """Institutions of a kind that can borrow, plus any institution that ever had a loan."""
    return [int(r[0]) for r in db.query("SELECT borrower FROM borrower_positions ORDER BY borrower")]


@dataclass
class RankedExposures:
    """A page of borrowers' exposures, ranked; `total` counts all borrowers (of the filter)."""

    items: list[Exposure]
    total: int
    sort: str
    next_cursor: str | None = None

    def listing(self) -> Listing:
        rows = [(e.borrower, e.name, e.kind, e.status, e.capital_base, e.risk_weighted_balance, e.limit,
                 e.headroom, e.utilisation, band(e.utilisation), e.active_loans,
                 ";".join(f"{c}:{v}" for c, v in sorted(e.outstanding.items()))) for e in self.items]
        return Listing(list(EXPOSURE_COLUMNS), rows, self.total, self.next_cursor)


def ranked_exposures(db: Database, *, sort: str = "utilisation", limit: int = 100, cursor: str | None = None,
                     min_utilisation: float | None = None) -> RankedExposures:
    """Borrowers' exposures, sorted by `sort` (utilisation and balance: highest first; headroom:
    smallest first; borrower: by id); borrowers without a limit sort last. `min_utilisation` keeps
    those at or above it (e.g. 0.9: the borrowers nearest their limits)."""
    if sort not in _ORDERS:
        raise ValidationError(f"sort: {sort!r} is not a known order ({', '.join(EXPOSURE_SORTS)})",
                              field="sort", value=sort, allowed=", ".join(EXPOSURE_SORTS))
    check_limit(limit)
    order, kinds = _ORDERS[sort]
    where: list[str] = []
    params: list[Any] = []
    if min_utilisation is not None:
        where.append("p.no_limit = 0 AND p.util_rank <= ?")
        params.append(0.0 - float(min_utilisation))
    filtered = list(where), list(params)
    after = decode_cursor(cursor, kinds)
    if after is not None:
        where.append(f"({', '.join('p.' + c for c in order)}) > ({', '.join('?' * len(order))})")
        params.extend(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = db.query(f"SELECT {_COLUMNS}, {', '.join('p.' + c for c in order)} FROM borrower_positions p "
                    f"LEFT JOIN institutions i ON i.institution_id = p.borrower {clause} "
                    f"ORDER BY {', '.join('p.' + c for c in order)} LIMIT ?", (*params, limit + 1))
    total_clause = f"WHERE {' AND '.join(filtered[0])}" if filtered[0] else ""
    total = db.query_one(f"SELECT COUNT(*) FROM borrower_positions p {total_clause}", filtered[1])
    more = len(rows) > limit
    rows = rows[:limit]
    outstanding = _outstanding(db, [int(r[0]) for r in rows])
    block = _checkpoint(db)
    items = [_exposure(r[:10], outstanding[int(r[0])], block) for r in rows]
    next_cursor = encode_cursor(list(rows[-1][10:])) if more and rows else None
    return RankedExposures(items, int(total[0]) if total else 0, sort, next_cursor)
