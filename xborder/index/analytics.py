"""Dashboard-level questions on top of `queries`: every borrower's exposure ranked, the latest
loan events with names, volumes converted to CNY, headline totals and the index's lag.

Additive to `xborder.index.queries` (which it only calls); same scales (docs/contracts.md):
loan amounts in 1/100 of the loan currency, balances/limits/CNY equivalents in CNY minor units.
CNY equivalents use each loan's reference rate snapshotted when it was recorded, rounded up like
the ledger (`ceil(amount x rate / 1e8)`), computed in Python so SQLite's int64 never overflows.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from xborder.errors import ValidationError
from xborder.index.db import Database
from xborder.index.projection import INSTITUTION_KIND_NAMES, LOAN_ACTIVE, LOAN_STATUS_NAMES
from xborder.index.queries import (
    MAX_PAGE,
    Exposure,
    Listing,
    borrower_exposure,
    borrowers,
    parameters,
    volumes,
)

log = logging.getLogger(__name__)

RATE_SCALE = 10**8
LOAN_EVENTS = ("LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanRepaid", "LoanExtended",
               "LoanCancelled", "LoanClosed", "LoanDefaulted")
EXPOSURE_SORTS = ("utilisation", "balance", "headroom", "borrower")
#: Utilisation bands of the dashboard (balance / limit).
BANDS = (("over", 1.0), ("critical", 0.9), ("high", 0.75), ("moderate", 0.5), ("low", 0.0))

EXPOSURE_COLUMNS = ["borrower", "name", "kind", "status", "capital_base", "risk_weighted_balance",
                    "limit", "headroom", "utilisation", "band", "active_loans", "outstanding"]


def _ceil_cny(amount: int, rate: int) -> int:
    return -(-int(amount) * int(rate) // RATE_SCALE)


def band(utilisation: float | None) -> str:
    """'over' (> 100 %, grandfathered), 'critical' (>= 90 %), 'high' (>= 75 %), 'moderate'
    (>= 50 %), 'low', or 'none' when the borrower has no limit."""
    if utilisation is None:
        return "none"
    if utilisation > 1.0:
        return "over"
    return next(name for name, floor in BANDS[1:] if utilisation >= floor)


def check_page(limit: int, offset: int) -> None:
    if not 0 < limit <= MAX_PAGE:
        raise ValidationError(f"limit: {limit} is out of range (1 to {MAX_PAGE})", field="limit",
                              value=limit, allowed=f"1 to {MAX_PAGE}")
    if offset < 0:
        raise ValidationError(f"offset: {offset} is negative (0 or more)", field="offset", value=offset,
                              allowed="0 or more")


def institution_names(db: Database) -> dict[int, str]:
    return {int(i): str(n) for i, n in db.query("SELECT institution_id, name FROM institutions")}


def institution_exists(db: Database, institution: int) -> bool:
    return db.query_one("SELECT 1 FROM institutions WHERE institution_id = ?", (institution,)) is not None


def loan_exists(db: Database, loan_id: int) -> bool:
    return db.query_one("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)) is not None


def financing_type_names(db: Database) -> dict[int, str]:
    """Current names of the financing types (the latest FinancingTypeSet of each id)."""
    names: dict[int, str] = {}
    for type_id, name, removed in db.query(
            "SELECT type_id, name, removed FROM financing_type_changes ORDER BY block_number, log_index"):
        if int(removed):
            names.pop(int(type_id), None)
        elif name:
            names[int(type_id)] = str(name)
    return names


def currencies(db: Database) -> list[str]:
    """Every currency that has a loan or a reference rate, sorted."""
    rows = db.query("SELECT DISTINCT currency FROM loans UNION SELECT DISTINCT currency FROM "
                    "reference_rate_changes ORDER BY 1")
    return sorted({str(r[0]) for r in rows} | {"CNY"})


# ---------------------------------------------------------------------------- exposures

@dataclass
class RankedExposures:
    """A page of borrowers' exposures, ranked; `total` counts all borrowers."""

    items: list[Exposure]
    total: int
    sort: str

    def listing(self) -> Listing:
        rows = [(e.borrower, e.name, e.kind, e.status, e.capital_base, e.risk_weighted_balance, e.limit,
                 e.headroom, e.utilisation, band(e.utilisation), e.active_loans,
                 ";".join(f"{c}:{v}" for c, v in sorted(e.outstanding.items()))) for e in self.items]
        return Listing(list(EXPOSURE_COLUMNS), rows, self.total)


def exposure_dict(exposure: Exposure) -> dict[str, Any]:
    data = asdict(exposure)
    data["band"] = band(exposure.utilisation)
    return data


def ranked_exposures(db: Database, *, sort: str = "utilisation", limit: int = 100, offset: int = 0,
                     min_utilisation: float | None = None) -> RankedExposures:
    """Every borrower's exposure, sorted by `sort` (utilisation and balance: highest first;
    headroom: smallest first; borrower: by id); borrowers without a limit sort last."""
    if sort not in EXPOSURE_SORTS:
        raise ValidationError(f"sort: {sort!r} is not a known order ({', '.join(EXPOSURE_SORTS)})",
                              field="sort", value=sort, allowed=", ".join(EXPOSURE_SORTS))
    check_page(limit, offset)
    params = parameters(db)
    items = [borrower_exposure(db, b, params) for b in borrowers(db)]
    if min_utilisation is not None:
        items = [e for e in items if e.utilisation is not None and e.utilisation >= min_utilisation]
    keys = {
        "utilisation": lambda e: (e.utilisation is None, -(e.utilisation or 0.0), -e.risk_weighted_balance, e.borrower),
        "balance": lambda e: (-e.risk_weighted_balance, e.borrower),
        "headroom": lambda e: (e.limit == 0, e.headroom, e.borrower),
        "borrower": lambda e: (e.borrower,),
    }
    items.sort(key=keys[sort])  # type: ignore[no-any-return]
    return RankedExposures(items[offset:offset + limit], len(items), sort)


# ---------------------------------------------------------------------------- events

def latest_events(db: Database, *, limit: int = 20, offset: int = 0, borrower: int | None = None,
                  currency: str | None = None, event: str | None = None) -> Listing:
    """Loan events, newest first, with the loan's currency and the parties' names."""
    check_page(limit, offset)
    where: list[str] = []
    params: list[Any] = []
    if borrower is not None:
        where.append("e.borrower = ?")
        params.append(borrower)
    if currency is not None:
        where.append("l.currency = ?")
        params.append(currency.upper())
    if event is not None:
        match = next((name for name in LOAN_EVENTS if name.lower() in (event.lower(), "loan" + event.lower())), None)
        if match is None:
            raise ValidationError(f"event: {event!r} is not a loan event ({', '.join(LOAN_EVENTS)})",
                                  field="event", value=event, allowed=", ".join(LOAN_EVENTS))
        where.append("e.event = ?")
        params.append(match)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    base = (f"FROM loan_events e JOIN loans l ON l.loan_id = e.loan_id "
            f"LEFT JOIN institutions b ON b.institution_id = e.borrower "
            f"LEFT JOIN institutions c ON c.institution_id = l.creditor {clause}")
    columns, rows = db.columns(
        "SELECT e.block_number, e.log_index, e.block_time, e.tx_hash, e.event, e.loan_id, e.borrower, "
        "b.name AS borrower_name, l.creditor, c.name AS creditor_name, l.currency, e.amount, e.status, "
        f"e.outstanding, e.borrower_balance {base} "
        "ORDER BY e.block_number DESC, e.log_index DESC LIMIT ? OFFSET ?", (*params, limit, offset))
    total = db.query_one(f"SELECT COUNT(*) {base}", params)
    at = columns.index("status")
    named = [(*r[:at], LOAN_STATUS_NAMES.get(int(r[at]), str(r[at])), *r[at + 1:]) for r in rows]
    return Listing(columns, named, int(total[0]) if total else 0)


# ---------------------------------------------------------------------------- volumes

def volumes_with_cny(db: Database, period: str = "month", *, currency: str | None = None) -> Listing:
    """`queries.volumes` plus the drawn and repaid amounts in CNY minor units (at each loan's rate)."""
    base = volumes(db, period, currency=currency)  # validates the period
    if db.dialect == "sqlite":
        fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
        bucket = f"strftime('{fmt}', e.block_time, 'unixepoch')"
    else:
        fmt = "YYYY-MM-DD" if period == "day" else "YYYY-MM"
        bucket = f"to_char(to_timestamp(e.block_time) AT TIME ZONE 'UTC', '{fmt}')"
    cny: dict[tuple[str, str], list[int]] = {}
    for key, cur, rate, drawn, repaid in db.query(
            f"SELECT {bucket}, l.currency, l.rate, "
            "SUM(CASE WHEN e.event = 'LoanDrawn' THEN e.amount ELSE 0 END), "
            "SUM(CASE WHEN e.event = 'LoanRepaid' THEN e.amount ELSE 0 END) "
            "FROM loan_events e JOIN loans l ON l.loan_id = e.loan_id "
            "WHERE e.event IN ('LoanDrawn', 'LoanRepaid') "
            f"GROUP BY {bucket}, l.currency, l.rate"):
        sums = cny.setdefault((str(key), str(cur)), [0, 0])
        sums[0] += _ceil_cny(int(drawn or 0), int(rate))
        sums[1] += _ceil_cny(int(repaid or 0), int(rate))
    rows = [(*row, *cny.get((str(row[0]), str(row[1])), [0, 0])) for row in base.rows]
    return Listing([*base.columns, "drawn_cny", "repaid_cny"], rows)


# ---------------------------------------------------------------------------- headline

@dataclass
class Summary:
    """Headline figures of the whole index."""

    checkpoint: int | None
    checkpoint_time: int | None
    institutions: int
    borrowers: int
    loans: int
    loans_by_status: dict[str, int]
    outstanding: dict[str, int]  # active loans, by currency, minor units of that currency
    outstanding_cny: int  # the same in CNY minor units at each loan's rate
    principal: dict[str, int]  # every loan, by currency
    risk_weighted_balance: int  # sum over borrowers, CNY minor units
    total_limit: int
    borrowers_over_limit: int
    borrowers_near_limit: int  # >= 90 % and <= 100 %
    currencies: list[str] = field(default_factory=list)
    financing_types: dict[int, str] = field(default_factory=dict)


def summary(db: Database) -> Summary:
    checkpoint = db.query_one(
        "SELECT c.block_number, b.block_time FROM checkpoint c LEFT JOIN blocks b ON b.block_number = "
        "(SELECT MAX(block_number) FROM blocks WHERE block_number <= c.block_number) WHERE c.id = 1")
    by_status = {LOAN_STATUS_NAMES.get(int(s), str(s)): int(n)
                 for s, n in db.query("SELECT status, COUNT(*) FROM loans GROUP BY status ORDER BY status")}
    outstanding: dict[str, int] = {}
    outstanding_cny = 0
    for cur, rate, total in db.query(
            "SELECT currency, rate, SUM(outstanding) FROM loans WHERE status = ? GROUP BY currency, rate",
            (LOAN_ACTIVE,)):
        outstanding[str(cur)] = outstanding.get(str(cur), 0) + int(total)
        outstanding_cny += _ceil_cny(int(total), int(rate))
    principal = {str(c): int(p) for c, p in db.query(
        "SELECT currency, SUM(principal) FROM loans GROUP BY currency ORDER BY currency")}
    ranked = ranked_exposures(db, sort="borrower", limit=MAX_PAGE).items
    count = db.query_one("SELECT COUNT(*) FROM institutions")
    return Summary(
        checkpoint=int(checkpoint[0]) if checkpoint else None,
        checkpoint_time=int(checkpoint[1]) if checkpoint and checkpoint[1] is not None else None,
        institutions=int(count[0]) if count else 0, borrowers=len(ranked),
        loans=sum(by_status.values()), loans_by_status=by_status, outstanding=dict(sorted(outstanding.items())),
        outstanding_cny=outstanding_cny, principal=principal,
        risk_weighted_balance=sum(e.risk_weighted_balance for e in ranked),
        total_limit=sum(e.limit for e in ranked),
        borrowers_over_limit=sum(1 for e in ranked if e.utilisation is not None and e.utilisation > 1.0),
        borrowers_near_limit=sum(1 for e in ranked if e.utilisation is not None and 0.9 <= e.utilisation <= 1.0),
        currencies=currencies(db), financing_types=financing_type_names(db))


def kind_name(kind: int) -> str:
    return INSTITUTION_KIND_NAMES.get(kind, str(kind))


# ---------------------------------------------------------------------------- one loan

def loan_detail(db: Database, loan_id: int) -> dict[str, Any] | None:
    """One loan in its current state with the parties' names and its financing type's name;
    None when the loan is not in the index."""
    columns, rows = db.columns(
        "SELECT l.loan_id, l.borrower, b.name AS borrower_name, l.creditor, c.name AS creditor_name, "
        "c.jurisdiction AS creditor_country, l.recorder, l.currency, l.financing_type, l.principal, l.drawn, "
        "l.outstanding, l.rate, l.weight_bps, l.contribution, l.value_date, l.maturity_date, l.status, "
        "l.document_hash, l.terms_hash, l.recorded_block, l.recorded_at, l.recorded_tx, l.updated_block "
        "FROM loans l LEFT JOIN institutions b ON b.institution_id = l.borrower "
        "LEFT JOIN institutions c ON c.institution_id = l.creditor WHERE l.loan_id = ?", (loan_id,))
    if not rows:
        return None
    data = dict(zip(columns, rows[0], strict=True))
    data["status"] = LOAN_STATUS_NAMES.get(int(data["status"]), str(data["status"]))
    data["financing_type_name"] = financing_type_names(db).get(int(data["financing_type"]))
    data["label"] = f"{loan_id >> 32}:{loan_id & 0xFFFFFFFF}"
    return data
