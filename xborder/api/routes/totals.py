"""Market-wide figures: headline summary, totals and volumes. Regulator only (403 for an
institution's token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from xborder.api import errors, params, payloads
from xborder.api.deps import DB, Caller
from xborder.api.routes.common import csv, listing_routes, wants_csv

router = APIRouter()


def totals(request: Request, db: DB, caller: Caller, by: params.TotalsByQ = "currency",
           status: params.StatusQ = None, format: params.FormatQ = "json") -> Any:
    caller.require_regulator("totals")
    listing = payloads.totals(db, by, params.status(status))
    if wants_csv(request, format):
        return csv(listing, f"totals_by_{by}")
    return {"by": by, "status": status, "columns": listing.columns, "items": listing.dicts()}


def volumes(request: Request, db: DB, caller: Caller, period: Annotated[Literal["month", "day"], Query()] = "month",
            currency: params.CurrencyQ = None, limit: params.OptionalLimit = None, cursor: params.Cursor = None,
            format: params.FormatQ = "json") -> Any:
    caller.require_regulator("volumes")
    listing = payloads.volumes(db, period, params.currency(currency), limit=limit, cursor=cursor)
    if wants_csv(request, format):
        return csv(listing, f"volumes_by_{period}")
    return {"period": period, "limit": limit, "next_cursor": listing.next_cursor, "columns": listing.columns,
            "items": listing.dicts()}


listing_routes(router, totals, path="/api/totals", export="/export/totals.csv", tags=["totals"], codes=(403,),
               summary="Loan totals by currency, creditor country, financing type, bank or creditor (regulator only)")
listing_routes(router, volumes, path="/api/volumes", export="/export/volumes.csv", tags=["totals"], codes=(403,),
               summary="Drawdown and repayment volumes per month or day and currency (regulator only)")


@router.get("/api/summary", tags=["totals"], summary="Headline figures (regulator only)",
            responses=errors.responses(403))
def summary(db: DB, caller: Caller) -> Any:
    caller.require_regulator("the summary")
    return payloads.summary(db)
