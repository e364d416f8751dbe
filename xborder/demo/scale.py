"""`xborder demo --scale 2022`: the platform at its February 2022 size on the real policy calendar.

About 300 banks and foreign bank branches, 12,000 enterprises and the overseas lenders they need;
loan transactions (records, drawdowns, repayments, extensions, a few defaults) worth about
USD 140 bn, value dates spread over March 2019 - February 2022 on the chain's calendar, the
regulator applying the PBOC/SAFE adjustment-parameter changes on their dates
(`xborder.services.calendar_replay`). `fraction` runs the same code at a fraction of the size.

Seeded and reproducible; resumable (`resume=True`) on the same chain: every phase skips what the
chain already holds (registered identifiers, appointed agents, registered keys, funded wallets)
and the loan player resumes from its checkpoint without recording anything twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from faster_eth_abi import encode as abi_encode

from xborder.bindings.batch import DONE, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import ledger_call
from xborder.chain import embedded
from xborder.chain.connect import connect
from xborder.chain.miner import ON_DEMAND, PoolMiner
from xborder.config import Settings
from xborder.demo import phases
from xborder.demo.reading import read_report
from xborder.demo.result import DemoResult
from xborder.domain.enums import REGULATOR_KEY_ID
from xborder.errors import ChainError
from xborder.services import policy
from xborder.services.calendar_replay import CalendarPlayer, PeriodTally, checkpoint_block, period_of
from xborder.services.confidential import TermsSealer
from xborder.services.funding import dev_funder, fund
from xborder.services.replay import Bars
from xborder.services.workload import Workload, generate
from xborder.wallets.demo import DemoWallets
from xborder.wallets.encryption import derive_key, public_bytes

DAY = 86_400
#: The chain starts on 20 February 2019; value dates run from 1 March 2019 to 28 February 2022.
SCALE_GENESIS = int(dt.datetime(2019, 2, 20, tzinfo=dt.UTC).timestamp())
SCALE_START = int(dt.datetime(2019, 3, 1, tzinfo=dt.UTC).timestamp())
SCALE_SPAN_DAYS = (dt.date(2022, 2, 28) - dt.date(2019, 3, 1)).days
#: Block gas limit of the scale chain (a 0.2 s block then holds ~3,000 co-signed records).
SCALE_GAS_LIMIT = 1_000_000_000
#: Ether per wallet: banks send most transactions; the funder holds 10,000 ETH in all.
BANK_WEI, OTHER_WEI, REGULATOR_WEI = 20 * 10**18, 2 * 10**17, 10 * 10**18
CHECKPOINT = "scale-2022.checkpoint.json"
#: Transactions per sending window while the loans are played, and so per block (`PoolMiner.mine_now`
#: mines each window as it is sent).
SCALE_WINDOW_TXS = 2_500


@dataclass(frozen=True)
class ScaleConfig:
    seed: int = 2022
    fraction: float = 1.0
    #: The February 2022 figures (SAFE): >12,000 firms, ~300 banks, ~230,000 transactions, >USD 140 bn.
    banks: int = 260
    foreign_branches: int = 40
    nbfis: int = 20
    creditors: int = 700
    enterprises: int = 12_000
    #: Loans; with their drawdowns, repayments, extensions and defaults ~2.7 transactions each.
    loans: int = 85_000
    total_usd: float = 140e9
    resume: bool = False

    def scaled(self, n: int, least: int) -> int:
        return max(least, round(n * self.fraction))

    @property
    def fingerprint(self) -> str:
        return f"scale-2022 seed={self.seed} fraction={self.fraction:g}"


def scale_workload(config: ScaleConfig) -> Workload:
    return generate(seed=config.seed, enterprises=config.scaled(config.enterprises, 10),
                    banks=config.scaled(config.banks, 3), foreign_branches=config.scaled(config.foreign_branches, 1),
                    nbfis=config.scaled(config.nbfis, 1), creditors=config.scaled(config.creditors, 3),
                    loans=config.scaled(config.loans, 30), total_usd=config.total_usd * config.fraction,
                    start_ts=SCALE_START, adjustment=1.0, span_days=SCALE_SPAN_DAYS, lifecycle=True)


def start_chain(run: phases.Run, config: ScaleConfig) -> None:
    """A fresh embedded anvil from 20 Feb 2019 (kept as it is when resuming) with a large block gas
    limit, mining only when asked (`PoolMiner`) and keeping few past states, in memory only; its
    keeper spaces its snapshots wider until the load ends (`embedded.bulk_load`)."""
    settings = run.settings
    if not config.resume:
        embedded.reset(settings)
        for path in (settings.data_dir / "index.db", settings.data_dir / "index.db-wal",
                     settings.data_dir / "index.db-shm", settings.data_dir / CHECKPOINT,
                     settings.deployments / f"{embedded.EMBEDDED_CHAIN_ID}.json"):
            path.unlink(missing_ok=True)
    embedded.bulk_load(settings, True)  # snapshots block anvil less often during the load (run_scale ends it)
    status = embedded.start(settings, gas_limit=SCALE_GAS_LIMIT, genesis_timestamp=SCALE_GENESIS,
                            **ON_DEMAND)
    assert status.rpc_url is not None
    run.rpc_url, run.embedded = status.rpc_url, True
    run.w3 = connect(run.rpc_url, settings.chain_id, timeout=120)
    run.settings = replace(settings, rpc_url=run.rpc_url)
    if config.resume:
        _check_not_behind(run.w3.eth.block_number, settings.data_dir / CHECKPOINT)
    run.reporter.say(f"chain {run.w3.eth.chain_id} at {run.rpc_url} ({'resumed' if config.resume else 'fresh'})")


def _check_not_behind(head: int, checkpoint: Path) -> None:
    """Refuse to resume on a chain that lost blocks the checkpoint counts as done (before
    anything is sent: a resumed run would otherwise skip steps whose transactions are gone)."""
    began = checkpoint_block(checkpoint)
    if began is not None and head < began:
        raise ChainError(
            f"cannot resume: the chain's head is block {head}, but the checkpoint {checkpoint} was written at "
            f"block {began}: the node lost blocks the run had recorded (killed before its last snapshot?). "
            "Start afresh without --resume")


def deploy_or_load(run: phases.Run) -> None:
    assert run.w3 is not None
    if (run.settings.deployments / f"{run.w3.eth.chain_id}.json").exists():
        run.client_ = XborderClient.load(run.w3, run.settings.deployments)
        run.client.remember_names({inst.institution_id: inst.name for inst in run.workload.institutions})
        run.reporter.say("contracts already deployed: reusing them")
        return
    phases.deploy_contracts(run)


def fund_wallets(run: phases.Run) -> None:
    """Top up (so a resumed run sends only what is missing): banks more, they send most transactions."""
    w = run.workload
    banks = {i for i in w.bank_indices}
    bar = run.reporter.phase("funding wallets", len(w.institutions) + 1)
    w3, funder, pool = run.client.w3, dev_funder(), run.client.pool
    fund(w3, funder, [run.regulator.address], REGULATOR_WEI, pool=pool)
    fund(w3, funder, [run.wallets.address(i) for i in sorted(banks)], BANK_WEI, pool=pool)
    fund(w3, funder, [run.wallets.address(inst.index) for inst in w.institutions if inst.index not in banks],
         OTHER_WEI, pool=pool)
    bar(len(w.institutions) + 1, len(w.institutions) + 1)


def appoint_agents(run: phases.Run) -> None:
    """Each creditor appoints the banks that record its loans (pairs already appointed are skipped)."""
    pairs = phases.lender_agents(run.workload)
    held = _views2(run, "isAgent(uint32,uint32)", [(c + 1, b + 1) for c, b in pairs],
                   str(run.client.ledger.address)) if pairs else []
    todo = [p for p, raw in zip(pairs, held, strict=True) if not int.from_bytes(raw, "big")]
    ledger = str(run.client.ledger.address)
    # Not dry-run: the pairs are distinct and not appointed yet, and any refusal (decoded from the
    # mined tx) stops the run.
    txs = [Tx(run.wallets.account(c), ledger, ledger_call("appointAgent(uint32)", b + 1), phases.AGENT_GAS,
              label=f"#{c + 1} appoints #{b + 1}", dry_run=False) for c, b in todo]
    outcomes = run.route.run(txs, run.reporter.phase("creditors appointing their banks as agents", len(txs)))
    failed = [o for o in outcomes if o.status != DONE]
    if failed:
        raise RuntimeError(f"{len(failed)} agent appointments refused, e.g. {failed[0].label}: {failed[0].reason}")
    run.facts["agents"] = len(pairs)


def encryption_keys(run: phases.Run) -> None:
    """As the 2019 demo (keys derived from the wallets, DEMO-ONLY), registering only the keys the
    registry does not hold yet (a resumed run rotates nobody's key)."""
    registry = str(run.client.registry.address)
    regulator_key = derive_key(bytes(run.regulator.key), REGULATOR_KEY_ID, 1)
    run.ring.add(REGULATOR_KEY_ID, 1, regulator_key)
    parties = [(run.regulator, REGULATOR_KEY_ID, regulator_key)] + [
        (run.wallets.account(inst.index), inst.institution_id,
         derive_key(run.wallets.private_key(inst.index), inst.institution_id, 1)) for inst in run.workload.institutions]
    held = phases._views(run, "encryptionKey(uint32)", [i for _, i, _ in parties], to=registry)
    txs = [Tx(account, registry, phases._encode(phases.SET_KEY, [i, public_bytes(key)]), phases.KEY_GAS,
              label=f"key {i}", dry_run=False) for (account, i, key), raw in zip(parties, held, strict=True)
           if not int.from_bytes(raw[32:64], "big")]
    outcomes = run.route.run(txs, run.reporter.phase("registering encryption keys", len(txs)))
    failed = [o for o in outcomes if o.status != DONE]
    if failed:
        raise RuntimeError(f"{len(failed)} key registrations refused, e.g. {failed[0].label}: {failed[0].reason}")
    run.facts["keys_registered"] = len(parties)
    run.sealer = TermsSealer(run.client)
    assert run.sealer.keys is not None
    run.sealer.keys.prefetch([i for _, i, _ in parties])


def reference_rates(run: phases.Run) -> None:
    if policy.rates(run.client)[1:]:
        return
    phases.reference_rates(run)


def _views2(run: phases.Run, signature: str, args: Sequence[tuple[int, int]], to: str) -> list[bytes]:
    kinds = signature[signature.index("(") + 1:-1].split(",")
    from xborder.bindings.consent import selector

    answers = run.client.rpc.results([("eth_call", [{"to": to, "data": "0x" + (
        selector(signature) + abi_encode(kinds, list(a))).hex()}, "latest"]) for a in args], context=signature)
    return [bytes.fromhex(str(a)[2:]) for a in answers]


def run_scale(settings: Settings, config: ScaleConfig, reporter: phases.Reporter | None = None) -> DemoResult:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name], clock = round(now - clock, 2), now

    workload = scale_workload(config)
    lap("plan")
    run = phases.Run(settings, workload, DemoWallets.from_seed(f"xborder-scale-{config.seed}"),
                     reporter or phases.Quiet(), phases.demo_regulator(config.seed), base_year=2019)
    start_chain(run, config)
    lap("chain")
    try:
        miner = PoolMiner(run.rpc_url).start()
        try:
            tally, player = _load(run, settings, config, timings, lap, miner)
        finally:
            miner.stop()
            # From now on a block per transaction (as every restart of the chain mines); the index is
            # checked at its own block, which no empty block pushes out of the few states kept.
            phases.idle_chain(run)
        run.facts["loan_steps"] = {k: round(v, 2) for k, v in player.timings.items()}
        result = read_report(run, tally, timings, lap)
    finally:
        # The keeper's usual spacing resumes once the index and the report have read the chain (a
        # snapshot of the full-size state kept anvil from answering them for minutes).
        embedded.bulk_load(settings, False)
    result.policy = scale_policy_report(tally, run.client)
    result.policy["transactions"] = transactions(tally)
    result.policy["loan_steps"] = run.facts["loan_steps"]
    result.policy["blocks_mined"] = miner.blocks
    return result


def _load(run: phases.Run, settings: Settings, config: ScaleConfig, timings: dict[str, float],
          lap: Callable[[str], None], miner: PoolMiner) -> tuple[PeriodTally, CalendarPlayer]:
    """Deploy, fund, onboard, appoint, register keys and rates, then play the loans on the calendar
    (every batch sending windows of at most `miner.WINDOW_TXS` (see there), SCALE_WINDOW_TXS for the
    loans, each mined as soon as it is sent)."""
    workload = run.workload
    deploy_or_load(run)
    assert run.client.pool is not None
    miner.feed(run.client.pool)
    lap("deploy")
    fund_wallets(run)
    lap("fund")
    phases.onboard(run)
    lap("onboard")
    appoint_agents(run)
    lap("agents")
    encryption_keys(run)
    lap("keys")
    reference_rates(run)
    lap("policy")
    run.client.pool.window_txs = SCALE_WINDOW_TXS
    loans = workload.loans
    bars = Bars(record=run.reporter.phase("recording loans (Mar 2019 - Feb 2022, on the calendar)", len(loans)),
                confirm=run.reporter.phase("borrowers confirming loans they did not co-sign",
                                           sum(1 for ln in loans if not ln.co_signed)),
                tranche=run.reporter.phase("drawdowns, repayments, extensions, defaults",
                                           sum(len(ln.later) for ln in loans)),
                say=run.reporter.say)
    player = CalendarPlayer(run.client, workload, run.accounts(), run.regulator, run.sealer, [], bars,
                            base_year=2019, checkpoint=settings.data_dir / CHECKPOINT, fingerprint=config.fingerprint)
    tally = player.play()
    lap("loans")
    return tally, player


def transactions(tally: PeriodTally) -> dict[str, int]:
    """Loan transactions landed, by kind: a co-signed record's first drawdown is made in the record's
    own transaction, so "drawdowns" counts only the separate ones here."""
    c = tally.counters
    out = {"records": c["recorded"], "confirmations": c["confirmations"],
           "drawdowns": c["drawdowns"] - c["first draws"], "repayments": c["repayments"],
           "extensions": c["extensions"], "defaults": c["defaults"]}
    return out | {"total": sum(out.values())}


def scale_policy_report(tally: PeriodTally, client: XborderClient) -> dict[str, Any]:
    values = policy.parameters(client)
    return {"in_force": {p.slug: values[p.slug] / 10_000 for p in policy.CALENDAR_PARAMETERS},
            "source": "the PBOC/SAFE calendar (xborder.domain.calendar, docs/policy-calendar.md)",
            "changes": [], "next": None,
            "by_period": {k: dict(v) for k, v in tally.by_period.items()},
            "periods": sorted({period_of(dt.date(2019, 3, 1)), *tally.by_period})}
