"""How the xborder contracts' events become rows: history tables, current-state tables and the
summary tables (`xborder.index.summaries`). The one module that routes each event; what a loan
event does to its loan is `xborder.index.loan_state` (ledger v2), what the other events do is
`xborder.index.institution_projection`, and the rows and the batch state are
`xborder.index.projection_rows`.

`XborderProjection.apply` writes one batch of decoded events (inside the caller's transaction);
`rollback(db, n)` removes everything above block n and restores the current-state tables from
their history rows, which hold the state after each event, and the summaries by the same deltas;
`reset(db)` empties every table it writes (before a reprojection from the raw logs).
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from xborder.index import loan_state
from xborder.index.db import Database
from xborder.index.decode import DecodedEvent
from xborder.index.institution_projection import FREEZE_EVENTS, HANDLERS, INSTITUTION_EVENTS
from xborder.index.loan_state import LOAN_EVENTS, LOAN_STATE, Facts, ascii_code
from xborder.index.policy import LIMIT_PARAMETERS, PARAMETER_NAMES, parameter_name, parameters
from xborder.index.projection_rows import (
    HISTORY_COLUMNS,
    HISTORY_TABLES,
    INSTITUTION_COLUMNS,
    INSTITUTION_STATE,
    Batch,
    meta,
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

__all__ = ["LOAN_STATE", "PARAMETER_NAMES", "PROJECTED_EVENTS", "Projection", "XborderProjection", "ascii_code"]


class Projection(Protocol):
    def apply(self, db: Database, events: Sequence[DecodedEvent], block_times: dict[int, int]) -> None: ...

    def rollback(self, db: Database, block_number: int) -> None: ...

    def reset(self, db: Database) -> None: ...


_LOAN_COLUMNS = ("loan_id", "borrower", "creditor", "recorder", "currency", "financing_type", "principal",
                 "value_date", "document_hash", "terms_hash", "recorded_block", "recorded_at",
                 "recorded_tx", "creditor_country", "confirm_by", *LOAN_STATE, "updated_block")
#: Every event the projection turns into rows (`loan_terms` rows for TermsShared only with keys);
#: the others (roles, pauses, encryption keys) are in `raw_logs` only.
PROJECTED_EVENTS = frozenset({*LOAN_EVENTS, "TermsShared", *HANDLERS})
_LOAN_UPDATE_SQL = (f"UPDATE loans SET {', '.join(c + ' = ?' for c in LOAN_STATE)}, updated_block = ? "
                    "WHERE loan_id = ?")
_INSTITUTION_UPDATE_SQL = (f"UPDATE institutions SET {', '.join(c + ' = ?' for c in INSTITUTION_STATE)}, "
                           "updated_block = ? WHERE institution_id = ?")
_loan_state = operator.itemgetter(*LOAN_STATE)
_loan_row_of = operator.itemgetter(*_LOAN_COLUMNS)
_loan_update_of = operator.itemgetter(*LOAN_STATE, "updated_block", "loan_id")
_LATEST = "SELECT {cols} FROM {table} WHERE {key} = ? ORDER BY block_number DESC, log_index DESC LIMIT 1"


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class XborderProjection:
    """Rows of InstitutionRegistry, MacroPrudentialPolicy and LoanLedger events.

    With `terms_reader` (the operator's decryption keys) every terms envelope (LoanRecorded.terms,
    TermsShared.envelope) also gets a `loan_terms` row: readable or not, authentic or TAMPERED."""

    terms_reader: TermsReader | None = None

    # ------------------------------------------------------------------ loading state

    def _load(self, db: Database, batch: Batch, events: Sequence[DecodedEvent]) -> None:
        loan_ids = sorted({int(ev.args["loanId"]) for ev in events if (ev.event in LOAN_EVENTS
                           and ev.event != "LoanRecorded") or ev.event == "TermsShared"})
        for chunk in _chunks(loan_ids):
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(_LOAN_COLUMNS)} FROM loans WHERE loan_id IN ({marks})",
                                chunk):
                loan = dict(zip(_LOAN_COLUMNS, row, strict=True))
                batch.loans[int(row[0])] = loan
                batch.before[int(row[0])] = dict(loan)
        inst_ids = sorted({int(ev.args["institutionId"]) for ev in events if ev.event in INSTITUTION_EVENTS
                           and ev.event != "InstitutionRegistered"})
        for chunk in _chunks(inst_ids):
            marks = ", ".join("?" * len(chunk))
            for row in db.query(f"SELECT {', '.join(INSTITUTION_COLUMNS)} FROM institutions "
                                f"WHERE institution_id IN ({marks})", chunk):
                batch.institutions[int(row[0])] = dict(zip(INSTITUTION_COLUMNS, row, strict=True))
        recorded = [ev for ev in events if ev.event == "LoanRecorded"]
        creditors = sorted({int(ev.args["creditor"]) for ev in recorded})
        for chunk in _chunks(creditors):
            batch.countries.update((int(i), str(j)) for i, j in db.query(
                f"SELECT institution_id, jurisdiction FROM institutions WHERE institution_id IN "
                f"({', '.join('?' * len(chunk))})", chunk))
        borrowers = {loan_state.borrower_of(ev.event, ev.args) for ev in events if ev.event in LOAN_EVENTS}
        borrowers |= {int(ev.args["institution"]) for ev in events if ev.event in FREEZE_EVENTS}
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
        batch = Batch()
        self._load(db, batch, events)
        reader = self.terms_reader
        for ev in events:
            if ev.event in LOAN_EVENTS:
                self._loan(batch, ev, block_times)
                if reader is not None and ev.event == "LoanRecorded":
                    self._terms(reader, batch, ev, ev.args["terms"], None)
            elif ev.event == "TermsShared":
                if reader is not None:
                    self._terms(reader, batch, ev, ev.args["envelope"], int(ev.args["by"]))
            else:
                handler = HANDLERS.get(ev.event)
                if handler is not None:
                    handler(batch, ev, block_times)
        self._write(db, batch)

    def _loan(self, batch: Batch, ev: DecodedEvent, times: dict[int, int]) -> None:
        a = ev.args
        loan_id = int(a["loanId"])
        if ev.event == "LoanRecorded":
            loan, facts = loan_state.recorded(
                a, block_number=ev.block_number, block_time=times[ev.block_number], tx_hash=ev.tx_hash,
                creditor_country=batch.countries.get(int(a["creditor"]), ""))
            batch.loans[loan_id] = loan
            batch.new_loans.add(loan_id)
            batch.before.setdefault(loan_id, None)
        else:
            found = batch.loans.get(loan_id)
            if found is None:
                log.error("%s for loan %d that was never recorded (block %d): skipped",
                          ev.event, loan_id, ev.block_number)
                return
            loan = found
            facts = loan_state.apply(loan, ev.event, a)
        loan["updated_block"] = ev.block_number
        borrower = int(loan["borrower"])
        position = batch.positions.get(borrower)
        if position is None:  # a borrower the registry never announced: no limit
            position = batch.positions[borrower] = new_position(borrower, -1, 0, 0)
        if "borrowerBalance" in a:  # every loan event but DocumentReleased carries the balance after it
            position["balance"] = a["borrowerBalance"]
        self._loan_row(batch, ev, times, loan, facts, position["balance"])

    @staticmethod
    def _loan_row(batch: Batch, ev: DecodedEvent, times: dict[int, int], loan: dict[str, Any], facts: Facts,
                  balance: int) -> None:
        batch.delta.volume(ev.event, times[ev.block_number], loan["currency"], facts.amount, facts.amount_cny)
        batch.rows["loan_events"].append(
            (*meta(ev, times), loan["loan_id"], loan["borrower"], ev.event, *facts.row(),
             *_loan_state(loan), balance))

    def _terms(self, reader: TermsReader, batch: Batch, ev: DecodedEvent, data: bytes, by: int | None) -> None:
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

    def _write(self, db: Database, batch: Batch) -> None:
        for table, rows in batch.rows.items():
            db.insert_rows(table, HISTORY_COLUMNS[table], rows)
        if batch.new_institutions:
            db.insert_rows("institutions", INSTITUTION_COLUMNS,
                           [tuple(batch.institutions[i][c] for c in INSTITUTION_COLUMNS)
                            for i in sorted(batch.new_institutions)])
        db.executemany(
            _INSTITUTION_UPDATE_SQL,
            [(*(s[c] for c in INSTITUTION_STATE), s["updated_block"], i)
             for i, s in sorted(batch.institutions.items()) if i not in batch.new_institutions])
        db.executemany(
            "INSERT INTO wallets (wallet, institution_id, active, updated_block) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (wallet) DO UPDATE SET institution_id = excluded.institution_id, "
            "active = excluded.active, updated_block = excluded.updated_block",
            [(w, *state) for w, state in sorted(batch.wallets.items())])
        if batch.new_loans:
            db.insert_rows("loans", _LOAN_COLUMNS, [_loan_row_of(batch.loans[i]) for i in sorted(batch.new_loans)])
        db.executemany(_LOAN_UPDATE_SQL, [_loan_update_of(s) for i, s in sorted(batch.loans.items())
                                          if i not in batch.new_loans])
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
        touched_insts = [int(r[0]) for r in db.query(
            "SELECT institution_id FROM institutions WHERE updated_block > ? AND registered_block <= ?", (n, n))]
        gone_insts = [int(r[0]) for r in db.query(
            "SELECT institution_id FROM institutions WHERE registered_block > ?", (n,))]
        touched_wallets = [r[0] for r in db.query("SELECT wallet FROM wallets WHERE updated_block > ?", (n,))]
        delta = SummaryDelta()
        for event, amount, amount_cny, block_time, currency in db.query(
                "SELECT e.event, e.amount, e.amount_cny, e.block_time, l.currency FROM loan_events e JOIN loans l "
                "ON l.loan_id = e.loan_id WHERE e.block_number > ?", (n,)):
            delta.volume(str(event), int(block_time), str(currency), amount, amount_cny, sign=-1)
        borrowers = {int(r[0]) for r in db.query(
            "SELECT DISTINCT borrower FROM loan_events WHERE block_number > ? UNION "
            "SELECT DISTINCT institution_id FROM drawdown_freezes WHERE block_number > ?", (n, n))}
        limits_changed = any(parameter_name(int(r[0])) in LIMIT_PARAMETERS for r in db.query(
            "SELECT DISTINCT parameter FROM parameter_changes WHERE block_number > ?", (n,)))

        for table in HISTORY_TABLES:
            db.execute(f"DELETE FROM {table} WHERE block_number > ?", (n,))
        db.execute("DELETE FROM loans WHERE recorded_block > ?", (n,))
        db.execute("DELETE FROM institutions WHERE registered_block > ?", (n,))
        db.execute("DELETE FROM wallets WHERE updated_block > ?", (n,))
        after = self._restore_loans(db, n, before)
        self._restore_institutions(db, touched_insts)
        self._restore_wallets(db, touched_wallets)
        for loan_id, old in before.items():
            delta.loan(old, after.get(loan_id))
        delta.write(db)
        self._rollback_positions(db, delta, borrowers | set(touched_insts), gone_insts, limits_changed)
        log.info("rolled back to block %d: %d loans, %d institutions, %d wallets restored", n,
                 len(after), len(touched_insts), len(touched_wallets))

    @staticmethod
    def _restore_loans(db: Database, n: int, before: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """Each loan still recorded at block n back to the state after its latest event; the states."""
        after: dict[int, dict[str, Any]] = {}
        for loan_id, old in sorted(before.items()):
            if int(old["recorded_block"]) > n:
                continue
            row = db.query_one(_LATEST.format(cols=", ".join(LOAN_STATE) + ", block_number",
                                              table="loan_events", key="loan_id"), (loan_id,))
            assert row is not None, "a recorded loan always has its LoanRecorded row"
            db.execute(_LOAN_UPDATE_SQL, (*row, loan_id))
            after[loan_id] = {**old, **dict(zip((*LOAN_STATE, "updated_block"), row, strict=True))}
        return after

    @staticmethod
    def _restore_institutions(db: Database, institutions: list[int]) -> None:
        for iid in institutions:
            row = db.query_one(_LATEST.format(cols=", ".join(INSTITUTION_STATE) + ", block_number",
                                              table="institution_events", key="institution_id"), (iid,))
            assert row is not None, "a registered institution always has its registration row"
            db.execute(_INSTITUTION_UPDATE_SQL, (*row, iid))

    @staticmethod
    def _restore_wallets(db: Database, wallets: list[str]) -> None:
        for wallet in wallets:
            row = db.query_one(_LATEST.format(cols="institution_id, event, block_number",
                                              table="wallet_events", key="wallet"), (wallet,))
            if row is not None:
                db.execute("INSERT INTO wallets (wallet, institution_id, active, updated_block) "
                           "VALUES (?, ?, ?, ?)", (wallet, row[0], 1 if row[1] == "WalletAdded" else 0, row[2]))

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
            frozen = db.query_one(_LATEST.format(cols="frozen", table="drawdown_freezes", key="institution_id"),
                                  (borrower,))
            p["frozen"] = int(frozen[0]) if frozen else 0
        write_positions(db, positions, parameters(db))


    # ------------------------------------------------------------------ reset

    def reset(self, db: Database) -> None:
        """Empty every table this projection writes (the raw logs, blocks and checkpoint stay)."""
        for table in (*HISTORY_TABLES, "loans", "institutions", "wallets", *SUMMARY_TABLES):
            db.execute(f"DELETE FROM {table}")
