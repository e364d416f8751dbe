"""How the xborder contracts' events become rows: history tables, current-state tables and the
summary tables (`xborder.index.summaries`). The one module that knows what each event means.

`XborderProjection.apply` writes one batch of decoded events (inside the caller's transaction);
`rollback(db, n)` removes everything above block n and restores the current-state tables from
their history rows, which hold the state after each event, and the summaries by the same deltas;
`reset(db)` empties every table it writes (before a reprojection from the raw logs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from xborder.index.db import Database
from xborder.index.decode import DecodedEvent
from xborder.index.policy import (
    BORROWING_KINDS,
    LIMIT_PARAMETERS,
    PARAMETER_NAMES,
    parameter_name,
    parameters,
)
from xborder.index.summaries import (
    SUMMARY_TABLES,
    SummaryDelta,
    apply_counts,
    load_positions,
    new_position,
    write_positions,
)

if TYPE_CHECKING:
    from xborder.wallets.terms_reader import TermsReader

log = logging.getLogger(__name__)

# Enums of the interfaces (interfaces/*.sol).
INSTITUTION_ACTIVE = 1
LOAN_RECORDED, LOAN_ACTIVE, LOAN_CLOSED, LOAN_CANCELLED, LOAN_DEFAULTED = 1, 2, 3, 4, 5
LOAN_STATUS_NAMES = {0: "None", 1: "Recorded", 2: "Active", 3: "Closed", 4: "Cancelled", 5: "Defaulted"}
INSTITUTION_STATUS_NAMES = {0: "None", 1: "Active", 2: "Suspended", 3: "Revoked"}
INSTITUTION_KIND_NAMES = {0: "DomesticBank", 1: "ForeignBankBranch", 2: "NonBankFinancialInstitution",
                          3: "Enterprise", 4: "ForeignCreditor", 5: "Observer"}
__all__ = ["PARAMETER_NAMES", "Projection", "XborderProjection"]

HISTORY_TABLES = ("institution_events", "wallet_events", "parameter_changes", "reference_rate_changes",
                  "financing_type_changes", "loan_events", "loan_terms")


def ascii_code(raw: bytes) -> str:
    """bytesN code (currency, jurisdiction, LEI/USCC) as text, trailing zero bytes dropped."""
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


def contribution(outstanding: int, rate: int, weight_bps: int, status: int) -> int:
    """A loan's share of its borrower's risk-weighted balance, rounded up twice as the ledger does:
    ceil(ceil(outstanding x rate / 1e8) x weightBps / 1e4); 0 unless the loan is Active."""
    if status != LOAN_ACTIVE:
        return 0
    base = -(-outstanding * rate // 10**8)
    return -(-base * weight_bps // 10**4)


class Projection(Protocol):
    def apply(self, db: Database, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None: ...

    def rollback(self, db: Database, block_number: int) -> None: ...

    def reset(self, db: Database) -> None: ...


def _meta(ev: DecodedEvent, times: dict[int, int]) -> tuple[int, int, int, str, int]:
    return ev.block_number, ev.log_index, ev.tx_index, ev.tx_hash, times[ev.block_number]


LOAN_STATE = ("status", "drawn", "outstanding", "maturity_date", "weight_bps", "contribution")


@dataclass
class _Batch:
    """The state of the rows one batch touches, loaded once and written once."""

    loans: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: each touched loan's state before the batch (None: recorded in this batch)
    before: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    new_loans: set[int] = field(default_factory=set)
    institutions: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_institutions: set[int] = field(default_factory=set)
    countries: dict[int, str] = field(default_factory=dict)
    wallets: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in HISTORY_TABLES})
    positions: dict[int, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    limits_changed: bool = False
    delta: SummaryDelta = field(default_factory=SummaryDelta)


_LOAN_EVENT_SQL = (
    "INSERT INTO loan_events (block_number, log_index, tx_index, tx_hash, block_time, loan_id, borrower, "
    "event, amount, by_institution, wallet, status, drawn, outstanding, maturity_date, weight_bps, "
    "contribution, borrower_balance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_SQL = {
    "institution_events": "INSERT INTO institution_events (block_number, log_index, tx_index, tx_hash, "
                          "block_time, institution_id, event, status, capital_base, admin, old_value, "
                          "by_wallet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "wallet_events": "INSERT INTO wallet_events (block_number, log_index, tx_index, tx_hash, block_time, "
                     "wallet, institution_id, event, by_wallet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "parameter_changes": "INSERT INTO parameter_changes (block_number, log_index, tx_index, tx_hash, "
                         "block_time, parameter, name, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "reference_rate_changes": "INSERT INTO reference_rate_changes (block_number, log_index, tx_index, "
                              "tx_hash, block_time, currency, old_rate, new_rate, updated_at) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "financing_type_changes": "INSERT INTO financing_type_changes (block_number, log_index, tx_index, "
                              "tx_hash, block_time, type_id, name, old_weight_bps, weight_bps, "
                              "old_off_balance, off_balance, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "loan_events": _LOAN_EVENT_SQL,
    "loan_terms": "INSERT INTO loan_terms (block_number, log_index, tx_hash, loan_id, source, shared_by, encrypted, "
                  "readable, commitment_ok, key_institution, key_version, terms_json, interest_rate, error) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
}
_LOAN_COLUMNS = ("loan_id", "borrower", "creditor", "recorder", "currency", "financing_type", "principal",
                 "rate", "value_date", "document_hash", "terms_hash", "recorded_block", "recorded_at",
                 "recorded_tx", "creditor_country", *LOAN_STATE, "updated_block")
_INSTITUTION_COLUMNS = ("institution_id", "kind", "identifier", "jurisdiction", "name", "status",
                        "capital_base", "admin", "registered_block", "registered_at", "updated_block")
_LOAN_EVENTS = frozenset({"LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanRepaid", "LoanExtended",
                          "LoanCancelled", "LoanClosed", "LoanDefaulted"})
_INSTITUTION_EVENTS = frozenset({"InstitutionRegistered", "InstitutionStatusChanged",
                                 "CapitalBaseUpdated", "AdminWalletChanged"})


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class XborderProjection:
    """Rows of InstitutionRegistry, MacroPrudentialPolicy and LoanLedger events.

    With `terms_reader` (the operator's decryption keys) every terms envelope (LoanRecorded.terms,
    TermsShared.envelope) also gets a `loan_terms` row: readable or not, authentic or TAMPERED."""

    terms_reader: TermsReader | None = None

    # ------------------------------------------------------------------ loading state

    def _load(self, db: Database, batch: _Batch, events: Sequence[DecodedEvent]) -> None:
        loan_ids = sorted({ev.args["loanId"] for ev in events if (ev.event in _LOAN_EVENTS
                           and ev.event != "LoanRecorded") or ev.event == "TermsShared"})
        for chunk in _chunks(loan_ids):
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(_LOAN_COLUMNS)} FROM loans WHERE loan_id IN ({marks})",
                                chunk):
                loan = dict(zip(_LOAN_COLUMNS, row, strict=True))
                batch.loans[int(row[0])] = loan
                batch.before[int(row[0])] = dict(loan)
        inst_ids = sorted({ev.args["institutionId"] for ev in events if ev.event in _INSTITUTION_EVENTS
                           and ev.event != "InstitutionRegistered"})
        for chunk in _chunks(inst_ids):
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(_INSTITUTION_COLUMNS)} FROM institutions "
                                f"WHERE institution_id IN ({marks})", chunk):
                batch.institutions[int(row[0])] = dict(zip(_INSTITUTION_COLUMNS, row, strict=True))
        recorded = [ev for ev in events if ev.event == "LoanRecorded"]
        creditors = sorted({int(ev.args["creditor"]) for ev in recorded})
        for chunk in _chunks(creditors):
            batch.countries.update((int(i), str(j)) for i, j in db.query(
                f"SELECT institution_id, jurisdiction FROM institutions WHERE institution_id IN "
                f"({', '.join('?' * len(chunk))})", chunk))
        borrowers = {int(ev.args["borrower"]) for ev in events if ev.event in _LOAN_EVENTS}
        batch.positions = load_positions(db, borrowers | set(inst_ids))
        missing = sorted(borrowers - set(batch.positions))
        for chunk in _chunks(missing):
            for iid, kind, status, capital in db.query(
                    f"SELECT institution_id, kind, status, capital_base FROM institutions WHERE institution_id IN "
                    f"({', '.join('?' * len(chunk))})", chunk):
                batch.positions[int(iid)] = new_position(int(iid), int(kind), int(status), int(capital))
        batch.params = parameters(db)

    # ------------------------------------------------------------------ apply

    def apply(self, db: Database, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None:
        batch = _Batch()
        self._load(db, batch, events)
        handlers = {
            "InstitutionRegistered": self._institution, "InstitutionStatusChanged": self._institution,
            "CapitalBaseUpdated": self._institution, "AdminWalletChanged": self._institution,
            "WalletAdded": self._wallet, "WalletRemoved": self._wallet,
            "ParameterUpdated": self._policy, "ReferenceRateUpdated": self._policy,
            "FinancingTypeSet": self._policy, "FinancingTypeRemoved": self._policy,
        }
        reader = self.terms_reader
        for ev in events:
            if ev.event in _LOAN_EVENTS:
                self._loan(batch, ev, block_times)
                if reader is not None and ev.event == "LoanRecorded":
                    self._terms(reader, batch, ev, ev.args["terms"], None)
            elif ev.event == "TermsShared":
                if reader is not None:
                    self._terms(reader, batch, ev, ev.args["envelope"], int(ev.args["by"]))
            else:
                handler = handlers.get(ev.event)
                if handler is not None:
                    handler(batch, ev, block_times)
        self._write(db, batch)

    def _institution(self, batch: _Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
        a = ev.args
        iid = int(a["institutionId"])
        old: object = None
        by: str | None = None
        if ev.event == "InstitutionRegistered":
            state = {"institution_id": iid, "kind": a["kind"], "identifier": ascii_code(a["identifier"]),
                     "jurisdiction": ascii_code(a["jurisdiction"]), "name": a["name"],
                     "status": INSTITUTION_ACTIVE, "capital_base": a["capitalBase"], "admin": a["admin"],
                     "registered_block": ev.block_number, "registered_at": times[ev.block_number]}
            batch.institutions[iid] = state
            batch.new_institutions.add(iid)
            batch.countries[iid] = state["jurisdiction"]
            if int(a["kind"]) in BORROWING_KINDS:
                batch.positions[iid] = new_position(iid, int(a["kind"]), INSTITUTION_ACTIVE, int(a["capitalBase"]))
        else:
            state = batch.institutions.get(iid)  # type: ignore[assignment]
            if state is None:
                log.error("%s for institution %d that was never registered (block %d): skipped",
                          ev.event, iid, ev.block_number)
                return
            if ev.event == "InstitutionStatusChanged":
                old, state["status"], by = a["oldStatus"], a["newStatus"], a["by"]
            elif ev.event == "CapitalBaseUpdated":
                old, state["capital_base"] = a["oldCapitalBase"], a["newCapitalBase"]
            else:  # AdminWalletChanged
                old, state["admin"] = a["oldAdmin"], a["newAdmin"]
            position = batch.positions.get(iid)
            if position is not None:
                position["status"], position["capital_base"] = state["status"], state["capital_base"]
        state["updated_block"] = ev.block_number
        batch.rows["institution_events"].append(
            (*_meta(ev, times), iid, ev.event, state["status"], state["capital_base"], state["admin"],
             None if old is None else str(old), by))

    def _wallet(self, batch: _Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
        a = ev.args
        wallet, iid = a["wallet"], int(a["institutionId"])
        batch.wallets[wallet] = (iid, 1 if ev.event == "WalletAdded" else 0, ev.block_number)
        batch.rows["wallet_events"].append((*_meta(ev, times), wallet, iid, ev.event, a["by"]))

    def _policy(self, batch: _Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
        a = ev.args
        meta = _meta(ev, times)
        if ev.event == "ParameterUpdated":
            p = int(a["parameter"])
            name = parameter_name(p)
            batch.rows["parameter_changes"].append((*meta, p, name, a["oldValue"], a["newValue"]))
            batch.params[name] = int(a["newValue"])
            batch.limits_changed |= name in LIMIT_PARAMETERS
        elif ev.event == "ReferenceRateUpdated":
            batch.rows["reference_rate_changes"].append(
                (*meta, ascii_code(a["currency"]), a["oldRate"], a["newRate"], a["updatedAt"]))
        elif ev.event == "FinancingTypeSet":
            batch.rows["financing_type_changes"].append(
                (*meta, a["typeId"], a["name"], a["oldWeightBps"], a["newWeightBps"],
                 int(a["oldOffBalance"]), int(a["newOffBalance"]), 0))
        else:  # FinancingTypeRemoved
            batch.rows["financing_type_changes"].append(
                (*meta, a["typeId"], None, a["oldWeightBps"], 0, int(a["oldOffBalance"]), 0, 1))

    def _loan(self, batch: _Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
        a = ev.args
        loan_id = int(a["loanId"])
        amount: int | None = None
        by: int | None = None
        wallet: str | None = None
        if ev.event == "LoanRecorded":
            (borrower, creditor, currency, principal, value_date, maturity, ftype, doc, terms) = a["request"]
            loan: dict[str, Any] = {
                "loan_id": loan_id, "borrower": a["borrower"], "creditor": a["creditor"],
                "recorder": a["recorder"], "currency": ascii_code(currency), "financing_type": ftype,
                "principal": principal, "rate": a["rate"], "value_date": value_date,
                "document_hash": "0x" + doc.hex(), "terms_hash": "0x" + terms.hex(),
                "recorded_block": ev.block_number, "recorded_at": times[ev.block_number],
                "recorded_tx": ev.tx_hash, "creditor_country": batch.countries.get(int(a["creditor"]), ""),
                "status": a["status"], "drawn": 0, "outstanding": 0,
                "maturity_date": maturity, "weight_bps": a["weightBps"]}
            batch.loans[loan_id] = loan
            batch.new_loans.add(loan_id)
            batch.before.setdefault(loan_id, None)
            by = a["recorder"]
        else:
            loan = batch.loans.get(loan_id)  # type: ignore[assignment]
            if loan is None:
                log.error("%s for loan %d that was never recorded (block %d): skipped",
                          ev.event, loan_id, ev.block_number)
                return
            event = ev.event
            if event == "LoanConfirmed":
                loan["status"], wallet = LOAN_ACTIVE, a["wallet"]
            elif event == "LoanDrawn":
                amount, loan["drawn"], loan["outstanding"] = a["amount"], a["drawn"], a["outstanding"]
            elif event == "LoanRepaid":
                amount, loan["outstanding"] = a["amount"], a["outstanding"]
            elif event == "LoanExtended":
                loan["maturity_date"], loan["weight_bps"] = a["newMaturityDate"], a["newWeightBps"]
            elif event == "LoanCancelled":
                loan["status"], by = LOAN_CANCELLED, a["by"]
            elif event == "LoanClosed":
                loan["status"] = LOAN_CLOSED
            else:  # LoanDefaulted: the outstanding is written off and leaves the balance
                loan["status"], by, amount = LOAN_DEFAULTED, a["by"], a["outstanding"]
        loan["contribution"] = contribution(int(loan["outstanding"]), int(loan["rate"]),
                                            int(loan["weight_bps"]), int(loan["status"]))
        loan["updated_block"] = ev.block_number
        borrower = int(loan["borrower"])
        position = batch.positions.get(borrower)
        if position is None:  # a borrower the registry never announced: no limit
            position = batch.positions[borrower] = new_position(borrower, -1, 0, 0)
        position["balance"] = a["borrowerBalance"]
        batch.delta.volume(ev.event, times[ev.block_number], loan["currency"], amount, int(loan["rate"]))
        batch.rows["loan_events"].append(
            (*_meta(ev, times), loan_id, loan["borrower"], ev.event, amount, by, wallet,
             loan["status"], loan["drawn"], loan["outstanding"], loan["maturity_date"],
             loan["weight_bps"], loan["contribution"], a["borrowerBalance"]))

    def _terms(self, reader: TermsReader, batch: _Batch, ev: DecodedEvent, data: bytes, by: int | None) -> None:
        loan_id = int(ev.args["loanId"])
        loan = batch.loans.get(loan_id)
        if loan is None:
            log.error("%s for loan %d that was never recorded (block %d): skipped", ev.event, loan_id, ev.block_number)
            return
        result = reader.read(bytes(data), ledger=ev.address, document_hash=bytes.fromhex(loan["document_hash"][2:]),
                             terms_hash=bytes.fromhex(loan["terms_hash"][2:]))
        if result.tampered:
            log.warning("loan %d: terms in %s (block %d, tx %s) are NOT AUTHENTIC: %s", loan_id, ev.event,
                        ev.block_number, ev.tx_hash, result.error)
        terms = result.terms
        batch.rows["loan_terms"].append((
            ev.block_number, ev.log_index, ev.tx_hash, loan_id, ev.event, by, int(result.encrypted),
            int(result.readable), None if result.commitment_ok is None else int(result.commitment_ok),
            result.key[0] if result.key else None, result.key[1] if result.key else None,
            None if terms is None else json.dumps(terms, sort_keys=True, ensure_ascii=False),
            None if terms is None else terms.get("interest_rate"), result.error or None))

    def _write(self, db: Database, batch: _Batch) -> None:
        for table, rows in batch.rows.items():
            db.executemany(_INSERT_SQL[table], rows)
        if batch.new_institutions:
            db.executemany(
                f"INSERT INTO institutions ({', '.join(_INSTITUTION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_INSTITUTION_COLUMNS))})",
                [tuple(batch.institutions[i][c] for c in _INSTITUTION_COLUMNS)
                 for i in sorted(batch.new_institutions)])
        db.executemany(
            "UPDATE institutions SET status = ?, capital_base = ?, admin = ?, updated_block = ? "
            "WHERE institution_id = ?",
            [(s["status"], s["capital_base"], s["admin"], s["updated_block"], i)
             for i, s in sorted(batch.institutions.items()) if i not in batch.new_institutions])
        db.executemany(
            "INSERT INTO wallets (wallet, institution_id, active, updated_block) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (wallet) DO UPDATE SET institution_id = excluded.institution_id, "
            "active = excluded.active, updated_block = excluded.updated_block",
            [(w, *state) for w, state in sorted(batch.wallets.items())])
        if batch.new_loans:
            db.executemany(
                f"INSERT INTO loans ({', '.join(_LOAN_COLUMNS)}) VALUES ({', '.join('?' * len(_LOAN_COLUMNS))})",
                [tuple(batch.loans[i][c] for c in _LOAN_COLUMNS) for i in sorted(batch.new_loans)])
        db.executemany(
            "UPDATE loans SET status = ?, drawn = ?, outstanding = ?, maturity_date = ?, weight_bps = ?, "
            "contribution = ?, updated_block = ? WHERE loan_id = ?",
            [(*(s[c] for c in LOAN_STATE), s["updated_block"], i)
             for i, s in sorted(batch.loans.items()) if i not in batch.new_loans])
        delta = batch.delta
        for loan_id, old in batch.before.items():
            delta.loan(old, batch.loans[loan_id])
        delta.write(db)
        apply_counts(batch.positions, delta.counts)
        if batch.limits_changed:  # every limit moves: rewrite every position
            batch.positions = {**load_positions(db, None), **batch.positions}
        write_positions(db, batch.positions, batch.params)

    # ------------------------------------------------------------------ rollback

    def rollback(self, db: Database, block_number: int) -> None:
        n = block_number
        cols = ", ".join(_LOAN_COLUMNS)
        before = {int(r[0]): dict(zip(_LOAN_COLUMNS, r, strict=True))
                  for r in db.query(f"SELECT {cols} FROM loans WHERE updated_block > ?", (n,))}
        touched_insts = [r[0] for r in db.query(
            "SELECT institution_id FROM institutions WHERE updated_block > ? AND registered_block <= ?", (n, n))]
        gone_insts = [int(r[0]) for r in db.query(
            "SELECT institution_id FROM institutions WHERE registered_block > ?", (n,))]
        touched_wallets = [r[0] for r in db.query("SELECT wallet FROM wallets WHERE updated_block > ?", (n,))]
        delta = SummaryDelta()
        for event, amount, block_time, currency, rate in db.query(
                "SELECT e.event, e.amount, e.block_time, l.currency, l.rate FROM loan_events e JOIN loans l "
                "ON l.loan_id = e.loan_id WHERE e.block_number > ?", (n,)):
            delta.volume(str(event), int(block_time), str(currency), amount, int(rate), sign=-1)
        borrowers = {int(r[0]) for r in db.query(
            "SELECT DISTINCT borrower FROM loan_events WHERE block_number > ?", (n,))}
        limits_changed = any(parameter_name(int(r[0])) in LIMIT_PARAMETERS for r in db.query(
            "SELECT DISTINCT parameter FROM parameter_changes WHERE block_number > ?", (n,)))

        for table in HISTORY_TABLES:
            db.execute(f"DELETE FROM {table} WHERE block_number > ?", (n,))
        db.execute("DELETE FROM loans WHERE recorded_block > ?", (n,))
        db.execute("DELETE FROM institutions WHERE registered_block > ?", (n,))
        db.execute("DELETE FROM wallets WHERE updated_block > ?", (n,))
        latest = ("SELECT {cols} FROM {table} WHERE {key} = ? "
                  "ORDER BY block_number DESC, log_index DESC LIMIT 1")
        after: dict[int, dict[str, Any]] = {}
        for loan_id, old in sorted(before.items()):
            if int(old["recorded_block"]) > n:
                continue
            row = db.query_one(latest.format(cols=", ".join(LOAN_STATE) + ", block_number",
                                             table="loan_events", key="loan_id"), (loan_id,))
            assert row is not None, "a recorded loan always has its LoanRecorded row"
            db.execute("UPDATE loans SET status = ?, drawn = ?, outstanding = ?, maturity_date = ?, "
                       "weight_bps = ?, contribution = ?, updated_block = ? WHERE loan_id = ?", (*row, loan_id))
            after[loan_id] = {**old, **dict(zip((*LOAN_STATE, "updated_block"), row, strict=True))}
        for iid in touched_insts:
            row = db.query_one(latest.format(cols="status, capital_base, admin, block_number",
                                             table="institution_events", key="institution_id"), (iid,))
            assert row is not None, "a registered institution always has its registration row"
            db.execute("UPDATE institutions SET status = ?, capital_base = ?, admin = ?, updated_block = ? "
                       "WHERE institution_id = ?", (*row, iid))
        for wallet in touched_wallets:
            row = db.query_one(latest.format(cols="institution_id, event, block_number",
                                             table="wallet_events", key="wallet"), (wallet,))
            if row is not None:
                db.execute("INSERT INTO wallets (wallet, institution_id, active, updated_block) "
                           "VALUES (?, ?, ?, ?)", (wallet, row[0], 1 if row[1] == "WalletAdded" else 0, row[2]))
        for loan_id, old in before.items():
            delta.loan(old, after.get(loan_id))
        delta.write(db)
        self._rollback_positions(db, delta, borrowers | {int(i) for i in touched_insts}, gone_insts, limits_changed)
        log.info("rolled back to block %d: %d loans, %d institutions, %d wallets restored", n,
                 len(after), len(touched_insts), len(touched_wallets))

    @staticmethod
    def _rollback_positions(db: Database, delta: SummaryDelta, touched: set[int], gone: list[int],
                            limits_changed: bool) -> None:
        db.executemany("DELETE FROM borrower_positions WHERE borrower = ?", [(i,) for i in gone])
        positions = load_positions(db, None if limits_changed else touched | set(delta.counts))
        apply_counts(positions, delta.counts)
        for borrower in sorted(touched & set(positions)):
            p = positions[borrower]
            row = db.query_one("SELECT borrower_balance FROM loan_events WHERE borrower = ? "
                               "ORDER BY block_number DESC, log_index DESC LIMIT 1", (borrower,))
            p["balance"] = int(row[0]) if row else 0
            inst = db.query_one("SELECT status, capital_base FROM institutions WHERE institution_id = ?", (borrower,))
            if inst is not None:
                p["status"], p["capital_base"] = int(inst[0]), int(inst[1])
        write_positions(db, positions, parameters(db))

    # ------------------------------------------------------------------ reset

    def reset(self, db: Database) -> None:
        """Empty every table this projection writes (the raw logs, blocks and checkpoint stay)."""
        for table in (*HISTORY_TABLES, "loans", "institutions", "wallets", *SUMMARY_TABLES):
            db.execute(f"DELETE FROM {table}")
