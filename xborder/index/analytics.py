"""Dashboard-level questions on top of `queries` and `exposures`: the headline summary, a borrower's
page, one loan with names, and small lookups. Database only, from the summary tables where a
question spans many loans; same scales as `queries` (docs/contracts.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from xborder.index.db import Database
from xborder.index.exposures import (
    BANDS,
    EXPOSURE_COLUMNS,
    EXPOSURE_SORTS,
    Exposure,
    RankedExposures,
    band,
    borrower_exposure,
    exposure_dict,
    ranked_exposures,
)
from xborder.index.pages import Listing
from xborder.index.projection import INSTITUTION_KIND_NAMES, LOAN_ACTIVE, LOAN_STATUS_NAMES
from xborder.index.queries import LOAN_EVENT_NAMES, list_loans, loan_events, volumes

__all__ = [
    "BANDS", "EXPOSURE_COLUMNS", "EXPOSURE_SORTS", "LOAN_EVENTS", "BorrowerPage", "Exposure", "RankedExposures",
    "Summary", "band", "borrower_page", "currencies", "exposure_dict", "financing_type_names", "institution_exists",
    "institution_names", "kind_name", "latest_events", "loan_detail", "loan_exists", "ranked_exposures", "summary",
    "volumes_with_cny",
]

log = logging.getLogger(__name__)

LOAN_EVENTS = LOAN_EVENT_NAMES
#: The CNY equivalents are part of `queries.volumes` now (kept in `volume_buckets`).
volumes_with_cny = volumes
#: Newest loan events first (`queries.loan_events`).
latest_events = loan_events


def institution_names(db: Database, ids: list[int] | None = None) -> dict[int, str]:
    """Names of `ids` (of every institution with None)."""
    if ids is None:
        return {int(i): str(n) for i, n in db.query("SELECT institution_id, name FROM institutions")}
    out: dict[int, str] = {}
    unique = sorted(set(ids))
    for i in range(0, len(unique), 500):
        chunk = unique[i:i + 500]
        out.update((int(a), str(b)) for a, b in db.query(
            f"SELECT institution_id, name FROM institutions WHERE institution_id IN ({', '.join('?' * len(chunk))})",
            chunk))
    return out


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
    rows = db.query("SELECT DISTINCT group_key FROM loan_totals WHERE dimension = 'currency' UNION "
                    "SELECT DISTINCT currency FROM reference_rate_changes")
    return sorted({str(r[0]) for r in rows} | {"CNY"})


def kind_name(kind: int) -> str:
    return INSTITUTION_KIND_NAMES.get(kind, str(kind))


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
    outstanding_cny: int  # the same in CNY minor units, each loan at its rate (rounded up per loan)
    principal: dict[str, int]  # every loan, by currency
    risk_weighted_balance: int  # sum over borrowers, CNY minor units
    total_limit: int
    borrowers_over_limit: int
    borrowers_near_limit: int  # >= 90 % and <= 100 %
    currencies: list[str] = field(default_factory=list)
    financing_types: dict[int, str] = field(default_factory=dict)


def summary(db: Database) -> Summary:
    """From the checkpoint, `loan_totals` and `borrower_positions`: constant time at any size."""
    checkpoint = db.query_one(
        "SELECT c.block_number, b.block_time FROM checkpoint c LEFT JOIN blocks b ON b.block_number = "
        "(SELECT MAX(block_number) FROM blocks WHERE block_number <= c.block_number) WHERE c.id = 1")
    by_status: dict[str, int] = {}
    outstanding: dict[str, int] = {}
    principal: dict[str, int] = {}
    outstanding_cny = 0
    for currency, status, loans, principal_sum, outstanding_sum, cny in db.query(
            "SELECT group_key, status, loans, principal, outstanding, outstanding_cny FROM loan_totals "
            "WHERE dimension = 'currency' ORDER BY status, group_key"):
        name = LOAN_STATUS_NAMES.get(int(status), str(status))
        by_status[name] = by_status.get(name, 0) + int(loans)
        principal[str(currency)] = principal.get(str(currency), 0) + int(principal_sum)
        if int(status) == LOAN_ACTIVE:
            outstanding[str(currency)] = outstanding.get(str(currency), 0) + int(outstanding_sum)
            outstanding_cny += int(cny)
    figures = db.query_one("SELECT COUNT(*), COALESCE(SUM(balance), 0), COALESCE(SUM(limit_cny), 0) "
                           "FROM borrower_positions")
    over = db.query_one("SELECT COUNT(*) FROM borrower_positions WHERE util_rank < -1.0")  # index ranges
    near = db.query_one("SELECT COUNT(*) FROM borrower_positions WHERE util_rank >= -1.0 AND util_rank <= -0.9")
    assert figures is not None and over is not None and near is not None
    count = db.query_one("SELECT COUNT(*) FROM institutions")
    return Summary(
        checkpoint=int(checkpoint[0]) if checkpoint else None,
        checkpoint_time=int(checkpoint[1]) if checkpoint and checkpoint[1] is not None else None,
        institutions=int(count[0]) if count else 0, borrowers=int(figures[0]),
        loans=sum(by_status.values()), loans_by_status=by_status, outstanding=dict(sorted(outstanding.items())),
        outstanding_cny=outstanding_cny, principal=dict(sorted(principal.items())),
        risk_weighted_balance=int(figures[1]), total_limit=int(figures[2]),
        borrowers_over_limit=int(over[0]), borrowers_near_limit=int(near[0]),
        currencies=currencies(db), financing_types=financing_type_names(db))


# ---------------------------------------------------------------------------- a borrower's page

@dataclass
class BorrowerPage:
    """What a borrower's page shows: its exposure, its newest loans and its newest loan events
    (each a first page; follow `next_cursor` with `queries.list_loans` / `queries.loan_events`)."""

    exposure: Exposure
    loans: Listing
    events: Listing

    def to_dict(self) -> dict[str, Any]:
        return {"exposure": exposure_dict(self.exposure),
                "loans": {"total": self.loans.total, "next_cursor": self.loans.next_cursor,
                          "items": self.loans.dicts()},
                "events": {"total": self.events.total, "next_cursor": self.events.next_cursor,
                           "items": self.events.dicts()}}


def borrower_page(db: Database, borrower: int, *, loans: int = 50, events: int = 20) -> BorrowerPage:
    """A borrower's exposure, first page of its loans (newest first) and of its loan events."""
    return BorrowerPage(borrower_exposure(db, borrower), list_loans(db, borrower=borrower, limit=loans),
                        loan_events(db, borrower=borrower, limit=events))


# ---------------------------------------------------------------------------- one loan

def loan_detail(db: Database, loan_id: int) -> dict[str, Any] | None:
    """One loan in its current state with the parties' names and its financing type's name;
    None when the loan is not in the index."""
    columns, rows = db.columns(
        "SELECT l.loan_id, l.borrower, b.name AS borrower_name, l.creditor, c.name AS creditor_name, "
        "l.creditor_country, l.recorder, l.currency, l.financing_type, l.principal, l.drawn, "
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
