"""The demo's read side: index everything, ask the regulator's queries, check the index against
the chain, write the dashboard snapshot (the API layer owns it) and assemble the result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from xborder.demo import phases
from xborder.demo.result import DemoResult
from xborder.domain.money import RATE_SCALE, parse_rate
from xborder.index import queries
from xborder.index.db import Database
from xborder.index.reconcile import consistency_report
from xborder.index.service import index_events, open_index
from xborder.services.replay import Tally

log = logging.getLogger(__name__)


def _by_currency(db: Database, rates: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    scaled = {c: parse_rate(r) for c, r in rates.items()} | {"CNY": RATE_SCALE}
    rows, total_cny = [], 0
    for row in queries.totals(db, "currency").dicts():
        currency = str(row["currency"])
        principal = int(row.get("principal", 0) or 0)
        cny = principal * scaled.get(currency, RATE_SCALE) // RATE_SCALE
        total_cny += cny
        rows.append({"currency": currency, "loans": int(row.get("loans", 0) or 0), "principal": principal,
                     "principal_cny": cny})
    return rows, total_cny


def _top_utilisation(db: Database) -> list[dict[str, Any]]:
    exposures = [e for e in (queries.borrower_exposure(db, b) for b in queries.borrowers(db)) if e.limit]
    exposures.sort(key=lambda e: (e.utilisation or 0), reverse=True)
    return [{"borrower": e.borrower, "name": e.name, "risk_weighted_balance": e.risk_weighted_balance,
             "limit": e.limit, "headroom": e.headroom, "utilisation": round(float(e.utilisation or 0), 4)}
            for e in exposures[:10]]


def _terms_seen(db: Database) -> dict[str, int]:
    row = db.query_one("SELECT COUNT(*), SUM(CASE WHEN readable = 1 AND commitment_ok = 1 THEN 1 ELSE 0 END), "
                       "SUM(CASE WHEN commitment_ok = 0 THEN 1 ELSE 0 END) FROM loan_terms")
    return {"envelopes": int(row[0] or 0), "opened_and_verified": int(row[1] or 0),
            "flagged": int(row[2] or 0)} if row else {}


def _dashboard(run: phases.Run, db: Database) -> str | None:
    try:
        from xborder.api.snapshot import write_snapshot
    except ImportError:  # the API extra is part of the default install; keep the demo going
        log.warning("dashboard snapshot unavailable")
        return None
    return str(write_snapshot(db, phases.dashboard_dir(run.settings)))


def read_report(run: phases.Run, tally: Tally, timings: dict[str, float],
                lap: Callable[[str], None]) -> DemoResult:
    progress = run.reporter.phase("indexing events", 1)
    stats = index_events(run.settings, w3=run.client.w3, decryption_keys=run.ring)
    progress(1, 1)
    lap("index")
    db = open_index(run.settings)
    try:
        by_currency, total_cny = _by_currency(db, run.workload.rates)
        count_row = db.query_one("SELECT COUNT(*) FROM loans")
        # on a network the index (read from the regulator's node) is checked against another node
        consistency = consistency_report(db, phases.check_w3(run), expected_chain_id=run.client.chain_id)
        top, terms, dashboard = _top_utilisation(db), _terms_seen(db), _dashboard(run, db)
    finally:
        db.close()
    chain_loans = phases.chain_loan_count(run)
    closed = phases.closed_loans(run, list(tally.loan_ids.values()))
    lap("report")
    usd_rate = parse_rate(run.workload.rates["USD"])
    return DemoResult(
        rpc_url=run.rpc_url, chain_id=run.client.deployment.chain_id, database=run.settings.index_url,
        institutions=int(run.facts.get("institutions", 0)), loans_attempted=len(run.workload.loans),
        loans_recorded=tally.counters["recorded"],
        principal_usd=round(total_cny / usd_rate * RATE_SCALE / 100, 2) if usd_rate else 0.0,
        by_currency=by_currency, refusals=dict(tally.refusals), refusal_examples=dict(tally.examples),
        drawdowns=tally.counters["drawdowns"], repayments=tally.counters["repayments"],
        confirmations=tally.counters["confirmations"], closed=closed, policy={},
        top_utilisation=top, consistency_ok=consistency.ok, consistency_borrowers=consistency.checked,
        chain_loan_count=chain_loans, indexed_loan_count=int(count_row[0]) if count_row else 0,
        indexed_events=stats.events, timings=timings, dashboard=dashboard,
        wallets=dict(run.facts.get("wallets", {})),
        confidential_terms={"keys_registered": int(run.facts.get("keys_registered", 0)), **terms},
        password_file=run.facts.get("password_file"))
