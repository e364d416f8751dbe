"""JSON bodies of the API, built from the index queries; shared by the HTTP API and the static
dashboard snapshot (so both show exactly the same figures).

Amounts are integers in minor units (1/100): loan amounts in the loan's currency, balances,
limits, headroom and `*_cny` figures in CNY. Utilisation is a ratio (0.85 = 85 %).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Any

from xborder.errors import ValidationError
from xborder.index import analytics, queries
from xborder.index.db import Database
from xborder.index.indexer import index_status
from xborder.index.projection import LOAN_STATUS_NAMES
from xborder.services import loans

UINT32_MAX = 2**32 - 1
STATUS_NAMES = [name for code, name in LOAN_STATUS_NAMES.items() if code]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class NotFound(LookupError):
    """A borrower, creditor or loan named in the request is not in the index."""

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


# ---------------------------------------------------------------------------- parameter parsing

def parse_currency(value: str | None, field: str = "currency") -> str | None:
    if value is None or value == "":
        return None
    if not _CURRENCY.match(value.strip()):
        raise ValidationError(f"{field}: {value!r} is not an ISO 4217 currency code (three letters, e.g. USD)",
                              field=field, value=value, allowed="three letters, e.g. USD")
    return value.strip().upper()


def parse_country(value: str | None, field: str = "creditor_country") -> str | None:
    if value is None or value == "":
        return None
    if not _COUNTRY.match(value.strip()):
        raise ValidationError(f"{field}: {value!r} is not an ISO 3166 alpha-2 country code (two letters, e.g. HK)",
                              field=field, value=value, allowed="two letters, e.g. HK")
    return value.strip().upper()


def parse_status(value: str | None, field: str = "status") -> str | None:
    if value is None or value == "":
        return None
    for name in STATUS_NAMES:
        if name.lower() == value.strip().lower():
            return name
    raise ValidationError(f"{field}: {value!r} is not a loan status ({', '.join(STATUS_NAMES)})",
                          field=field, value=value, allowed=", ".join(STATUS_NAMES))


def parse_date(value: str | None, field: str, *, end_of_day: bool = False) -> int | None:
    """'2025-03-31' -> unix seconds at 00:00:00 UTC (23:59:59 with `end_of_day`)."""
    if value is None or value == "":
        return None
    allowed = "a UTC date YYYY-MM-DD"
    text = value.strip()
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValidationError(f"{field}: {value!r} is not a date ({allowed})", field=field, value=value,
                              allowed=allowed) from None
    seconds = int(day.timestamp()) + (86_399 if end_of_day else 0)
    return min(max(seconds, 0), UINT32_MAX)


def parse_loan_id(value: str, field: str = "loan_id") -> int:
    """'4294967297', '0x100000001' or '1:1' (borrower:n) -> loan id (the CLI's rules)."""
    return loans.parse_loan_id(value, field)


def require_institution(db: Database, institution: int | None, field: str) -> None:
    if institution is not None and not analytics.institution_exists(db, institution):
        raise NotFound(f"{field}: institution {institution} is not in the index (is the indexer up to date?)",
                       field=field, value=institution)


# ---------------------------------------------------------------------------- bodies

def page(listing: queries.Listing, limit: int) -> dict[str, Any]:
    """A keyset page: `next_cursor` (None on the last page) asks for the next one."""
    return {"total": listing.total, "limit": limit, "next_cursor": listing.next_cursor,
            "columns": listing.columns, "items": listing.dicts()}


def summary(db: Database) -> dict[str, Any]:
    return asdict(analytics.summary(db))


def exposures(db: Database, *, sort: str = "utilisation", limit: int = 100, cursor: str | None = None,
              min_utilisation: float | None = None) -> tuple[dict[str, Any], queries.Listing]:
    ranked = analytics.ranked_exposures(db, sort=sort, limit=limit, cursor=cursor, min_utilisation=min_utilisation)
    body = {"total": ranked.total, "limit": limit, "sort": sort, "next_cursor": ranked.next_cursor,
            "items": [analytics.exposure_dict(e) for e in ranked.items]}
    return body, ranked.listing()


def exposure(db: Database, borrower: int) -> dict[str, Any]:
    require_institution(db, borrower, "borrower")
    return analytics.exposure_dict(queries.borrower_exposure(db, borrower))


def loan(db: Database, loan_id: int) -> dict[str, Any]:
    detail = analytics.loan_detail(db, loan_id)
    if detail is None:
        raise NotFound(f"loan_id: loan {loan_id} ({loan_id >> 32}:{loan_id & UINT32_MAX}) is not in the index",
                       field="loan_id", value=loan_id)
    history = queries.loan_history(db, loan_id).dicts()
    for event in history:
        event["status"] = LOAN_STATUS_NAMES.get(int(event["status"]), str(event["status"]))
    return {"loan": detail, "events": history}


def totals(db: Database, by: str, status: str | None = None) -> queries.Listing:
    listing = queries.totals(db, by, status=status)
    if by == "financing_type":
        names = analytics.financing_type_names(db)
        listing = queries.Listing([*listing.columns, "financing_type_name"],
                                  [(*r, names.get(int(r[0]))) for r in listing.rows])
    return listing


def status(db: Database) -> dict[str, Any]:
    st = index_status(db)
    return {"chain_id": st.chain_id, "checkpoint": st.checkpoint, "checkpoint_hash": st.checkpoint_hash,
            "contracts": [{"name": n, "address": a, "start_block": b} for n, a, b in st.contracts],
            "counts": st.counts, "schema_version": st.schema_version}


def dashboard_snapshot(db: Database) -> dict[str, Any]:
    """Everything the dashboard shows, keyed by the names dashboard.js loads."""
    borrowers, _ = exposures(db, sort="utilisation", limit=queries.MAX_PAGE)
    events = analytics.latest_events(db, limit=500)
    return {
        "summary": summary(db),
        "borrowers": borrowers,
        "volumes_month": page(analytics.volumes_with_cny(db, "month"), queries.MAX_PAGE),
        "volumes_day": page(analytics.volumes_with_cny(db, "day"), queries.MAX_PAGE),
        "events": page(events, 500),
        "status": status(db),
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
