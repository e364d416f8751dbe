"""How the xborder contracts' events become rows: history tables plus current-state tables.

`XborderProjection.apply` writes one batch of decoded events (inside the caller's transaction);
`rollback(db, n)` removes everything above block n and restores the current-state tables from
their history rows, which hold the state after each event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from xborder.index.db import Database
from xborder.index.decode import DecodedEvent

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
PARAMETER_NAMES = ("LeverageDomesticBank", "LeverageForeignBankBranch", "LeverageNonBank",
                   "LeverageEnterprise", "AdjustmentEnterprise", "AdjustmentFinancial",
                   "TermFactorShort", "TermFactorLong", "OnBalanceFactor", "OffBalanceFactor",
                   "FxRiskFactor", "OneYearSeconds")

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


def _meta(ev: DecodedEvent, times: dict[int, int]) -> tuple[int, int, int, str, int]:
    return ev.block_number, ev.log_index, ev.tx_index, ev.tx_hash, times[ev.block_number]


LOAN_STATE = ("status", "drawn", "outstanding", "maturity_date", "weight_bps", "contribution")


@dataclass
class _Batch:
    """The state of the rows one batch touches, loaded once and written once."""

    loans: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_loans: set[int] = field(default_factory=set)
    institutions: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_institutions: set[int] = field(default_factory=set)
    wallets: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in HISTORY_TABLES})


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
                 "recorded_tx", *LOAN_STATE, "updated_block")
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
                batch.loans[int(row[0])] = dict(zip(_LOAN_COLUMNS, row, strict=True))
        inst_ids = sorted({ev.args["institutionId"] for ev in events if ev.event in _INSTITUTION_EVENTS
                           and ev.event != "InstitutionRegistered"})
        for chunk in _chunks(inst_ids):
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(_INSTITUTION_COLUMNS)} FROM institutions "
                                f"WHERE institution_id IN ({marks})", chunk):
                batch.institutions[int(row[0])] = dict(zip(_INSTITUTION_COLUMNS, row, strict=True))

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
            name = PARAMETER_NAMES[p] if p < len(PARAMETER_NAMES) else f"Parameter{p}"
            batch.rows["parameter_changes"].append((*meta, p, name, a["oldValue"], a["newValue"]))
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
                "recorded_tx": ev.tx_hash, "status": a["status"], "drawn": 0, "outstanding": 0,
                "maturity_date": maturity, "weight_bps": a["weightBps"]}
            batch.loans[loan_id] = loan
            batch.new_loans.add(loan_id)
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

    # ------------------------------------------------------------------ rollback

    def rollback(self, db: Database, block_number: int) -> None:
        n = block_number
        touched_loans = [r[0] for r in db.query(
            "SELECT loan_id FROM loans WHERE updated_block > ? AND recorded_block <= ?", (n, n))]
        touched_insts = [r[0] for r in db.query(
            "SELECT institution_id FROM institutions WHERE updated_block > ? AND registered_block <= ?", (n, n))]
        touched_wallets = [r[0] for r in db.query("SELECT wallet FROM wallets WHERE updated_block > ?", (n,))]
        for table in HISTORY_TABLES:
            db.execute(f"DELETE FROM {table} WHERE block_number > ?", (n,))
        db.execute("DELETE FROM loans WHERE recorded_block > ?", (n,))
        db.execute("DELETE FROM institutions WHERE registered_block > ?", (n,))
        db.execute("DELETE FROM wallets WHERE updated_block > ?", (n,))
        latest = ("SELECT {cols} FROM {table} WHERE {key} = ? "
                  "ORDER BY block_number DESC, log_index DESC LIMIT 1")
        for loan_id in touched_loans:
            row = db.query_one(latest.format(cols=", ".join(LOAN_STATE) + ", block_number",
                                             table="loan_events", key="loan_id"), (loan_id,))
            assert row is not None, "a recorded loan always has its LoanRecorded row"
            db.execute("UPDATE loans SET status = ?, drawn = ?, outstanding = ?, maturity_date = ?, "
                       "weight_bps = ?, contribution = ?, updated_block = ? WHERE loan_id = ?", (*row, loan_id))
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
        log.info("rolled back to block %d: %d loans, %d institutions, %d wallets restored", n,
                 len(touched_loans), len(touched_insts), len(touched_wallets))
