"""JSON bodies of the API, built from the index queries; shared by the HTTP API, the CLI reports and
the static dashboard snapshot (so all show exactly the same figures).

This module is the one place where the API calls into `xborder.index.queries`,
`xborder.index.analytics` and `xborder.index.reconcile`: when the index's query signatures change,
only the functions here are re-pointed. Listings are keyset pages: `limit` and `cursor` (the
previous page's `next_cursor`, None on the last page); `total` is None where the index cannot count
a filter combination without a scan.

Amounts are integers in minor units (1/100): loan amounts in the loan's currency, balances,
limits, headroom and `*_cny` figures in CNY. Utilisation is a ratio (0.85 = 85 %).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from xborder.domain.enums import ConsentSide, LoanStatus, ReasonCode
from xborder.domain.loans import parse_loan_id as _parse_loan_id
from xborder.errors import ValidationError
from xborder.index import analytics, queries, reconcile
from xborder.index.db import Database
from xborder.index.status import index_status

if TYPE_CHECKING:
    from web3 import Web3

UINT32_MAX = 2**32 - 1
STATUS_NAMES = list(queries.STATUS_NAMES)
LOAN_EVENTS = analytics.LOAN_EVENTS
EXPOSURE_SORTS = analytics.EXPOSURE_SORTS
MAX_PAGE = queries.MAX_PAGE
TOTALS_BY = queries.TOTALS_BY
Listing = queries.Listing
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class NotInIndex(ValidationError, LookupError):
    """A borrower, creditor or loan named in the request is not in the index."""


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
    return _parse_loan_id(value, field)


def institution_exists(db: Database, institution: int) -> bool:
    return analytics.institution_exists(db, institution)


def institution_name(db: Database, institution: int) -> str | None:
    return analytics.institution_names(db).get(institution)


def require_institution(db: Database, institution: int | None, field: str) -> None:
    if institution is not None and not analytics.institution_exists(db, institution):
        raise NotInIndex(f"{field}: institution {institution} is not in the index (is the indexer up to date?)",
                         field=field, value=institution)


# ---------------------------------------------------------------------------- bodies

def page(listing: queries.Listing, limit: int) -> dict[str, Any]:
    """A keyset page: `next_cursor` (None on the last page) asks for the next one; `total` counts every
    page (None for a loans filter combination no summary table holds)."""
    return {"total": listing.total, "limit": limit, "next_cursor": listing.next_cursor,
            "columns": listing.columns, "items": listing.dicts()}


def loans(db: Database, *, borrower: int | None = None, creditor: int | None = None, currency: str | None = None,
          creditor_country: str | None = None, status: str | None = None, value_date_from: int | None = None,
          value_date_to: int | None = None, limit: int = 100, cursor: str | None = None) -> queries.Listing:
    """Loans in their current state, newest first; `cursor` is the previous page's `next_cursor`."""
    return queries.list_loans(db, borrower=borrower, creditor=creditor, currency=currency,
                              creditor_country=creditor_country, status=status, value_date_from=value_date_from,
                              value_date_to=value_date_to, limit=limit, cursor=cursor)


def events(db: Database, *, limit: int = 20, cursor: str | None = None, borrower: int | None = None,
           currency: str | None = None, event: str | None = None) -> queries.Listing:
    """Loan events, newest first."""
    return queries.loan_events(db, limit=limit, cursor=cursor, borrower=borrower, currency=currency, event=event)


def volumes(db: Database, period: str, currency: str | None = None, *, limit: int | None = None,
            cursor: str | None = None) -> queries.Listing:
    """Volumes per period and currency, in time order: every bucket, or pages of `limit`."""
    return queries.volumes(db, period, currency=currency, limit=limit, cursor=cursor)


def summary(db: Database) -> dict[str, Any]:
    return asdict(analytics.summary(db))


def exposures(db: Database, *, sort: str = "utilisation", limit: int = 100, cursor: str | None = None,
              min_utilisation: float | None = None) -> tuple[dict[str, Any], queries.Listing]:
    ranked = analytics.ranked_exposures(db, sort=sort, limit=limit, cursor=cursor, min_utilisation=min_utilisation)
    body = {"total": ranked.total, "limit": limit, "sort": sort, "next_cursor": ranked.next_cursor,
            "items": [analytics.exposure_dict(e) for e in ranked.items]}
    return body, ranked.listing()


def own_exposure(db: Database, institution: int, *, sort: str = "utilisation", limit: int = 100,
                 cursor: str | None = None, min_utilisation: float | None = None) -> tuple[dict[str, Any], queries.Listing]:
    """`exposures` of one institution only: the ranking an institution's token may see. It holds at
    most one row, so its first page is its last (`next_cursor` None); a cursor is still checked
    against the ranking's keys (422 when it is not one) and, being past that row, pages nothing."""
    if cursor is not None:
        analytics.ranked_exposures(db, sort=sort, limit=1, cursor=cursor)  # raises ValidationError(field="cursor")
    one = queries.borrower_exposure(db, institution) if institution_exists(db, institution) else None
    ranked_rows = [one] if one is not None and (min_utilisation is None or (
        one.utilisation is not None and one.utilisation >= min_utilisation)) else []
    ranked = analytics.RankedExposures(ranked_rows if cursor is None else [], len(ranked_rows), sort)
    body = {"total": ranked.total, "limit": limit, "sort": sort, "next_cursor": None,
            "items": [analytics.exposure_dict(e) for e in ranked.items]}
    return body, ranked.listing()


def exposure(db: Database, borrower: int) -> dict[str, Any]:
    require_institution(db, borrower, "borrower")
    return analytics.exposure_dict(queries.borrower_exposure(db, borrower))


def loan(db: Database, loan_id: int) -> dict[str, Any]:
    detail = analytics.loan_detail(db, loan_id)
    if detail is None:
        raise NotInIndex(f"loan_id: loan {loan_id} ({loan_id >> 32}:{loan_id & UINT32_MAX}) is not in the index",
                         field="loan_id", value=loan_id)
    history = [named_event(event) for event in queries.loan_history(db, loan_id).dicts()]
    return {"loan": detail, "events": history}


def named_event(event: dict[str, Any]) -> dict[str, Any]:
    """A `loan_history` row with its status, consent side and reason code by Solidity name, each with
    its label (`xborder.domain.enums`; None where the event has no side or reason)."""
    for key, enum in (("status", LoanStatus), ("side", ConsentSide), ("reason", ReasonCode)):
        value = event.get(key)
        event[f"{key}_label"] = None if value is None else enum.label_of(int(value))
        event[key] = None if value is None else enum.name_of(int(value))
    return event


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


def policy_changes(db: Database) -> dict[str, Any]:
    """Every ParameterUpdated of the policy, oldest first, with its block time (the dashboard marks the
    adjustment parameter's changes on its time axis). Factors in basis points (17500 = 1.75)."""
    listing = queries.parameter_changes(db)
    return {"columns": listing.columns, "items": listing.dicts()}


def agents(db: Database, institution: int | None = None) -> dict[str, Any]:
    """The current agency appointments (all, or those where `institution` is principal or agent)."""
    listing = queries.agents(db, institution=institution)
    return {"total": listing.total, "columns": listing.columns, "items": listing.dicts()}


def freezes(db: Database, institution: int | None = None) -> dict[str, Any]:
    """Every drawdown freeze and unfreeze by the regulator, oldest first, with the reason's name and label."""
    items = queries.drawdown_freezes(db, institution=institution).dicts()
    for item in items:
        item["frozen"] = bool(item["frozen"])
        item["reason_label"] = ReasonCode.label_of(int(item["reason"]))
        item["reason"] = ReasonCode.name_of(int(item["reason"]))
    return {"total": len(items), "items": items}


def consistency_body(report: queries.ConsistencyReport) -> dict[str, Any]:
    """The consistency check's answer (the API's and `xborder report consistency --json`'s)."""
    return {"ok": report.ok, "block": report.block, "checked": report.checked, "borrowers": report.borrowers,
            "logs_checked": report.logs_checked, "mismatches": [asdict(m) for m in report.mismatches],
            "log_mismatches": [asdict(m) for m in report.log_mismatches], "internal": report.internal}


def consistency(db: Database, w3: Web3, *, expected_chain_id: int | None = None) -> dict[str, Any]:
    """The index against the chain at its checkpoint (`xborder.index.reconcile`): borrowers' figures,
    log counts, and the summary tables against their rows. Raises ChainError when the node is down
    or serves another chain."""
    return consistency_body(reconcile.consistency_report(db, w3, expected_chain_id=expected_chain_id))
