"""Loans and their events.

Scopes: the regulator sees every loan. An institution sees the loans it is a party to: in
listings it names itself as `borrower` or `creditor` (naming neither means `borrower` = itself);
one loan answers when it is the borrower, the creditor or the recorder, and otherwise 404 exactly
as for a loan that does not exist (so loan ids cannot be probed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from xborder.api import errors, params, payloads
from xborder.api.deps import DB, Caller, Principal
from xborder.api.routes.common import csv, listing_routes, wants_csv

router = APIRouter()


def _parties(caller: Principal, borrower: int | None, creditor: int | None) -> tuple[int | None, int | None]:
    """The borrower/creditor filters an institution's token may use (403 when it names another)."""
    me = caller.institution
    if me is None or me in (borrower, creditor):
        return borrower, creditor
    if borrower is None and creditor is None:
        return me, None
    if borrower is not None:
        raise caller.not_own(borrower, "borrower")
    raise caller.not_own(creditor or 0, "creditor")


def loans(request: Request, db: DB, caller: Caller, dates: params.Dates, borrower: params.InstitutionQ = None,
          creditor: params.InstitutionQ = None, currency: params.CurrencyQ = None,
          creditor_country: params.CountryQ = None, status: params.StatusQ = None, limit: params.Limit = 100,
          cursor: params.Cursor = None, format: params.FormatQ = "json") -> Any:
    borrower, creditor = _parties(caller, borrower, creditor)
    payloads.require_institution(db, borrower, "borrower")
    payloads.require_institution(db, creditor, "creditor")
    listing = payloads.loans(db, borrower=borrower, creditor=creditor, currency=params.currency(currency),
                             creditor_country=params.country(creditor_country), status=params.status(status),
                             value_date_from=dates.start, value_date_to=dates.end, limit=limit, cursor=cursor)
    return csv(listing, "loans") if wants_csv(request, format) else payloads.page(listing, limit)


def events(request: Request, db: DB, caller: Caller, borrower: params.InstitutionQ = None,
           currency: params.CurrencyQ = None, event: params.EventQ = None, limit: params.Limit = 20,
           cursor: params.Cursor = None, format: params.FormatQ = "json") -> Any:
    if caller.institution is not None:
        borrower = caller.institution if borrower is None else borrower
        caller.require_own(borrower, "borrower")
    payloads.require_institution(db, borrower, "borrower")
    listing = payloads.events(db, limit=limit, cursor=cursor, borrower=borrower, currency=params.currency(currency),
                              event=event)
    return csv(listing, "events") if wants_csv(request, format) else payloads.page(listing, limit)


listing_routes(router, loans, path="/api/loans", export="/export/loans.csv", tags=["loans"], codes=(403, 404),
               summary="Loans in their current state, newest first")
listing_routes(router, events, path="/api/events", export="/export/events.csv", tags=["loans"], codes=(403, 404),
               summary="Loan events, newest first")


@router.get("/api/loans/{loan_id}", tags=["loans"], summary="One loan and its event history",
            responses=errors.responses(404))
def loan(db: DB, caller: Caller, loan_id: params.LoanId) -> Any:
    body = payloads.loan(db, loan_id)
    me = caller.institution
    if me is not None and me not in (body["loan"]["borrower"], body["loan"]["creditor"], body["loan"]["recorder"]):
        raise payloads.NotInIndex(f"loan_id: loan {loan_id} ({loan_id >> 32}:{loan_id & payloads.UINT32_MAX}) "
                                  "is not in the index", field="loan_id", value=loan_id)
    return body
