"""Borrowers' exposures: risk-weighted balance, limit, headroom, utilisation.

Scopes: the regulator sees every borrower; an institution sees its own exposure only (the
ranking lists itself alone; another borrower's page answers 403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from xborder.api import errors, params, payloads
from xborder.api.deps import DB, Caller
from xborder.api.routes.common import csv, listing_routes, wants_csv

router = APIRouter()


def borrowers(request: Request, db: DB, caller: Caller, sort: params.SortQ = "utilisation",
              min_utilisation: Annotated[float | None, Query(ge=0, le=100, description="only borrowers at or above "
                                                             "this ratio, e.g. 0.9")] = None,
              limit: params.Limit = 100, cursor: params.Cursor = None, format: params.FormatQ = "json") -> Any:
    if caller.institution is None:
        body, listing = payloads.exposures(db, sort=sort, limit=limit, cursor=cursor, min_utilisation=min_utilisation)
    else:
        body, listing = payloads.own_exposure(db, caller.institution, sort=sort, limit=limit, cursor=cursor,
                                              min_utilisation=min_utilisation)
    return csv(listing, "borrowers") if wants_csv(request, format) else body


listing_routes(router, borrowers, path="/api/borrowers", export="/export/borrowers.csv", tags=["exposure"],
               summary="Borrowers' exposures ranked (default: nearest their limit first)")


@router.get("/api/borrowers/{borrower}", tags=["exposure"], responses=errors.responses(403, 404),
            summary="A borrower's exposure: outstanding, risk-weighted balance, limit, headroom, utilisation")
def borrower_exposure(db: DB, caller: Caller, borrower: params.BorrowerPath) -> Any:
    caller.require_own(borrower, "borrower")
    return payloads.exposure(db, borrower)
