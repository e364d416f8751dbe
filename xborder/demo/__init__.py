"""The main job: the whole platform on a realistic workload, from an empty folder.

A short script of named phases (`xborder.demo.phases`): start the embedded chain, keystores,
deploy, fund, onboard every institution (each admin wallet proving it agrees to be bound), the
overseas creditors appoint the domestic banks that record and service their loans as agents (the
v2 lender side), register their encryption keys, publish the FX reference rates, record the
SAFE-2019-shaped workload month by month from the institutions' own wallets (co-signed loans: the
borrower's EIP-712 consent naming the submitting bank, Active and drawn in one transaction; the
others recorded by the bank and confirmed by the borrower), drawdowns at their drawdown date's rate
and weight, repayments acknowledged by the lender side, refusals decoded from the contracts' errors
(the limit, reused documents, drawdowns after maturity) under the macro-prudential parameter
actually in force (the PBOC/SAFE calendar: 1.0 in 2019), index everything, check the index against
the chain, write the dashboard and report as the regulator sees it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from xborder.config import Settings
from xborder.demo import phases
from xborder.demo.reading import read_report
from xborder.demo.result import DemoConfig, DemoResult, summary_lines, write_report
from xborder.domain import calendar
from xborder.domain.dates import month_index
from xborder.domain.enums import Parameter
from xborder.services.replay import PolicyStep, Tally
from xborder.services.workload import generate
from xborder.wallets.demo import DemoWallets

#: The demo's calendar: the chain starts on 2 January 2019 (`phases.DEMO_GENESIS`).
DEMO_START = dt.date(2019, 1, 2)
#: The workload's value dates start on 1 January 2019 (on the embedded chain, whose clock the player moves).
WORKLOAD_START = 1_546_300_800
DAY = 86_400
ADJUSTMENTS = (Parameter.ADJUSTMENT_ENTERPRISE, Parameter.ADJUSTMENT_FINANCIAL)


def policy_steps() -> list[PolicyStep]:
    """The regulator sets the adjustment parameters in force on the first day (the constructor's
    are today's 1.75), then follows the real PBOC/SAFE calendar (`xborder.domain.calendar`)."""
    steps = [PolicyStep(0, p, calendar.in_force(p, DEMO_START)) for p in ADJUSTMENTS]
    return steps + [PolicyStep(month_index(c.timestamp, DEMO_START.year), c.parameter, c.value_bps)
                    for c in calendar.changes_between(DEMO_START, dt.date(2021, 12, 31)) if c.parameter in ADJUSTMENTS]


def policy_report(steps: list[PolicyStep], tally: Tally, last_month: int, offset: int = 0) -> dict[str, Any]:
    """`steps` and `last_month` on the 2019 calendar; the player's months are `offset` later (a
    network run compresses 2019 into the present)."""
    applied = [s for s in steps if s.month <= last_month]
    upcoming = [c for c in calendar.POLICY_CALENDAR if c.effective > DEMO_START and
                month_index(c.timestamp, DEMO_START.year) > last_month][:1]
    in_force = {s.parameter.slug: s.value_bps / 10_000 for s in applied}
    return {"in_force": in_force,
            "source": next(c.source for c in calendar.POLICY_CALENDAR if c.effective <= DEMO_START),
            "changes": [{"month": s.month, "parameter": s.parameter.slug, "value": s.value_bps / 10_000,
                         "refusals_after": tally.since(s.month + offset)} for s in applied if s.month > 0],
            "next": {"date": upcoming[0].effective.isoformat(), "parameter": upcoming[0].parameter.slug,
                     "value": upcoming[0].value_bps / 10_000} if upcoming else None}


def run_demo(settings: Settings, config: DemoConfig | None = None, reporter: phases.Reporter | None = None,
             node_of: Callable[[int], str] | None = None) -> DemoResult:
    """`node_of` (institution index -> RPC URL; `xborder.demo.network.start_network`): run on a
    multi-node network, each institution submitting through its own node; `settings.rpc_url` is
    then the regulator's node (it deploys, onboards and indexes there)."""
    config = config or DemoConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name], clock = round(now - clock, 2), now

    steps = policy_steps()
    # A network's clock cannot be moved: there the 2019 calendar is compressed into the present (value
    # dates from 20 days ago, inside the v2 value-date window), the policy steps shifted with it.
    start_ts = WORKLOAD_START if node_of is None else (int(time.time()) // DAY - 20) * DAY
    base_year = dt.datetime.fromtimestamp(start_ts, dt.UTC).year
    workload = generate(seed=config.seed, enterprises=config.enterprises, banks=config.banks,
                        foreign_branches=config.foreign_branches, nbfis=config.nbfis,
                        creditors=config.creditors, loans=config.loans, total_usd=config.total_usd,
                        start_ts=start_ts, adjustment=steps[0].value_bps / 10_000)
    offset = month_index(start_ts, base_year)
    run = phases.Run(settings, workload, DemoWallets.from_seed(f"xborder-demo-{config.seed}"),
                     reporter or phases.Quiet(), phases.demo_regulator(config.seed), node_of=node_of,
                     base_year=base_year)
    phases.start_chain(run, config.block_time)
    lap("chain")
    if config.keystores:
        phases.keystores(run)
    lap("keystores")
    phases.deploy_contracts(run)
    lap("deploy")
    phases.fund_wallets(run)
    lap("fund")
    phases.onboard(run)
    lap("onboard")
    phases.appoint_agents(run)
    lap("agents")
    phases.encryption_keys(run)
    lap("keys")
    phases.reference_rates(run)
    lap("policy")
    tally = phases.record_loans(run, [replace(s, month=s.month + offset) for s in steps])
    lap("loans")
    result = read_report(run, tally, timings, lap)
    last = max(month_index(ln.value_date, base_year) + len(ln.later) for ln in workload.loans) - offset
    result.policy = policy_report(steps, tally, last, offset)
    phases.idle_chain(run)
    return result


__all__ = ["DemoConfig", "DemoResult", "run_demo", "summary_lines", "write_report"]
