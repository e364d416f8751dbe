"""The regulator's questions, answered from the index database (used by the CLI and the HTTP API).

Figures follow docs/contracts.md: amounts in 1/100 of the loan currency, balances, limits and
capital bases in CNY minor units, factors in basis points. The limit is recomputed from indexed
registry and policy events exactly as the policy contract computes it:
    floor(capitalBase x leverage(kind) x adjustment(kind) / 1e8).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, TextIO

from web3 import Web3

from xborder.chain.sender import rpc_batch
from xborder.errors import ChainError, ValidationError
from xborder.index.db import Database, Row
from xborder.index.projection import (
    INSTITUTION_KIND_NAMES,
    INSTITUTION_STATUS_NAMES,
    LOAN_ACTIVE,
    LOAN_STATUS_NAMES,
    PARAMETER_NAMES,
)

#: The policy's constructor values (set without events; ParameterUpdated events override them).
PARAMETER_DEFAULTS: dict[str, int] = {
    "LeverageDomesticBank": 8000, "LeverageForeignBankBranch": 8000, "LeverageNonBank": 10000,
    "LeverageEnterprise": 20000, "AdjustmentEnterprise": 17500, "AdjustmentFinancial": 17500,
    "TermFactorShort": 15000, "TermFactorLong": 10000, "OnBalanceFactor": 10000,
    "OffBalanceFactor": 10000, "FxRiskFactor": 5000, "OneYearSeconds": 31_536_000,
}
_LIMIT_FACTORS = {  # kind -> (leverage parameter, adjustment parameter)
    0: ("LeverageDomesticBank", "AdjustmentFinancial"),
    1: ("LeverageForeignBankBranch", "AdjustmentFinancial"),
    2: ("LeverageNonBank", "AdjustmentFinancial"),
    3: ("LeverageEnterprise", "AdjustmentEnterprise"),
}
MAX_PAGE = 10_000


@dataclass
class Listing:
    """Rows with column names: what every listing query returns; `to_csv` exports any of them."""

    columns: list[str]
    rows: list[Row]
    total: int | None = None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self, out: TextIO | None = None) -> str:
        buffer = out or io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue() if isinstance(buffer, io.StringIO) else ""


def _status_code(status: int | str) -> int:
    if isinstance(status, int):
        return status
    for code, name in LOAN_STATUS_NAMES.items():
        if name.lower() == status.lower():
            return code
    raise ValidationError(f"unknown loan status {status!r}", field="status", value=status,
                          allowed=", ".join(n for c, n in LOAN_STATUS_NAMES.items() if c))


def list_loans(db: Database, *, borrower: int | None = None, creditor: int | None = None,
               currency: str | None = None, creditor_country: str | None = None,
               status: int | str | None = None, value_date_from: int | None = None,
               value_date_to: int | None = None, limit: int = 100, offset: int = 0) -> Listing:
    """Loans in their current state, newest first; dates are unix seconds (value date, inclusive)."""
    if not 0 < limit <= MAX_PAGE or offset < 0:
        raise ValidationError(f"page size must be 1..{MAX_PAGE} and offset >= 0", field="limit", value=limit)
    where, params = [], []  # type: ignore[var-annotated]
    for column, value in (("l.borrower", borrower), ("l.creditor", creditor),
                          ("l.currency", currency.upper() if currency else None),
                          ("c.jurisdiction", creditor_country.upper() if creditor_country else None)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if status is not None:
        where.append("l.status = ?")
        params.append(_status_code(status))
    if value_date_from is not None:
        where.append("l.value_date >= ?")
        params.append(value_date_from)
    if value_date_to is not None:
        where.append("l.value_date <= ?")
        params.append(value_date_to)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    base = f"FROM loans l LEFT JOIN institutions c ON c.institution_id = l.creditor {clause}"
    columns, rows = db.columns(
        "SELECT l.loan_id, l.borrower, l.creditor, c.jurisdiction AS creditor_country, l.currency, "
        "l.financing_type, l.principal, l.drawn, l.outstanding, l.rate, l.weight_bps, l.contribution, "
        "l.value_date, l.maturity_date, l.status, l.document_hash, l.recorded_block, l.recorded_tx "
        f"{base} ORDER BY l.recorded_block DESC, l.loan_id DESC LIMIT ? OFFSET ?", (*params, limit, offset))
    total = db.query_one(f"SELECT COUNT(*) {base}", params)
    status_at = columns.index("status")
    named = [(*row[:status_at], LOAN_STATUS_NAMES.get(int(row[status_at]), str(row[status_at])),
              *row[status_at + 1:]) for row in rows]
    return Listing(columns, named, int(total[0]) if total else 0)


def loan_history(db: Database, loan_id: int) -> Listing:
    """Every event of one loan, in chain order, with the state after it."""
    columns, rows = db.columns(
        "SELECT block_number, log_index, tx_hash, block_time, event, amount, by_institution, wallet, "
        "status, drawn, outstanding, maturity_date, weight_bps, contribution, borrower_balance "
        "FROM loan_events WHERE loan_id = ? ORDER BY block_number, log_index", (loan_id,))
    return Listing(columns, rows)


def parameters(db: Database) -> dict[str, int]:
    """The policy's scalar parameters now: constructor defaults overlaid with ParameterUpdated events."""
    current = dict(PARAMETER_DEFAULTS)
    for parameter, value in db.query(
            "SELECT p.parameter, p.new_value FROM parameter_changes p WHERE NOT EXISTS ("
            "SELECT 1 FROM parameter_changes q WHERE q.parameter = p.parameter AND (q.block_number > "
            "p.block_number OR (q.block_number = p.block_number AND q.log_index > p.log_index)))"):
        name = PARAMETER_NAMES[int(parameter)] if int(parameter) < len(PARAMETER_NAMES) else str(parameter)
        current[name] = int(value)
    return current


def reference_rates(db: Database) -> dict[str, int]:
    """Current FX reference rates (CNY per unit x 1e8); removed currencies are left out."""
    rows = db.query(
        "SELECT r.currency, r.new_rate FROM reference_rate_changes r WHERE NOT EXISTS ("
        "SELECT 1 FROM reference_rate_changes s WHERE s.currency = r.currency AND (s.block_number > "
        "r.block_number OR (s.block_number = r.block_number AND s.log_index > r.log_index)))")
    return {str(c): int(r) for c, r in rows if int(r) != 0} | {"CNY": 10**8}


def borrowing_limit(kind: int, capital_base: int, params: dict[str, int]) -> int:
    """floor(capitalBase x leverage x adjustment / 1e8), 0 for kinds that cannot borrow."""
    factors = _LIMIT_FACTORS.get(kind)
    if factors is None:
        return 0
    return capital_base * params[factors[0]] * params[factors[1]] // 10**8


@dataclass
class Exposure:
    borrower: int
    name: str
    kind: str
    status: str
    capital_base: int
    risk_weighted_balance: int
    limit: int
    headroom: int
    utilisation: float | None  # balance / limit; None when the limit is 0
    active_loans: int
    outstanding: dict[str, int] = field(default_factory=dict)  # by currency, minor units
    as_of_block: int | None = None


def borrower_exposure(db: Database, borrower: int, params: dict[str, int] | None = None) -> Exposure:
    """A borrower's outstanding (per currency), risk-weighted balance, limit, headroom, utilisation."""
    inst = db.query_one("SELECT name, kind, status, capital_base FROM institutions WHERE institution_id = ?",
                        (borrower,))
    if inst is None:
        raise ValidationError(f"institution {borrower} is not in the index (is the indexer up to date?)",
                              field="borrower", value=borrower)
    name, kind, status, capital_base = str(inst[0]), int(inst[1]), int(inst[2]), int(inst[3])
    row = db.query_one("SELECT borrower_balance FROM loan_events WHERE borrower = ? "
                       "ORDER BY block_number DESC, log_index DESC LIMIT 1", (borrower,))
    balance = int(row[0]) if row else 0
    outstanding: dict[str, int] = {}
    active = 0
    for currency, total, count in db.query(
            "SELECT currency, SUM(outstanding), COUNT(*) FROM loans WHERE borrower = ? AND status = ? "
            "GROUP BY currency ORDER BY currency", (borrower, LOAN_ACTIVE)):
        outstanding[str(currency)] = int(total)
        active += int(count)
    limit = borrowing_limit(kind, capital_base, params if params is not None else parameters(db))
    checkpoint = db.query_one("SELECT block_number FROM checkpoint WHERE id = 1")
    return Exposure(
        borrower=borrower, name=name, kind=INSTITUTION_KIND_NAMES.get(kind, str(kind)),
        status=INSTITUTION_STATUS_NAMES.get(status, str(status)), capital_base=capital_base,
        risk_weighted_balance=balance, limit=limit, headroom=max(0, limit - balance),
        utilisation=balance / limit if limit else None, active_loans=active, outstanding=outstanding,
        as_of_block=int(checkpoint[0]) if checkpoint else None)


def borrowers(db: Database) -> list[int]:
    """Institutions of a kind that can borrow, plus any institution that ever had a loan."""
    rows = db.query("SELECT institution_id FROM institutions WHERE kind IN (0, 1, 2, 3) "
                    "UNION SELECT DISTINCT borrower FROM loans ORDER BY 1")
    return [int(r[0]) for r in rows]


@dataclass
class Mismatch:
    borrower: int
    name: str
    field: str
    indexed: int
    chain: int


@dataclass
class ConsistencyReport:
    block: int
    checked: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def borrowers(self) -> list[int]:
        return sorted({m.borrower for m in self.mismatches})


def check_consistency(db: Database, w3: Web3, ledger_address: str, ledger_abi: list[dict[str, Any]]) -> ConsistencyReport:
    """Compare, for every borrower, the indexed risk-weighted balance, limit, headroom and the sum
    of its loans' contributions with the ledger's own views at the checkpoint block."""
    checkpoint = db.query_one("SELECT block_number FROM checkpoint WHERE id = 1")
    if checkpoint is None or int(checkpoint[0]) < 0:
        raise ValidationError("the index is empty: run the indexer first", field="checkpoint")
    block = int(checkpoint[0])
    ledger = w3.eth.contract(address=Web3.to_checksum_address(ledger_address), abi=ledger_abi)
    params = parameters(db)
    sums: dict[int, int] = {int(b): int(s) for b, s in db.query(
        "SELECT borrower, SUM(contribution) FROM loans GROUP BY borrower")}
    mismatches = []
    ids = borrowers(db)
    views = ("riskWeightedBalance", "borrowingLimit", "headroom")
    # One JSON-RPC batch for all views of all borrowers: thousands of borrowers check in a second.
    calls = [("eth_call", [{"to": ledger.address,
                            "data": getattr(ledger.functions, view)(borrower)._encode_transaction_data()},
                           hex(block)]) for borrower in ids for view in views]
    answers = rpc_batch(w3, calls)
    for n, borrower in enumerate(ids):
        exposure = borrower_exposure(db, borrower, params)
        indexed = {"risk_weighted_balance": exposure.risk_weighted_balance, "limit": exposure.limit,
                   "headroom": exposure.headroom,
                   "sum_of_contributions": int(sums.get(borrower, 0))}
        values = []
        for answer in answers[n * len(views):(n + 1) * len(views)]:
            if "result" not in answer:
                raise ChainError(f"the ledger refused a view call for borrower {borrower}: {answer.get('error')}")
            values.append(int(str(answer["result"]), 16))
        balance, limit, headroom = values
        chain = {"risk_weighted_balance": balance, "limit": limit, "headroom": headroom,
                 "sum_of_contributions": balance}
        mismatches += [Mismatch(borrower, exposure.name, key, indexed[key], chain[key])
                       for key in indexed if indexed[key] != chain[key]]
    return ConsistencyReport(block=block, checked=len(ids), mismatches=mismatches)


_GROUPS = {"currency": "l.currency", "creditor_country": "c.jurisdiction",
           "financing_type": "l.financing_type"}


def totals(db: Database, by: str, *, status: int | str | None = None) -> Listing:
    """Loan count, principal, drawn, outstanding and risk-weighted contribution grouped `by`
    "currency", "creditor_country" or "financing_type" (amounts in each loan's currency)."""
    if by not in _GROUPS:
        raise ValidationError(f"cannot group totals by {by!r}", field="by", value=by, allowed=", ".join(_GROUPS))
    where, params = "", []  # type: ignore[var-annotated]
    if status is not None:
        where, params = "WHERE l.status = ?", [_status_code(status)]
    columns, rows = db.columns(
        f"SELECT {_GROUPS[by]} AS {by}, COUNT(*) AS loans, SUM(l.principal) AS principal, "
        "SUM(l.drawn) AS drawn, SUM(l.outstanding) AS outstanding, SUM(l.contribution) AS contribution "
        f"FROM loans l LEFT JOIN institutions c ON c.institution_id = l.creditor {where} "
        f"GROUP BY {_GROUPS[by]} ORDER BY 1", params)
    return Listing(columns, rows)


def volumes(db: Database, period: str = "month", *, currency: str | None = None) -> Listing:
    """Drawdown and repayment volumes per day or month (UTC, by block time) and currency."""
    if period not in ("day", "month"):
        raise ValidationError(f"unknown period {period!r}", field="period", value=period, allowed="day, month")
    if db.dialect == "sqlite":
        fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
        bucket = f"strftime('{fmt}', e.block_time, 'unixepoch')"
    else:
        fmt = "YYYY-MM-DD" if period == "day" else "YYYY-MM"
        bucket = f"to_char(to_timestamp(e.block_time) AT TIME ZONE 'UTC', '{fmt}')"
    where, params = "", []  # type: ignore[var-annotated]
    if currency:
        where, params = "AND l.currency = ?", [currency.upper()]
    columns, rows = db.columns(
        f"SELECT {bucket} AS {period}, l.currency, "
        "SUM(CASE WHEN e.event = 'LoanDrawn' THEN e.amount ELSE 0 END) AS drawn, "
        "SUM(CASE WHEN e.event = 'LoanRepaid' THEN e.amount ELSE 0 END) AS repaid, "
        "SUM(CASE WHEN e.event = 'LoanRecorded' THEN 1 ELSE 0 END) AS loans_recorded "
        "FROM loan_events e JOIN loans l ON l.loan_id = e.loan_id "
        f"WHERE e.event IN ('LoanDrawn', 'LoanRepaid', 'LoanRecorded') {where} "
        f"GROUP BY {bucket}, l.currency ORDER BY 1, 2", params)
    return Listing(columns, rows)
