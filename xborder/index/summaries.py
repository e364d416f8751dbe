"""Summary tables, kept by the projection in the same transaction as the events (issue #14).

Every figure is a sum over loans or loan events, so it is maintained by DELTAS: the projection
hands each touched loan's state before and after a batch (`SummaryDelta.loan(old, new)`) and each
loan event's volume (`SummaryDelta.volume`); a reorg hands the same with before and after swapped,
so applying and rolling back are one mechanism. `write` adds the deltas with one upsert per key
and drops the rows that fall back to nothing (so a rolled-back index equals a fresh one, row for
row). Borrowers' positions (balance, limit, headroom, utilisation and their sort keys) are
written whole for the borrowers a batch touched; a change of a limit parameter rewrites them all.

Tables (migrations 0003, 0004): loan_totals, volume_buckets, borrower_positions (with the freeze flag),
borrower_currency. CNY figures are those the ledger's rule gives (migration 0004): each drawdown at
the rate of its block, repayments pro rata (`loans.outstanding_cny`, `loan_events.amount_cny`).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xborder.domain.enums import LoanStatus
from xborder.index.db import Database
from xborder.index.policy import BORROWING_KINDS, borrowing_limit

#: Loans that count in their borrower's balance (ledger v2: Active and Defaulted): the exposure's
#: `active_loans` and its outstanding by currency.
LIVE_STATUSES = frozenset(int(s) for s in LoanStatus if s.is_live)

#: The dimensions of `loan_totals`; "bank" is the institution that recorded the loan.
DIMENSIONS = ("currency", "creditor_country", "financing_type", "bank", "creditor", "currency_country")


def _total_keys(s: Mapping[str, Any], currency: str, status: int) -> tuple[tuple[str, str, str, int], ...]:
    """The `loan_totals` keys (dimension, group, currency, status) of loan state `s`, in DIMENSIONS'
    order. Per currency only where it is the grouping: other groupings add currencies up anyway,
    and a key without the currency keeps their rows (and their totals' scan) 5x fewer."""
    country = str(s["creditor_country"])
    return (("currency", currency, currency, status), ("creditor_country", country, "", status),
            ("financing_type", str(s["financing_type"]), "", status), ("bank", str(s["recorder"]), "", status),
            ("creditor", str(s["creditor"]), "", status), ("currency_country", f"{currency}|{country}", currency, status))


VOLUME_EVENTS = frozenset({"LoanRecorded", "LoanDrawn", "LoanRepaid"})
#: The `volume_buckets` figures (indexes in _VOLUMES_SQL's order) each volume event adds to: its
#: count or amount, and its CNY figure.
_VOLUME_COLUMNS: dict[str, tuple[int, int | None]] = {"LoanRecorded": (2, None), "LoanDrawn": (0, 3),
                                                      "LoanRepaid": (1, 4)}
assert set(_VOLUME_COLUMNS) == VOLUME_EVENTS
#: What a loan's rows are keyed by besides its status (fixed when it is recorded).
_groups = operator.itemgetter("currency", "creditor_country", "financing_type", "recorder", "creditor", "borrower")
_FIGURES = ("principal", "drawn", "outstanding", "outstanding_cny", "contribution")


_figures_of = operator.itemgetter(*_FIGURES)


def _figures(s: Mapping[str, Any]) -> list[int]:
    return list(map(int, _figures_of(s)))

_TOTALS_SQL = (
    "INSERT INTO loan_totals (dimension, group_key, currency, status, loans, principal, drawn, outstanding, "
    "outstanding_cny, contribution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (dimension, group_key, currency, status) DO UPDATE SET loans = loan_totals.loans + excluded.loans, "
    "principal = loan_totals.principal + excluded.principal, drawn = loan_totals.drawn + excluded.drawn, "
    "outstanding = loan_totals.outstanding + excluded.outstanding, "
    "outstanding_cny = loan_totals.outstanding_cny + excluded.outstanding_cny, "
    "contribution = loan_totals.contribution + excluded.contribution")
_VOLUMES_SQL = (
    "INSERT INTO volume_buckets (period, bucket, currency, drawn, repaid, loans_recorded, drawn_cny, repaid_cny) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (period, bucket, currency) DO UPDATE SET "
    "drawn = volume_buckets.drawn + excluded.drawn, repaid = volume_buckets.repaid + excluded.repaid, "
    "loans_recorded = volume_buckets.loans_recorded + excluded.loans_recorded, "
    "drawn_cny = volume_buckets.drawn_cny + excluded.drawn_cny, "
    "repaid_cny = volume_buckets.repaid_cny + excluded.repaid_cny")
_CURRENCY_SQL = (
    "INSERT INTO borrower_currency (borrower, currency, active_loans, outstanding) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (borrower, currency) DO UPDATE SET active_loans = borrower_currency.active_loans + "
    "excluded.active_loans, outstanding = borrower_currency.outstanding + excluded.outstanding")
POSITION_COLUMNS = ("borrower", "kind", "status", "capital_base", "balance", "limit_cny", "headroom",
                    "utilisation", "util_rank", "balance_rank", "no_limit", "loans", "active_loans", "frozen")
_POSITION_STATE = ("borrower", "kind", "status", "capital_base", "balance", "loans", "active_loans", "frozen")
_POSITION_SQL = (
    f"INSERT INTO borrower_positions ({', '.join(POSITION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(POSITION_COLUMNS))}) ON CONFLICT (borrower) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in POSITION_COLUMNS[1:]))


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    return (items[i:i + size] for i in range(0, len(items), size))


class Buckets:
    """UTC day and month labels of block times (cached per day: a batch has few distinct days)."""

    def __init__(self) -> None:
        self._days: dict[int, tuple[str, str]] = {}

    def __call__(self, block_time: int) -> tuple[str, str]:
        day = int(block_time) // 86_400
        labels = self._days.get(day)
        if labels is None:
            date = dt.datetime.fromtimestamp(day * 86_400, dt.UTC)
            labels = self._days[day] = (date.strftime("%Y-%m-%d"), date.strftime("%Y-%m"))
        return labels


@dataclass
class SummaryDelta:
    """Increments to the summary tables, accumulated over a batch (or a rollback)."""

    totals: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)
    volumes: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    currency: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    #: borrower -> [loans, live (Active or Defaulted) loans]
    counts: dict[int, list[int]] = field(default_factory=dict)
    buckets: Buckets = field(default_factory=Buckets)
    #: (event, currency, UTC day number) -> [events, amount, CNY amount], signed (`volume`)
    _pending: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)

    def loan(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        """One loan went from state `old` to `new` (None: did not exist / no longer exists)."""
        if old is not None and new is not None and old["status"] == new["status"] and _groups(old) == _groups(new):
            # Same rows of every table: add the difference once (what -old then +new adds up to).
            self._add(new, list(map(operator.sub, _figures(new), _figures(old))), 0)
            return
        if old is not None:
            self._add(old, [-v for v in _figures(old)], -1)
        if new is not None:
            self._add(new, _figures(new), 1)

    def _add(self, s: Mapping[str, Any], figures: list[int], count: int) -> None:
        """Add `count` loans with `figures` (principal, drawn, outstanding, outstanding CNY,
        contribution) to the rows of loan state `s`."""
        status, currency = int(s["status"]), str(s["currency"])
        vector = [count, *figures]
        totals = self.totals
        add = operator.add
        for key in _total_keys(s, currency, status):
            sums = totals.get(key)
            if sums is None:
                totals[key] = list(vector)
            else:
                sums[:] = map(add, sums, vector)
        borrower = int(s["borrower"])
        counts = self.counts.setdefault(borrower, [0, 0])
        counts[0] += count
        if status in LIVE_STATUSES:
            counts[1] += count
            row = self.currency.setdefault((borrower, currency), [0, 0])
            row[0] += count
            row[1] += figures[2]

    def volume(self, event: str, block_time: int, currency: str, amount: int | None, amount_cny: int | None,
               sign: int = 1) -> None:
        """A loan event at `block_time`: counted by event and currency; LoanRecorded, LoanDrawn and
        LoanRepaid also in the volumes (`amount_cny`: the event's CNY figure, `loan_events.amount_cny`).
        Summed per (event, currency, UTC day) here; spread over `events` and the day and month
        buckets once, by `flush_volumes`."""
        key = (event, currency, int(block_time) // 86_400)
        sums = self._pending.get(key)
        if sums is None:
            sums = self._pending[key] = [0, 0, 0]
        sums[0] += sign
        if amount is not None:
            sums[1] += sign * int(amount)
        if amount_cny is not None:
            sums[2] += sign * int(amount_cny)

    def flush_volumes(self) -> None:
        """Add the summed volume events to `events` and `volumes`."""
        volumes = self.volumes
        for (event, currency, day_number), (count, amount, amount_cny) in self._pending.items():
            key = (event, currency)
            self.events[key] = self.events.get(key, 0) + count
            columns = _VOLUME_COLUMNS.get(event)
            if columns is None:
                continue
            day, month = self.buckets(day_number * 86_400)
            # (drawn, repaid, loans_recorded, drawn_cny, repaid_cny): a recording counts 1, a drawdown or a
            # repayment its amount and its CNY figure
            first, second = columns
            for bucket in (("day", day, currency), ("month", month, currency)):
                sums = volumes.get(bucket)
                if sums is None:
                    sums = volumes[bucket] = [0] * 5
                sums[first] += count if second is None else amount
                if second is not None:
                    sums[second] += amount_cny
        self._pending.clear()

    def write(self, db: Database) -> None:
        self.flush_volumes()
        totals = sorted((k, v) for k, v in self.totals.items() if any(v))
        db.executemany(_TOTALS_SQL, [(*k, *v) for k, v in totals])
        db.executemany("DELETE FROM loan_totals WHERE dimension = ? AND group_key = ? AND currency = ? "
                       "AND status = ? AND loans = 0", [k for k, v in totals if v[0] < 0])
        volumes = sorted((k, v) for k, v in self.volumes.items() if any(v))
        db.executemany(_VOLUMES_SQL, [(*k, *v) for k, v in volumes])
        db.executemany("DELETE FROM volume_buckets WHERE period = ? AND bucket = ? AND currency = ? AND drawn = 0 "
                       "AND repaid = 0 AND loans_recorded = 0", [k for k, v in volumes if min(v) < 0])
        events = sorted((k, v) for k, v in self.events.items() if v)
        db.executemany("INSERT INTO event_counts (event, currency, events) VALUES (?, ?, ?) ON CONFLICT (event, currency) "
                       "DO UPDATE SET events = event_counts.events + excluded.events", [(*k, v) for k, v in events])
        db.executemany("DELETE FROM event_counts WHERE event = ? AND currency = ? AND events = 0",
                       [k for k, v in events if v < 0])
        currency = sorted((k, v) for k, v in self.currency.items() if any(v))
        db.executemany(_CURRENCY_SQL, [(*k, *v) for k, v in currency])
        db.executemany("DELETE FROM borrower_currency WHERE borrower = ? AND currency = ? AND active_loans = 0",
                       [k for k, v in currency if v[0] < 0])


# ---------------------------------------------------------------------------- positions

def position_row(p: Mapping[str, Any], params: dict[str, int]) -> tuple[Any, ...]:
    """The full `borrower_positions` row of a position state under `params`."""
    limit = borrowing_limit(int(p["kind"]), int(p["capital_base"]), params)
    balance = int(p["balance"])
    utilisation = balance / limit if limit else None
    return (p["borrower"], p["kind"], p["status"], p["capital_base"], balance, limit, max(0, limit - balance),
            utilisation, 0.0 - utilisation if utilisation is not None else 1.0, -balance, 0 if limit else 1,
            p["loans"], p["active_loans"], int(p["frozen"]))


def new_position(borrower: int, kind: int, status: int, capital_base: int) -> dict[str, Any]:
    return {"borrower": borrower, "kind": kind, "status": status, "capital_base": capital_base, "balance": 0,
            "loans": 0, "active_loans": 0, "frozen": 0}


def load_positions(db: Database, borrowers: Iterable[int] | None) -> dict[int, dict[str, Any]]:
    """Position states of `borrowers` (all of them with None)."""
    cols = ", ".join(_POSITION_STATE)
    rows: list[tuple[Any, ...]] = []
    if borrowers is None:
        rows = db.query(f"SELECT {cols} FROM borrower_positions")
    else:
        for chunk in _chunks(sorted(set(borrowers))):
            rows += db.query(f"SELECT {cols} FROM borrower_positions WHERE borrower IN "
                             f"({', '.join('?' * len(chunk))})", chunk)
    return {int(r[0]): dict(zip(_POSITION_STATE, r, strict=True)) for r in rows}


def apply_counts(positions: dict[int, dict[str, Any]], counts: Mapping[int, list[int]]) -> None:
    for borrower, (loans, active) in counts.items():
        p = positions[borrower]
        p["loans"] = int(p["loans"]) + loans
        p["active_loans"] = int(p["active_loans"]) + active


def write_positions(db: Database, positions: Mapping[int, Mapping[str, Any]], params: dict[str, int]) -> None:
    """Upsert `positions`; a position of a kind that cannot borrow and has no loan left is dropped."""
    keep = [p for _, p in sorted(positions.items()) if int(p["kind"]) in BORROWING_KINDS or int(p["loans"]) > 0]
    db.executemany(_POSITION_SQL, [position_row(p, params) for p in keep])
    db.executemany("DELETE FROM borrower_positions WHERE borrower = ?",
                   [(b,) for b, p in sorted(positions.items())
                    if int(p["kind"]) not in BORROWING_KINDS and int(p["loans"]) <= 0])


SUMMARY_TABLES = ("loan_totals", "volume_buckets", "borrower_positions", "borrower_currency", "event_counts")
