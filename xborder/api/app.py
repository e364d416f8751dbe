"""The regulator's read-only HTTP API over the index database, and the dashboard at `/`.

`create_app(settings_or_url)` builds a fresh FastAPI app (no module-level state). Each request
opens its own database connection (SQLite or PostgreSQL) and closes it when the answer is sent.
Listings answer JSON pages (`limit`, `cursor`, `next_cursor`: keyset pages) or CSV with `?format=csv`; the
same listings are also at `/export/<name>.csv`.

Bad parameters answer 400 (a value the index cannot use: unknown status, malformed currency,
bad date ...) or 422 (wrong type or range), always with a body `{"detail": "<param>: <value> ...
(<what is allowed>)", "field": ..., "value": ..., "allowed": ...}`; unknown borrowers, creditors
and loans answer 404; an index database that is missing or not indexed yet answers 503.
"""

# No `from __future__ import annotations`: FastAPI reads the (closure-local) annotations at runtime.

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from xborder.api import payloads
from xborder.api.payloads import NotFound
from xborder.config import Settings
from xborder.errors import ChainError, ConfigurationError, ValidationError, XborderError
from xborder.index import analytics, queries
from xborder.index.db import Database, IndexDatabaseError, open_database, redact

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_PAGE = queries.MAX_PAGE

Format = Literal["json", "csv"]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, 1 to {MAX_PAGE}")]
Cursor = Annotated[str | None, Query(max_length=400, description="the next_cursor of the previous page")]
FormatQ = Annotated[Format, Query(description="json (default) or csv")]
InstitutionQ = Annotated[int | None, Query(ge=1, le=payloads.UINT32_MAX, description="institution id")]


class IndexUnavailable(XborderError, RuntimeError):
    """The index database is missing, empty or unreachable."""


def _error(status: int, message: str, *, field: str | None = None, value: object = None,
           allowed: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": message}
    if field is not None:
        body.update(field=field, value=value, allowed=allowed)
    return JSONResponse(jsonable_encoder(body), status_code=status)


def _describe_validation(exc: RequestValidationError) -> JSONResponse:
    parts, first = [], None
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(loc) or "request"
        value = err.get("input")
        parts.append(f"{name}: {value!r} is not allowed ({err.get('msg', 'invalid')})")
        first = first or (name, value, err.get("msg"))
    name, value, allowed = first or ("request", None, None)
    return _error(422, "; ".join(parts), field=name, value=value, allowed=allowed)


def _csv(listing: queries.Listing, name: str) -> Response:
    return PlainTextResponse(listing.to_csv(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _wants_csv(request: Request, fmt: Format) -> bool:
    return fmt == "csv" or request.url.path.startswith("/export/")


def create_app(config: Settings | str) -> FastAPI:
    """The API over the index database of `config` (Settings, or an index database URL).
    The consistency check (`/api/consistency`) exists only when the settings name an RPC URL."""
    settings = Settings(database_url=config) if isinstance(config, str) else config
    db_url = settings.index_url
    app = FastAPI(
        title="xborder regulator API",
        version="1.0",
        description=(
            "Read-only view of the cross-border financing registry, from the event index. Loan amounts "
            "are integers in 1/100 of the loan currency; balances, limits, headroom and `*_cny` figures "
            "in CNY minor units (1/100 yuan); utilisation is balance / limit. Listings take "
            "`limit`/`cursor` (the previous page's `next_cursor`) and `format=csv` (or `/export/<listing>.csv`)."),
    )
    app.state.settings = settings

    def get_db() -> Iterator[Database]:
        try:
            db = open_database(db_url, migrate=False)
        except (ConfigurationError, IndexDatabaseError) as exc:
            raise IndexUnavailable(str(exc)) from None
        try:
            if not db.table_exists("loans"):
                raise IndexUnavailable(f"the index database {redact(db_url)} is empty: run `xborder index run`")
            yield db
        finally:
            db.close()

    DB = Annotated[Database, Depends(get_db)]

    # ------------------------------------------------------------------ errors

    @app.exception_handler(ValidationError)
    def _bad_value(_: Request, exc: ValidationError) -> JSONResponse:
        return _error(400, str(exc), field=exc.field, value=exc.value, allowed=exc.allowed)

    @app.exception_handler(NotFound)
    def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc), field=exc.field, value=exc.value)

    @app.exception_handler(RequestValidationError)
    def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _describe_validation(exc)

    @app.exception_handler(IndexUnavailable)
    def _unavailable(_: Request, exc: IndexUnavailable) -> JSONResponse:
        return _error(503, str(exc))

    # ------------------------------------------------------------------ dashboard

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------ listings

    @app.get("/api/loans", tags=["loans"], summary="Loans in their current state, newest first")
    @app.get("/export/loans.csv", tags=["export"], summary="Loans as CSV")
    def loans(request: Request, db: DB, borrower: InstitutionQ = None, creditor: InstitutionQ = None,
              currency: Annotated[str | None, Query(description="ISO 4217, e.g. USD")] = None,
              creditor_country: Annotated[str | None, Query(description="ISO 3166 alpha-2, e.g. HK")] = None,
              status: Annotated[str | None, Query(description=", ".join(payloads.STATUS_NAMES))] = None,
              value_date_from: Annotated[str | None, Query(alias="from", description="value date on or after, YYYY-MM-DD")] = None,
              value_date_to: Annotated[str | None, Query(alias="to", description="value date on or before, YYYY-MM-DD")] = None,
              limit: Limit = 100, cursor: Cursor = None, format: FormatQ = "json") -> Any:
        cur = payloads.parse_currency(currency)
        country = payloads.parse_country(creditor_country)
        st = payloads.parse_status(status)
        start = payloads.parse_date(value_date_from, "from")
        end = payloads.parse_date(value_date_to, "to", end_of_day=True)
        if start is not None and end is not None and start > end:
            raise ValidationError(f"from: {value_date_from!r} is after to: {value_date_to!r}", field="from",
                                  value=value_date_from, allowed=f"a date on or before {value_date_to}")
        payloads.require_institution(db, borrower, "borrower")
        payloads.require_institution(db, creditor, "creditor")
        listing = queries.list_loans(db, borrower=borrower, creditor=creditor, currency=cur,
                                     creditor_country=country, status=st, value_date_from=start,
                                     value_date_to=end, limit=limit, cursor=cursor)
        return _csv(listing, "loans") if _wants_csv(request, format) else payloads.page(listing, limit)

    @app.get("/api/loans/{loan_id}", tags=["loans"], summary="One loan and its event history")
    def loan(db: DB, loan_id: Annotated[str, PathParam(description="decimal, 0x hex or BORROWER:N")]) -> Any:
        return payloads.loan(db, payloads.parse_loan_id(loan_id))

    @app.get("/api/borrowers", tags=["exposure"],
             summary="Borrowers' exposures ranked (default: nearest their limit first)")
    @app.get("/export/borrowers.csv", tags=["export"], summary="Borrowers' exposures as CSV")
    def borrowers(request: Request, db: DB,
                  sort: Annotated[str, Query(description=", ".join(analytics.EXPOSURE_SORTS))] = "utilisation",
                  min_utilisation: Annotated[float | None, Query(ge=0, le=100, description="only borrowers at or above this ratio, e.g. 0.9")] = None,
                  limit: Limit = 100, cursor: Cursor = None, format: FormatQ = "json") -> Any:
        body, listing = payloads.exposures(db, sort=sort, limit=limit, cursor=cursor, min_utilisation=min_utilisation)
        return _csv(listing, "borrowers") if _wants_csv(request, format) else body

    @app.get("/api/borrowers/{borrower}", tags=["exposure"],
             summary="A borrower's exposure: outstanding, risk-weighted balance, limit, headroom, utilisation")
    def borrower_exposure(db: DB, borrower: Annotated[int, PathParam(ge=1, le=payloads.UINT32_MAX)]) -> Any:
        return payloads.exposure(db, borrower)

    @app.get("/api/totals", tags=["totals"], summary="Loan totals by currency, creditor country or financing type")
    @app.get("/export/totals.csv", tags=["export"], summary="Totals as CSV")
    def totals(request: Request, db: DB,
               by: Annotated[Literal["currency", "creditor_country", "financing_type"], Query()] = "currency",
               status: Annotated[str | None, Query(description=", ".join(payloads.STATUS_NAMES))] = None,
               format: FormatQ = "json") -> Any:
        listing = payloads.totals(db, by, payloads.parse_status(status))
        if _wants_csv(request, format):
            return _csv(listing, f"totals_by_{by}")
        return {"by": by, "status": status, "columns": listing.columns, "items": listing.dicts()}

    @app.get("/api/volumes", tags=["totals"], summary="Drawdown and repayment volumes per month or day and currency")
    @app.get("/export/volumes.csv", tags=["export"], summary="Volumes as CSV")
    def volumes(request: Request, db: DB, period: Annotated[Literal["month", "day"], Query()] = "month",
                currency: Annotated[str | None, Query(description="ISO 4217, e.g. USD")] = None,
                format: FormatQ = "json") -> Any:
        listing = analytics.volumes_with_cny(db, period, currency=payloads.parse_currency(currency))
        if _wants_csv(request, format):
            return _csv(listing, f"volumes_by_{period}")
        return {"period": period, "columns": listing.columns, "items": listing.dicts()}

    @app.get("/api/events", tags=["loans"], summary="Latest loan events, newest first")
    @app.get("/export/events.csv", tags=["export"], summary="Loan events as CSV")
    def events(request: Request, db: DB, borrower: InstitutionQ = None,
               currency: Annotated[str | None, Query(description="ISO 4217, e.g. USD")] = None,
               event: Annotated[str | None, Query(description=", ".join(analytics.LOAN_EVENTS))] = None,
               limit: Limit = 20, cursor: Cursor = None, format: FormatQ = "json") -> Any:
        cur = payloads.parse_currency(currency)
        payloads.require_institution(db, borrower, "borrower")
        listing = analytics.latest_events(db, limit=limit, cursor=cursor, borrower=borrower, currency=cur, event=event)
        return _csv(listing, "events") if _wants_csv(request, format) else payloads.page(listing, limit)

    # ------------------------------------------------------------------ headline and status

    @app.get("/api/summary", tags=["totals"], summary="Headline figures")
    def summary(db: DB) -> Any:
        return payloads.summary(db)

    @app.get("/api/status", tags=["index"], summary="Index checkpoint, row counts and lag behind the node")
    def status(db: DB) -> Any:
        body = payloads.status(db)
        body.update(rpc_url=settings.rpc_url, head=None, lag=None, node_error=None)
        if settings.rpc_url:
            try:
                from xborder.index.service import indexer_web3

                head = int(indexer_web3(settings.rpc_url, timeout=5.0).eth.block_number)
                body.update(head=head, lag=head - body["checkpoint"] if body["checkpoint"] is not None else None)
            except Exception as exc:  # the node being down must not take the status page down
                log.warning("status: node %s unreachable: %s", settings.rpc_url, exc)
                body["node_error"] = f"node {settings.rpc_url} unreachable: {type(exc).__name__}"
        return body

    if settings.rpc_url:
        rpc_url = settings.rpc_url

        @app.get("/api/consistency", tags=["index"],
                 summary="Compare every borrower's indexed balance, limit and headroom with the ledger")
        def consistency(db: DB) -> Any:
            from xborder.index.reconcile import consistency_report
            from xborder.index.service import indexer_web3

            try:
                report = consistency_report(db, indexer_web3(rpc_url, timeout=30.0), expected_chain_id=settings.chain_id)
            except ChainError as exc:
                return _error(503, str(exc))
            return {"ok": report.ok, "block": report.block, "checked": report.checked,
                    "borrowers": report.borrowers, "logs_checked": report.logs_checked,
                    "mismatches": [m.__dict__ for m in report.mismatches],
                    "log_mismatches": [m.__dict__ for m in report.log_mismatches], "internal": report.internal}

    return app
