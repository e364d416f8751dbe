"""The regulator's questions, answered from the index database alone (used by the CLI, the HTTP API,
the dashboard snapshot and the demo). Nothing here talks to a node: the chain half of the
consistency check is `xborder.index.reconcile`.

Figures follow docs/contracts.md: amounts in 1/100 of the loan currency, balances, limits and
capital bases in CNY minor units, factors in basis points. Listings are paged by keyset
(`xborder.index.pages`); totals, volumes and exposures read the summary tables the projection
keeps (`xborder.index.summaries`), so each answer costs the same at 1,000 or 1,000,000 loans.
"""

from __future__ import annotations

from typing import Any

from xborder.errors import ValidationError
from xborder.index.consistency import ConsistencyReport, LogCountMismatch, Mismatch
from xborder.index.db import Database, Row
from xborder.index.exposures import Exposure, borrower_exposure, borrowers
from xborder.index.pages import MAX_PAGE, Listing, check_limit, decode_cursor, page_of
from xborder.index.policy import PARAMETER_DEFAULTS, borrowing_limit, parameters
from xborder.index.projection import LOAN_STATUS_NAMES

__all__ = [
    "MAX_PAGE", "PARAMETER_DEFAULTS", "TOTALS_BY", "ConsistencyReport", "Exposure", "Listing", "LogCountMismatch",
    "Mismatch", "borrower_exposure", "borrowers", "borrowing_limit", "list_loans", "loan_events", "loan_history",
    "parameters", "reference_rates", "status_code", "totals", "volumes",
]

LOAN_EVENT_NAMES = ("LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanRepaid", "LoanExtended",
                    "LoanCancelled", "LoanClosed", "LoanDefaulted")
#: totals(by=...) -> how the group is shown ("bank" = the institution that recorded the loan)
TOTALS_BY = ("currency", "creditor_country", "financing_type", "bank", "creditor")
_NUMERIC_GROUPS = frozenset({"financing_type", "bank", "creditor"})
_LOAN_COLUMNS = ("l.loan_id, l.borrower, l.creditor, l.creditor_country, l.currency, l.financing_type, l.principal, "
                 "l.drawn, l.outstanding, l.rate, l.weight_bps, l.contribution, l.value_date, l.maturity_date, "
                 "l.status, l.document_hash, l.recorded_block, l.recorded_tx, l.recorder")
_EVENT_COLUMNS = ("e.block_number, e.log_index, e.block_time, e.tx_hash, e.event, e.loan_id, e.borrower, "
                  "b.name AS borrower_name, l.creditor, c.name AS creditor_name, l.currency, e.amount, e.status, "
                  "e.outstanding, e.borrower_balance")


def status_code(status: int | str) -> int:
    if isinstance(status, int):
        return status
    for code, name in LOAN_STATUS_NAMES.items():
        if name.lower() == status.lower():
            return code
    raise ValidationError(f"status: {status!r} is not a loan status", field="status", value=status,
                          allowed=", ".join(n for c, n in LOAN_STATUS_NAMES.items() if c))


def _named_status(columns: list[str], rows: list[Row]) -> list[Row]:
    at = columns.index("status")
    return [(*r[:at], LOAN_STATUS_NAMES.get(int(r[at]), str(r[at])), *r[at + 1:]) for r in rows]


def _loans_total(db: Database, filters: dict[str, Any], where: list[str], params: list[Any],
                 dated: bool) -> int | None:
    """The number of loans of a listing: from `loan_totals` when the filter is at most one dimension
    (or currency with creditor country) and a status; counted when a borrower or a value-date range
    bounds it; None otherwise (a filter combination no summary holds: counting it would scan)."""
    dims = {k: v for k, v in filters.items() if v is not None and k != "status"}
    status = filters.get("status")
    if "borrower" in dims or dated:
        row = db.query_one(f"SELECT COUNT(*) FROM loans l WHERE {' AND '.join(where)}", params)
        return int(row[0]) if row else 0
    if set(dims) == {"currency", "creditor_country"}:
        dims = {"currency_country": f"{dims['currency']}|{dims['creditor_country']}"}
    if len(dims) > 1:
        return None
    dimension, value = next(iter(dims.items())) if dims else ("currency", None)
    sql = "SELECT COALESCE(SUM(loans), 0) FROM loan_totals WHERE dimension = ?"
    args: list[Any] = [dimension]
    if value is not None:
        sql += " AND group_key = ?"
        args.append(str(value))
    if status is not None:
        sql += " AND status = ?"
        args.append(status)
    row = db.query_one(sql, args)
    return int(row[0]) if row else 0


def list_loans(db: Database, *, borrower: int | None = None, creditor: int | None = None, bank: int | None = None,
               currency: str | None = None, creditor_country: str | None = None, status: int | str | None = None,
               financing_type: int | None = None, value_date_from: int | None = None,
               value_date_to: int | None = None, limit: int = 100, cursor: str | None = None,
               with_total: bool = True) -> Listing:
    """Loans in their current state, newest first (recorded block, then loan id, descending);
    dates are unix seconds (value date, inclusive); `bank` is the recording institution. Pass the
    previous page's `next_cursor` as `cursor` for the next page. `total` is None for a filter
    combination the summary tables do not hold (see `_loans_total`)."""
    check_limit(limit)
    filters: dict[str, Any] = {
        "borrower": borrower, "creditor": creditor, "bank": bank,
        "currency": currency.upper() if currency else None,
        "creditor_country": creditor_country.upper() if creditor_country else None,
        "financing_type": financing_type, "status": None if status is None else status_code(status)}
    columns = {"borrower": "l.borrower", "creditor": "l.creditor", "bank": "l.recorder", "currency": "l.currency",
               "creditor_country": "l.creditor_country", "financing_type": "l.financing_type", "status": "l.status"}
    where, params = [], []
    for name, value in filters.items():
        if value is not None:
            where.append(f"{columns[name]} = ?")
            params.append(value)
    if value_date_from is not None:
        where.append("l.value_date >= ?")
        params.append(value_date_from)
    if value_date_to is not None:
        where.append("l.value_date <= ?")
        params.append(value_date_to)
    dated = value_date_from is not None or value_date_to is not None
    total = _loans_total(db, filters, where, params, dated) if with_total else None
    after = decode_cursor(cursor, (int, int))
    page_where, page_params = list(where), list(params)
    if after is not None:
        page_where.append("(l.recorded_block, l.loan_id) < (?, ?)")
        page_params.extend(after)
    clause = f"WHERE {' AND '.join(page_where)}" if page_where else ""
    cols, rows = db.columns(f"SELECT {_LOAN_COLUMNS} FROM loans l {clause} "
                            "ORDER BY l.recorded_block DESC, l.loan_id DESC LIMIT ?", (*page_params, limit + 1))
    key = (cols.index("recorded_block"), cols.index("loan_id"))
    page = page_of(cols, rows, limit, key, total)
    page.rows = _named_status(cols, page.rows)
    return page


def loan_history(db: Database, loan_id: int, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Listing:
    """Every event of one loan, in chain order, with the state after it."""
    check_limit(limit)
    after = decode_cursor(cursor, (int, int))
    extra = " AND (block_number, log_index) > (?, ?)" if after is not None else ""
    columns, rows = db.columns(
        "SELECT block_number, log_index, tx_hash, block_time, event, amount, by_institution, wallet, "
        "status, drawn, outstanding, maturity_date, weight_bps, contribution, borrower_balance "
        f"FROM loan_events WHERE loan_id = ?{extra} ORDER BY block_number, log_index LIMIT ?",
        (loan_id, *(after or ()), limit + 1))
    return page_of(columns, rows, limit, (0, 1), None)


def loan_events(db: Database, *, limit: int = 20, cursor: str | None = None, borrower: int | None = None,
                currency: str | None = None, event: str | None = None, with_total: bool = True) -> Listing:
    """Loan events, newest first, with the loan's currency and the parties' names."""
    check_limit(limit)
    where: list[str] = []
    params: list[Any] = []
    if borrower is not None:
        where.append("e.borrower = ?")
        params.append(borrower)
    if currency is not None:
        where.append("l.currency = ?")
        params.append(currency.upper())
    if event is not None:
        match = next((n for n in LOAN_EVENT_NAMES if n.lower() in (event.lower(), "loan" + event.lower())), None)
        if match is None:
            raise ValidationError(f"event: {event!r} is not a loan event ({', '.join(LOAN_EVENT_NAMES)})",
                                  field="event", value=event, allowed=", ".join(LOAN_EVENT_NAMES))
        where.append("e.event = ?")
        params.append(match)
        event = match
    total = None
    if with_total:
        total = _events_total(db, where, params, borrower, currency, event)
    after = decode_cursor(cursor, (int, int))
    if after is not None:
        where.append("(e.block_number, e.log_index) < (?, ?)")
        params.extend(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    columns, rows = db.columns(
        f"SELECT {_EVENT_COLUMNS} FROM loan_events e JOIN loans l ON l.loan_id = e.loan_id "
        "LEFT JOIN institutions b ON b.institution_id = e.borrower "
        f"LEFT JOIN institutions c ON c.institution_id = l.creditor {clause} "
        "ORDER BY e.block_number DESC, e.log_index DESC LIMIT ?", (*params, limit + 1))
    page = page_of(columns, rows, limit, (0, 1), total)
    page.rows = _named_status(columns, page.rows)
    return page


def _events_total(db: Database, where: list[str], params: list[Any], borrower: int | None, currency: str | None,
                  event: str | None) -> int:
    """From `event_counts`, or counted over one borrower's events (its index range)."""
    if borrower is None:
        sql, args = "SELECT COALESCE(SUM(events), 0) FROM event_counts WHERE 1 = 1", []
        if event is not None:
            sql += " AND event = ?"
            args.append(event)
        if currency is not None:
            sql += " AND currency = ?"
            args.append(currency.upper())
        row = db.query_one(sql, args)
        return int(row[0]) if row else 0
    join = " JOIN loans l ON l.loan_id = e.loan_id" if currency is not None else ""
    row = db.query_one(f"SELECT COUNT(*) FROM loan_events e{join} WHERE {' AND '.join(where)}", params)
    return int(row[0]) if row else 0


def reference_rates(db: Database) -> dict[str, int]:
    """Current FX reference rates (CNY per unit x 1e8); removed currencies are left out."""
    rows = db.query(
        "SELECT r.currency, r.new_rate FROM reference_rate_changes r WHERE NOT EXISTS ("
        "SELECT 1 FROM reference_rate_changes s WHERE s.currency = r.currency AND (s.block_number > "
        "r.block_number OR (s.block_number = r.block_number AND s.log_index > r.log_index)))")
    return {str(c): int(r) for c, r in rows if int(r) != 0} | {"CNY": 10**8}


def totals(db: Database, by: str, *, status: int | str | None = None) -> Listing:
    """Loan count, principal, drawn, outstanding, risk-weighted contribution and outstanding in CNY
    (each loan at its rate) grouped `by` currency, creditor_country, financing_type, bank (the
    recording institution) or creditor. Amounts other than *_cny and contribution add up each
    loan's own currency: use by="currency" for per-currency sums. From `loan_totals`."""
    if by not in TOTALS_BY:
        raise ValidationError(f"by: {by!r} is not a grouping ({', '.join(TOTALS_BY)})", field="by", value=by,
                              allowed=", ".join(TOTALS_BY))
    where = "WHERE t.dimension = ?"
    params: list[Any] = [by]
    if status is not None:
        where += " AND t.status = ?"
        params.append(status_code(status))
    columns, rows = db.columns(
        f"SELECT t.group_key AS {by}, SUM(t.loans) AS loans, SUM(t.principal) AS principal, SUM(t.drawn) AS drawn, "
        "SUM(t.outstanding) AS outstanding, SUM(t.contribution) AS contribution, "
        f"SUM(t.outstanding_cny) AS outstanding_cny FROM loan_totals t {where} GROUP BY t.group_key", params)
    if by in _NUMERIC_GROUPS:
        rows = sorted(((int(r[0]), *r[1:]) for r in rows), key=lambda r: r[0])
    else:
        rows = sorted(rows, key=lambda r: str(r[0]))
    if by in ("bank", "creditor"):
        names: dict[int, str] = {}
        ids = [int(r[0]) for r in rows]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            names.update((int(a), str(b)) for a, b in db.query(
                f"SELECT institution_id, name FROM institutions WHERE institution_id IN ({', '.join('?' * len(chunk))})",
                chunk))
        columns = [*columns, "name"]
        rows = [(*r, names.get(int(r[0]))) for r in rows]
    return Listing(columns, rows, len(rows))


def volumes(db: Database, period: str = "month", *, currency: str | None = None, limit: int | None = None,
            cursor: str | None = None) -> Listing:
    """Drawdown and repayment volumes per day or month (UTC, by block time) and currency, with the
    CNY equivalents (each event at its loan's rate, rounded up) and loans recorded. In time order;
    with `limit`, paged by (bucket, currency)."""
    if period not in ("day", "month"):
        raise ValidationError(f"period: {period!r} is not a period (day, month)", field="period", value=period,
                              allowed="day, month")
    where: list[str] = ["period = ?"]
    params: list[Any] = [period]
    if currency:
        where.append("currency = ?")
        params.append(currency.upper())
    after = decode_cursor(cursor, (str, str))
    if after is not None:
        where.append("(bucket, currency) > (?, ?)")
        params.extend(after)
    tail = ""
    if limit is not None:
        check_limit(limit)
        tail = " LIMIT ?"
        params.append(limit + 1)
    columns, rows = db.columns(
        f"SELECT bucket AS {period}, currency, drawn, repaid, loans_recorded, drawn_cny, repaid_cny "
        f"FROM volume_buckets WHERE {' AND '.join(where)} ORDER BY bucket, currency{tail}", params)
    if limit is None:
        return Listing(columns, rows, len(rows))
    return page_of(columns, rows, limit, (0, 1), None)
