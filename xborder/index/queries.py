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

from xborder.domain.enums import LoanStatus
from xborder.errors import ValidationError
from xborder.index.consistency import ConsistencyReport, LogCountMismatch, Mismatch
from xborder.index.db import Database, Row
from xborder.index.exposures import Exposure, borrower_exposure, borrowers
from xborder.index.loan_state import LOAN_EVENT_NAMES
from xborder.index.pages import MAX_PAGE, Listing, check_limit, decode_cursor, page_of
from xborder.index.policy import (
    PARAMETER_DEFAULTS,
    borrowing_limit,
    parameter_label,
    parameter_unit,
    parameters,
)

__all__ = [
    "LOAN_EVENT_NAMES", "MAX_PAGE", "PARAMETER_DEFAULTS", "STATUS_NAMES", "TOTALS_BY", "ConsistencyReport",
    "Exposure", "Listing", "LogCountMismatch", "Mismatch", "agents", "borrower_exposure", "borrowers",
    "borrowing_limit", "drawdown_freezes", "list_loans", "loan_events", "loan_history", "parameter_changes",
    "parameters",
    "reference_rates", "status_code", "totals", "volumes",
]

#: The loan statuses by their Solidity names (what filters take and listings show), None excluded.
STATUS_NAMES = tuple(s.solidity_name for s in LoanStatus if s is not LoanStatus.NONE)
#: totals(by=...) -> how the group is shown ("bank" = the institution that recorded the loan)
TOTALS_BY = ("currency", "creditor_country", "financing_type", "bank", "creditor")
_NUMERIC_GROUPS = frozenset({"financing_type", "bank", "creditor"})
_LOAN_COLUMNS = ("l.loan_id, l.borrower, l.creditor, l.creditor_country, l.currency, l.financing_type, l.principal, "
                 "l.drawn, l.outstanding, l.rate, l.weight_bps, l.contribution, l.value_date, l.maturity_date, "
                 "l.status, l.document_hash, l.recorded_block, l.recorded_tx, l.recorder, l.short_term, "
                 "l.borrower_consented, l.creditor_consented, l.confirm_by, l.outstanding_cny, l.document_released")
_EVENT_COLUMNS = ("e.block_number, e.log_index, e.block_time, e.tx_hash, e.event, e.loan_id, e.borrower, "
                  "b.name AS borrower_name, l.creditor, c.name AS creditor_name, l.currency, e.amount, e.status, "
                  "e.outstanding, e.borrower_balance")


def status_code(status: int | str) -> int:
    """A loan status by number or Solidity name (any case)."""
    if isinstance(status, int):
        return status
    for member in LoanStatus:
        if member is not LoanStatus.NONE and member.solidity_name.lower() == status.lower():
            return int(member)
    raise ValidationError(f"status: {status!r} is not a loan status", field="status", value=status,
                          allowed=", ".join(STATUS_NAMES))


def _named_status(columns: list[str], rows: list[Row]) -> list[Row]:
    """`status` as its Solidity name, with `status_label` (`xborder.domain.enums`) in the last column."""
    columns.append("status_label")
    at = columns.index("status")
    return [(*r[:at], LoanStatus.name_of(int(r[at])), *r[at + 1:], LoanStatus.label_of(int(r[at]))) for r in rows]


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
    page.rows = _named_status(page.columns, page.rows)
    return page


def loan_history(db: Database, loan_id: int, *, limit: int = MAX_PAGE, cursor: str | None = None) -> Listing:
    """Every event of one loan, in chain order, with what it says (who, consent side, reason, agent,
    contribution change, CNY amount) and the state after it. Status, side and reason are numbers here
    (`xborder.domain.enums` LoanStatus, ConsentSide, ReasonCode); the API names and labels them."""
    check_limit(limit)
    after = decode_cursor(cursor, (int, int))
    extra = " AND (block_number, log_index) > (?, ?)" if after is not None else ""
    columns, rows = db.columns(
        "SELECT block_number, log_index, tx_hash, block_time, event, amount, by_institution, wallet, side, reason, "
        "by_agent, with_consent, contribution_change, amount_cny, rate, weight_bps, "
        "status, drawn, outstanding, maturity_date, short_term, borrower_consented, creditor_consented, contribution, "
        "outstanding_cny, document_released, borrower_balance "
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
    page.rows = _named_status(page.columns, page.rows)
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


# ---------------------------------------------------------------------------- ledger v2: agents, freezes

def agents(db: Database, *, institution: int | None = None) -> Listing:
    """The current agency appointments (each pair's latest AgentAppointed / AgentDismissed is an
    appointment): `agent` is lender side of `principal`'s loans. With `institution`, those where it
    is the principal or the agent. Few rows (one per pair): not paged."""
    where, params = "", []
    if institution is not None:
        where, params = "AND (a.principal = ? OR a.agent = ?)", [institution, institution]
    columns, rows = db.columns(
        "SELECT a.principal, p.name AS principal_name, a.agent, g.name AS agent_name, a.block_number AS since_block, "
        "a.block_time AS since, a.wallet FROM agent_events a "
        "LEFT JOIN institutions p ON p.institution_id = a.principal "
        "LEFT JOIN institutions g ON g.institution_id = a.agent "
        "WHERE a.event = 'AgentAppointed' AND NOT EXISTS (SELECT 1 FROM agent_events b WHERE b.principal = a.principal "
        "AND b.agent = a.agent AND (b.block_number > a.block_number OR (b.block_number = a.block_number "
        f"AND b.log_index > a.log_index))) {where} ORDER BY a.principal, a.agent", params)
    return Listing(columns, rows, len(rows))


def drawdown_freezes(db: Database, *, institution: int | None = None) -> Listing:
    """Every DrawdownsFrozen / DrawdownsUnfrozen, oldest first (`frozen` 1 / 0, `reason` a ReasonCode
    number), of one institution or all. The current flag is on the borrower's exposure."""
    where, params = "", []
    if institution is not None:
        where, params = "WHERE f.institution_id = ?", [institution]
    columns, rows = db.columns(
        "SELECT f.block_number, f.log_index, f.block_time, f.tx_hash, f.institution_id, i.name, f.frozen, f.reason, "
        f"f.by_wallet FROM drawdown_freezes f LEFT JOIN institutions i ON i.institution_id = f.institution_id {where} "
        "ORDER BY f.block_number, f.log_index", params)
    return Listing(columns, rows, len(rows))


def parameter_changes(db: Database) -> Listing:
    """Every ParameterUpdated of the policy, oldest first (the v2 policy's deployment emits one per
    parameter), with the parameter's label and unit (`xborder.domain.enums.Parameter`: bps or days)."""
    columns, rows = db.columns("SELECT block_number, log_index, block_time, tx_hash, name AS parameter, old_value, "
                               "new_value FROM parameter_changes ORDER BY block_number, log_index")
    at = columns.index("parameter")
    return Listing([*columns, "label", "unit"],
                   [(*r, parameter_label(str(r[at])), parameter_unit(str(r[at]))) for r in rows], len(rows))
