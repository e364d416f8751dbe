"""The CSV front end of loan recording: `read_loan_csv` reads a file (every file-level problem
refused before anything else), `prepare_import` validates every row (all problems reported: row,
field, value, what is allowed) and turns the valid ones into `LoanItem`s for `LoanBatch`
(`xborder.services.loan_batch`), which applies the v2 rules in its dry run (dates against block
time and the policy's windows, consents naming the recorder's institution, the contract's own
call) and sends them through the batch engine.

A row without `borrower_wallet` is recorded by `recorder_wallet` (a wallet of the borrower, the
creditor or the creditor's agent) and awaits the other side's confirmation; a row with it is
co-signed by the borrower and must be recorded by the creditor or its agent (Active at once).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from xborder.bindings.client import XborderClient
from xborder.domain.dates import DATE_ALLOWED, parse_date
from xborder.domain.loans import DOCUMENT_ALLOWED, document_hash, loan_label
from xborder.domain.money import amount_allowed, normalise_currency, parse_amount
from xborder.errors import ValidationError, XborderError
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsSealer
from xborder.services.loan_batch import ALREADY, INVALID, READY, RECORDED, BatchReport, LoanItem, LoanOutcome
from xborder.services.loans import INSTITUTION_ALLOWED, LoanService

# ------------------------------------------------------------------------------------- CSV front end

REQUIRED_COLUMNS = ("borrower", "creditor", "currency", "principal", "value_date", "maturity_date",
                    "financing_type", "document", "recorder_wallet")
OPTIONAL_COLUMNS = ("draw", "borrower_wallet", "interest_rate", "fees", "purpose", "external_ref", "document_name",
                    "document_uri", "notes")
TERMS_COLUMNS = ("interest_rate", "fees", "purpose", "external_ref", "document_name", "document_uri", "notes")
MAX_ROWS = 200_000

WalletResolver = Callable[[str], LocalAccount]


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    value: str
    allowed: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "value": self.value, "allowed": self.allowed,
                "message": self.message}


@dataclass
class ImportPlan:
    path: Path | None
    rows: int
    items: list[LoanItem]
    problems: list[RowProblem]

    def invalid_outcomes(self) -> list[LoanOutcome]:
        by_row: dict[int, list[RowProblem]] = {}
        for p in self.problems:
            by_row.setdefault(p.row, []).append(p)
        return [LoanOutcome(-1, f"row {row}", INVALID, "ValidationError", "; ".join(p.message for p in ps),
                            ref=f"row {row}", row=row, field=", ".join(p.field for p in ps), value=ps[0].value,
                            allowed=ps[0].allowed)
                for row, ps in sorted(by_row.items())]


def _decode_text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ValidationError(
            f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, row {line}): save the file "
            "as CSV UTF-8", field="encoding", value=f"0x{raw[exc.start]:02x}", allowed="UTF-8 text",
            row=line) from None


def _check_header(name: str, header: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in header]
    if len(columns) == 1 and ";" in columns[0] and {c.strip() for c in columns[0].split(";")} & set(REQUIRED_COLUMNS):
        raise ValidationError(
            f"{name}: the columns are separated by ';' (a spreadsheet's regional CSV setting): save it with commas "
            "(',') between the columns", field="header", value=header[0], allowed="comma-separated values", row=1)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) \
        + ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) \
        + ([f"repeated column(s) {', '.join(duplicated)}"] if duplicated else [])
    if parts:
        allowed = f"required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}"
        raise ValidationError(f"{name}: {'; '.join(parts)} ({allowed})", field="header",
                              value=",".join(columns), allowed=allowed, row=1)
    return columns


def read_loan_csv(source: Path | bytes) -> list[tuple[int, dict[str, str]]]:
    """Rows as (spreadsheet row number, {column: text}); the header is row 1. File-level problems
    (encoding, ';' separators, missing or unknown columns, no rows) raise ValidationError: nothing
    is imported."""
    name = str(source) if isinstance(source, Path) else "the CSV"
    text = _decode_text(name, source.read_bytes() if isinstance(source, Path) else source)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = _check_header(name, next(reader))
    except StopIteration:
        raise ValidationError(f"{name}: the file is empty (a header row with {', '.join(REQUIRED_COLUMNS)} is needed)",
                              field="header", value="", allowed=", ".join(REQUIRED_COLUMNS)) from None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            rows.append((reader.line_num, _cells(record, columns)))
            if len(rows) > MAX_ROWS:
                raise ValidationError(f"{name}: more than {MAX_ROWS} rows: split the file", field="rows",
                                      value=len(rows), allowed=f"at most {MAX_ROWS} rows")
    except csv.Error as exc:
        raise ValidationError(f"{name}: row {reader.line_num}: not valid CSV ({exc})", field="csv",
                              value=reader.line_num, allowed="comma-separated values", row=reader.line_num) from None
    if not rows:
        raise ValidationError(f"{name}: no data rows under the header", field="rows", value=0,
                              allowed="at least one row")
    return rows


def _cells(record: list[str], columns: list[str]) -> dict[str, str]:
    if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns):]):
        return {"__error__": f"{len(record)} cells but the header has {len(columns)}"}
    return {c: (record[k].strip() if k < len(record) else "") for k, c in enumerate(columns)}


@dataclass
class _RowParser:
    """Parses one row's cells, collecting every problem instead of stopping at the first."""

    number: int
    cells: dict[str, str]
    problems: list[RowProblem]

    def take(self, column: str, parse: Callable[[str], Any]) -> Any:
        value = self.cells.get(column, "")
        try:
            if column in REQUIRED_COLUMNS and not value:
                raise ValidationError(f"{column}: empty (required)", field=column, value=value,
                                      allowed=_ALLOWED.get(column, "a value"))
            return parse(value)
        except ValidationError as exc:
            shown = value if exc.value is None or exc.field == column else str(exc.value)
            self.problems.append(RowProblem(self.number, exc.field or column, shown, exc.allowed or "",
                                            f"row {self.number}, {exc}"))
            return None

    def problem(self, column: str, allowed: str, message: str) -> None:
        self.problems.append(RowProblem(self.number, column, self.cells.get(column, ""), allowed,
                                        f"row {self.number}, {column}: {message}"))


@dataclass
class _Importer:
    """Turns rows into LoanItems; institutions and wallets are looked up once each."""

    service: LoanService
    wallets: WalletResolver
    sealer: TermsSealer | None
    type_names: dict[str, int]
    institutions: dict[str, int | ValidationError]
    accounts: dict[str, LocalAccount | XborderError]

    def institution(self, ref: str, column: str) -> int:
        key = ref.strip().upper()
        if key not in self.institutions:
            try:
                self.institutions[key] = self.service.resolve_institution(ref, column)
            except ValidationError as exc:
                self.institutions[key] = exc
        found = self.institutions[key]
        if isinstance(found, ValidationError):
            raise found
        return found

    def wallet(self, name: str, column: str) -> LocalAccount:
        if name not in self.accounts:
            try:
                self.accounts[name] = self.wallets(name)
            except XborderError as exc:
                self.accounts[name] = exc
        found = self.accounts[name]
        if isinstance(found, XborderError):
            raise ValidationError(f"{column}: {found}", field=column, value=name, allowed=_ALLOWED["recorder_wallet"])
        return found

    def row(self, number: int, cells: dict[str, str]) -> LoanItem | list[RowProblem]:
        if "__error__" in cells:
            return [RowProblem(number, "row", "", "one cell per header column", f"row {number}: {cells['__error__']}")]
        p = _RowParser(number, cells, [])
        currency = p.take("currency", lambda v: normalise_currency(v, "currency"))
        values = {
            "borrower": p.take("borrower", lambda v: self.institution(v, "borrower")),
            "creditor": p.take("creditor", lambda v: self.institution(v, "creditor")),
            "currency": currency,
            "principal": p.take("principal", lambda v: parse_amount(v, "principal", currency=currency)),
            "value_date": p.take("value_date", lambda v: parse_date(v, "value_date")),
            "maturity_date": p.take("maturity_date", lambda v: parse_date(v, "maturity_date")),
            "financing_type": p.take("financing_type", lambda v: self.service.resolve_financing_type(v, self.type_names)),
            "document": p.take("document", lambda v: document_hash(v, "document")),
            "draw": p.take("draw", lambda v: parse_amount(v, "draw", currency=currency, allow_zero=True) if v else 0),
            "recorder": p.take("recorder_wallet", lambda v: self.wallet(v, "recorder_wallet")),
            "borrower_account": p.take("borrower_wallet", lambda v: self.wallet(v, "borrower_wallet") if v else None),
            "terms": p.take("interest_rate", lambda _: terms_codec.LoanTerms(**{c: cells.get(c, "")
                                                                                for c in TERMS_COLUMNS})),
        }
        self._cross_checks(p, values)
        if p.problems:
            return p.problems
        try:
            return LoanItem.build(**values, ref=f"row {number}", row=number, sealer=self.sealer)
        except ValidationError as exc:  # a party without an encryption key
            return [RowProblem(number, exc.field or "terms", str(exc.value or ""), exc.allowed or "",
                               f"row {number}, {exc}")]

    @staticmethod
    def _cross_checks(p: _RowParser, v: dict[str, Any]) -> None:
        cells = p.cells
        if v["value_date"] is not None and v["maturity_date"] is not None and v["maturity_date"] <= v["value_date"]:
            p.problem("maturity_date", f"a date after the value date {cells['value_date']}",
                      f"{cells['maturity_date']} is not after value_date {cells['value_date']}")
        if v["draw"] and v["principal"] is not None and v["draw"] > v["principal"]:
            p.problem("draw", f"0 to the principal {cells['principal']}",
                      f"{cells['draw']} is more than the principal {cells['principal']}")
        if v["borrower"] is not None and v["borrower"] == v["creditor"]:
            p.problem("creditor", "an institution other than the borrower",
                      f"{cells['creditor']} is the borrower itself: the lender side is never the borrower")
        if v["draw"] and not cells.get("borrower_wallet"):
            p.problem("draw", "0 unless borrower_wallet co-signs",
                      "drawing at once needs the borrower's consent: fill borrower_wallet")


def prepare_import(client: XborderClient, source: Path | bytes, wallets: WalletResolver,
                   sealer: TermsSealer | None = None) -> ImportPlan:
    """Validate every row (reporting every problem: row, field, value, what is allowed) and turn the
    valid ones into LoanItems. Institutions are looked up by id or identifier, financing types by id
    or name, wallets through `wallets` (each name resolved once). With `sealer` every row's terms
    are sealed for its parties and the regulator (a party without a key makes the row invalid)."""
    rows = read_loan_csv(source)
    service = LoanService(client)
    importer = _Importer(service, wallets, sealer, service.financing_types(), {}, {})
    items: list[LoanItem] = []
    problems: list[RowProblem] = []
    for number, cells in rows:
        result = importer.row(number, cells)
        if isinstance(result, LoanItem):
            items.append(result)
        else:
            problems.extend(result)
    return ImportPlan(source if isinstance(source, Path) else None, len(rows), items, problems)


_ALLOWED = {
    "borrower": INSTITUTION_ALLOWED,
    "creditor": INSTITUTION_ALLOWED,
    "currency": "three letters, e.g. USD",
    "principal": amount_allowed(),
    "value_date": DATE_ALLOWED,
    "maturity_date": f"{DATE_ALLOWED}, after the value date",
    "financing_type": "an id 1..255 or a financing-type name",
    "document": DOCUMENT_ALLOWED,
    "recorder_wallet": "a wallet name from `xborder wallet list`, demo-N or dev-N (of the borrower, the creditor "
                       "or the creditor's agent)",
}


def merged_report(plan: ImportPlan, report: BatchReport) -> BatchReport:
    """The batch outcomes plus the rows that never became items (invalid)."""
    return BatchReport(plan.invalid_outcomes() + report.outcomes, report.seconds, report.submitted)


def describe_outcome(o: LoanOutcome) -> str:
    where = f"row {o.row}" if o.row else o.ref
    if o.status == RECORDED:
        return f"{where}: recorded loan {loan_label(o.loan_id or 0)} (tx {o.tx_hash}, gas {o.gas_used:,})"
    if o.status == ALREADY:
        return f"{where}: {o.reason}"
    if o.status == READY:
        return f"{where}: would be recorded"
    if o.status == INVALID:
        return o.reason if o.reason.startswith("row ") else f"{where}: {o.reason}"
    return f"{where}: {o.status}: {o.reason}"


__all__ = ["ImportPlan", "RowProblem", "WalletResolver", "describe_outcome", "merged_report", "prepare_import",
           "read_loan_csv"]
