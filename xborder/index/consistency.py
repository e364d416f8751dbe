"""The database half of the consistency check: compare the index with figures read from the chain
(`ChainFigures`, gathered by `xborder.index.reconcile`, which alone talks to the node).

Checked, at the checkpoint block:
* every borrower: risk-weighted balance, limit and headroom against the ledger's views, and the
  sum of its loans' contributions against the ledger's balance (the limit is recomputed from the
  indexed institution and parameters, so a tampered capital base or parameter row shows);
* every contract and event: the number of logs in `raw_logs` against `eth_getLogs`;
* the summary tables against the rows they summarise (`internal`): a projection bug or a
  hand-edited row shows even where the chain agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xborder.errors import ValidationError
from xborder.index.db import Database
from xborder.index.policy import borrowing_limit, parameters
from xborder.index.store import event_label


@dataclass(frozen=True)
class ChainFigures:
    """What the node says at `block`: (balance, limit, headroom) per borrower, logs per
    (contract, event label)."""

    block: int
    views: dict[int, tuple[int, int, int]]
    log_counts: dict[tuple[str, str], int]


@dataclass
class Mismatch:
    borrower: int
    name: str
    field: str
    indexed: int
    chain: int


@dataclass
class LogCountMismatch:
    contract: str
    event: str
    indexed: int
    chain: int


@dataclass
class ConsistencyReport:
    block: int
    checked: int
    mismatches: list[Mismatch]
    log_mismatches: list[LogCountMismatch] = field(default_factory=list)
    logs_checked: int = 0
    internal: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.log_mismatches and not self.internal

    @property
    def borrowers(self) -> list[int]:
        return sorted({m.borrower for m in self.mismatches})


def checkpoint_block(db: Database) -> int:
    row = db.query_one("SELECT block_number FROM checkpoint WHERE id = 1")
    if row is None or int(row[0]) < 0:
        raise ValidationError("the index is empty: run `xborder index run` first", field="checkpoint")
    return int(row[0])


def indexed_log_counts(db: Database) -> dict[tuple[str, str], int]:
    """Logs per (contract, event label), counted in `raw_logs` itself."""
    counts: dict[tuple[str, str], int] = {}
    for contract, event, topic0, n in db.query(
            "SELECT contract, event, topic0, COUNT(*) FROM raw_logs GROUP BY contract, event, topic0"):
        key = (str(contract), event_label(event, None if topic0 is None else bytes(topic0)))
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def compare(db: Database, chain: ChainFigures) -> ConsistencyReport:
    """The report of the index against `chain` (taken at the index's checkpoint block)."""
    block = checkpoint_block(db)
    if chain.block != block:
        raise ValidationError(f"the chain figures are of block {chain.block}, the index is at block {block}",
                              field="block", value=chain.block)
    params = parameters(db)
    sums = {int(b): int(s) for b, s in db.query("SELECT borrower, SUM(contribution) FROM loans GROUP BY borrower")}
    positions = {int(r[0]): r[1:] for r in db.query(
        "SELECT p.borrower, i.name, i.kind, i.capital_base, p.balance, p.limit_cny FROM borrower_positions p "
        "LEFT JOIN institutions i ON i.institution_id = p.borrower")}
    mismatches: list[Mismatch] = []
    internal: list[str] = []
    for borrower, (balance, limit, headroom) in sorted(chain.views.items()):
        name, kind, capital, indexed_balance, stored_limit = positions.get(borrower, ("?", None, 0, 0, 0))
        indexed_limit = borrowing_limit(int(kind), int(capital or 0), params) if kind is not None else 0
        if int(stored_limit) != indexed_limit:
            internal.append(f"borrower {borrower}: borrower_positions.limit_cny {stored_limit} != {indexed_limit} "
                            "from the indexed capital base and parameters")
        indexed = {"risk_weighted_balance": int(indexed_balance), "limit": indexed_limit,
                   "headroom": max(0, indexed_limit - int(indexed_balance)),
                   "sum_of_contributions": sums.get(borrower, 0)}
        on_chain = {"risk_weighted_balance": balance, "limit": limit, "headroom": headroom,
                    "sum_of_contributions": balance}
        mismatches += [Mismatch(borrower, str(name or ""), key, indexed[key], on_chain[key])
                       for key in indexed if indexed[key] != on_chain[key]]
    ours = indexed_log_counts(db)
    log_mismatches = [LogCountMismatch(c, e, ours.get((c, e), 0), chain.log_counts.get((c, e), 0))
                      for c, e in sorted(set(ours) | set(chain.log_counts))
                      if ours.get((c, e), 0) != chain.log_counts.get((c, e), 0)]
    internal += summary_differences(db)
    return ConsistencyReport(block=block, checked=len(chain.views), mismatches=mismatches,
                             log_mismatches=log_mismatches, logs_checked=sum(chain.log_counts.values()),
                             internal=internal)


def summary_differences(db: Database) -> list[str]:
    """The summary tables against the rows they summarise (empty when they agree)."""
    out: list[str] = []
    kept = {(str(c), int(s)): tuple(int(v) for v in r) for c, s, *r in db.query(
        "SELECT group_key, status, loans, principal, drawn, outstanding, contribution FROM loan_totals "
        "WHERE dimension = 'currency'")}
    counted = {(str(c), int(s)): tuple(int(v) for v in r) for c, s, *r in db.query(
        "SELECT currency, status, COUNT(*), SUM(principal), SUM(drawn), SUM(outstanding), SUM(contribution) "
        "FROM loans GROUP BY currency, status")}
    for key in sorted(set(kept) | set(counted)):
        if kept.get(key) != counted.get(key):
            out.append(f"loan_totals {key[0]} status {key[1]}: kept {kept.get(key)} != counted {counted.get(key)} "
                       "(loans, principal, drawn, outstanding, contribution)")
    kept_logs = {(str(c), str(e)): int(n) for c, e, n in db.query("SELECT contract, event, logs FROM log_counts")}
    counted_logs = indexed_log_counts(db)
    for log_key in sorted(set(kept_logs) | set(counted_logs)):
        if kept_logs.get(log_key, 0) != counted_logs.get(log_key, 0):
            out.append(f"log_counts {log_key[0]} {log_key[1]}: kept {kept_logs.get(log_key, 0)} != "
                       f"{counted_logs.get(log_key, 0)} "
                       "in raw_logs")
    return out
