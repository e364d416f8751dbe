"""The main job: the whole platform on a realistic workload, from an empty folder.

A short script of named phases (`xborder.demo.phases`): start the embedded chain, keystores,
deploy, fund, onboard every institution, register their encryption keys, publish the FX reference
rates, record the SAFE-2019-shaped workload month by month from the institutions' own wallets
(co-signed one-transaction loans, loans confirmed later, drawdowns in tranches, repayments,
refusals for the limit and for reused documents, the regulator's policy step), index everything,
write the dashboard and report as the regulator sees it.
"""

from __future__ import annotations

import time

from xborder.config import Settings
from xborder.demo import phases
from xborder.demo.reading import read_report
from xborder.demo.result import DemoConfig, DemoResult, summary_lines, write_report
from xborder.domain.dates import month_index
from xborder.domain.enums import Parameter
from xborder.services.replay import PolicyStep
from xborder.services.workload import generate
from xborder.wallets.demo import DemoWallets

#: Month (0 = January 2019) in which the regulator changes the enterprises' adjustment parameter.
TIGHTENING_MONTH = 6


def run_demo(settings: Settings, config: DemoConfig | None = None,
             reporter: phases.Reporter | None = None) -> DemoResult:
    config = config or DemoConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name], clock = round(now - clock, 2), now

    workload = generate(seed=config.seed, enterprises=config.enterprises, banks=config.banks,
                        foreign_branches=config.foreign_branches, nbfis=config.nbfis,
                        creditors=config.creditors, loans=config.loans, total_usd=config.total_usd)
    run = phases.Run(settings, workload, DemoWallets.from_seed(f"xborder-demo-{config.seed}"),
                     reporter or phases.Quiet(), phases.demo_regulator(config.seed))
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
    phases.encryption_keys(run)
    lap("keys")
    phases.reference_rates(run)
    lap("policy")
    old = int(run.client.policy.functions.parameter(int(Parameter.ADJUSTMENT_ENTERPRISE)).call())
    step = PolicyStep(TIGHTENING_MONTH, Parameter.ADJUSTMENT_ENTERPRISE, workload.tightened_adjustment_bps)
    tally = phases.record_loans(run, [step])
    lap("loans")
    result = read_report(run, tally, timings, lap)
    result.tightening = {"parameter": step.parameter.slug, "old": old / 10_000, "new": step.value_bps / 10_000,
                         "refusals_after": tally.since(step.month)}
    return result


__all__ = ["DemoConfig", "DemoResult", "month_index", "run_demo", "summary_lines", "write_report"]
