"""Loans end to end on a multi-node network and on anvil: loans/s, and the latency from a bank's
submission to the loan's row in the regulator's index (p50, p95).

Each bank records co-signed loans (record with consent + drawdown, one transaction each) through
its own node, in rounds of a few loans (one `LoanBatch` per round, the services' bulk path); the
regulator's indexer follows its own node (the last one) and a watcher notes when each loan's row
appears in the index. On anvil the same runs against one node (mining every `period` seconds, the
same gas limit), so the two are comparable; the chain's capacity (gas limit / gas per loan /
period) is printed beside the figures.

    python -m xborder.bench --only network [--quick]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from xborder.bench.results import Results, Row
from xborder.bench.world import (
    BANK,
    CREDITOR,
    ENTERPRISE,
    appoint_agents,
    institution_plan,
    parties_of,
    setup_calls,
)
from xborder.bindings.client import XborderClient
from xborder.chain.connect import web3_for
from xborder.chain.launcher import start_anvil
from xborder.chain.network import init_network, running_network
from xborder.chain.rpc import Rpc
from xborder.config import PROJECT_ROOT, Settings
from xborder.index.db import open_database
from xborder.index.service import index_events, open_index
from xborder.services.deploy import deploy
from xborder.services.loan_batch import RECORDED, LoanBatch, LoanItem
from xborder.services.terms import LoanTerms
from xborder.services.workload import DAY
from xborder.wallets.demo import DemoWallets

SEED = 11  # the institutions' identifiers and capital bases
TERM_DAYS = 365


@dataclass(frozen=True)
class Config:
    nodes: int = 4
    banks: int = 3
    creditors: int = 2
    borrowers_per_bank: int = 4
    rounds: int = 5
    loans_per_round: int = 10
    period: int = 1
    gas_limit: int = 30_000_000

    @property
    def loans(self) -> int:
        return self.banks * self.rounds * self.loans_per_round

    @property
    def accounts(self) -> int:
        """Demo wallets to fund: the regulator's and one admin per institution."""
        return 1 + self.banks + self.creditors + self.banks * self.borrowers_per_bank


@dataclass
class Run:
    chain: str
    period: int
    gas_limit: int
    loans: int = 0
    recorded: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    gas_per_loan: float = 0.0

    @property
    def loans_per_second(self) -> float:
        return self.recorded / self.seconds if self.seconds else 0.0

    @property
    def capacity(self) -> float:
        """Loans per second the chain can seal: gas limit / gas per loan / period."""
        return self.gas_limit / self.gas_per_loan / self.period if self.gas_per_loan else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class _Ids:
    banks: list[int]
    creditors: list[int]
    borrowers: list[int]
    head: int  # the last setup block: every node must have it before the banks start
    start: int  # chain time at setup: the loans' value dates (v2 date window)


def _setup(urls: list[str], wallets: DemoWallets, cfg: Config, deployments: Path) -> _Ids:
    """Deploy through node 1, set the reference rates, register the banks, the overseas creditors
    and the borrowers (the bench world's plan and registrations, `bench.world`), and have every
    creditor appoint every bank as its agent. Wallet 0 is the regulator; wallet k the admin of
    institution k."""
    w3 = web3_for(urls[0], timeout=120)
    regulator = wallets.account(0)
    deploy(w3, regulator, regulator.address, deployments, PROJECT_ROOT, progress=lambda _m: None)
    client = XborderClient.load(w3, deployments)
    plan = institution_plan(random.Random(SEED), banks=cfg.banks, creditors=cfg.creditors,
                            borrowers=cfg.banks * cfg.borrowers_per_bank)
    start = Rpc(w3).chain_time()
    failed = client.batch(setup_calls(client, regulator, wallets, plan, start), receipt_timeout=600).submit()
    if failed:
        raise RuntimeError(f"bench network setup: {failed[0].label}: {failed[0].reason}")
    parties = parties_of(wallets, plan)
    banks = [p for p in parties if p.kind == BANK]
    creditors = [p for p in parties if p.kind == CREDITOR]
    appoint_agents(client, creditors, banks)
    return _Ids(banks=[p.institution_id for p in banks], creditors=[p.institution_id for p in creditors],
                borrowers=[p.institution_id for p in parties if p.kind == ENTERPRISE],
                head=int(w3.eth.block_number), start=start)


def _wait_block(urls: list[str], block: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    for url in dict.fromkeys(urls):
        w3 = web3_for(url)
        while int(w3.eth.block_number) < block:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not reach block {block} within {timeout:.0f}s")
            time.sleep(0.1)


@dataclass
class _Follower:
    """The regulator's side: an indexer following the last node, and a watcher noting when each
    loan's row (by document hash) appears in the index."""

    settings: Settings
    seen: dict[str, float] = field(default_factory=dict)  # document hash (0x hex) -> first seen
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        open_index(self.settings).close()  # create and migrate once, before two threads open it
        self.threads = [
            threading.Thread(target=index_events, args=(self.settings,), daemon=True,
                             kwargs={"follow": True, "poll_interval": 0.1, "stop": self.stop, "batch_blocks": 500}),
            threading.Thread(target=self._watch, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _watch(self) -> None:
        while not self.stop.is_set():
            try:
                with open_database(self.settings.index_url, migrate=False) as db:
                    now = time.perf_counter()
                    for (doc,) in db.query("SELECT document_hash FROM loans"):
                        self.seen.setdefault(str(doc), now)
            except Exception:  # the follower may still be creating the database
                pass
            time.sleep(0.05)

    def wait_for(self, documents: set[str], count: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while len(documents & set(self.seen)) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        for thread, timeout in zip(self.threads, (30, 5), strict=True):
            thread.join(timeout)


@dataclass
class _Banks:
    """The banks' side: bank b records its rounds of co-signed loans through node b."""

    name: str
    urls: list[str]
    wallets: DemoWallets
    cfg: Config
    deployments: Path
    ids: _Ids
    run: Run
    submitted: dict[str, float] = field(default_factory=dict)  # document hash (0x hex) -> submission time
    gas: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _items(self, b: int, r: int, recorder: LocalAccount) -> list[LoanItem]:
        mine = self.ids.borrowers[b * self.cfg.borrowers_per_bank:(b + 1) * self.cfg.borrowers_per_bank]
        creditors = self.ids.creditors
        items = []
        for k in range(self.cfg.loans_per_round):
            borrower = mine[k % len(mine)]
            # the creditor is an overseas lender (every one has appointed every bank as its agent);
            # value dates from the chain's time at setup (the v2 window), a one-year term
            items.append(LoanItem.build(
                borrower=borrower, creditor=creditors[(b + k) % len(creditors)], currency="USD", principal=100_000_00,
                value_date=self.ids.start, maturity_date=self.ids.start + TERM_DAYS * DAY, financing_type=1,
                document=bytes(keccak(text=f"{self.name}-bank{b}-round{r}-loan{k}")),
                terms=LoanTerms(interest_rate="4.2"), recorder=recorder,
                borrower_account=self.wallets.account(borrower), draw=100_000_00, ref=f"{b}-{r}-{k}"))
        return items

    def bank(self, b: int) -> None:
        client = XborderClient.load(web3_for(self.urls[b % len(self.urls)], timeout=120), self.deployments)
        recorder: LocalAccount = self.wallets.account(self.ids.banks[b])
        for r in range(self.cfg.rounds):
            items = self._items(b, r, recorder)
            batch = LoanBatch(client, items, gas_mode="fixed", fixed_gas=600_000, receipt_timeout=600)
            batch.preflight()
            t = time.perf_counter()
            with self.lock:
                for item in items:
                    self.submitted["0x" + item.request.document_hash.hex()] = t
            report = batch.submit()
            with self.lock:
                self.run.recorded += sum(1 for o in report.outcomes if o.status == RECORDED)
                self.gas.extend(o.gas_used for o in report.outcomes if o.status == RECORDED and o.gas_used)

    def all(self) -> None:
        threads = [threading.Thread(target=self.bank, args=(b,)) for b in range(self.cfg.banks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def run_chain(name: str, urls: list[str], wallets: DemoWallets, cfg: Config, workdir: Path,
              say: Callable[[str], None]) -> Run:
    """The workload on one chain whose node k is `urls[k]` (bank b submits to node b, the
    regulator indexes from the last node)."""
    deployments = workdir / "deployments"
    ids = _setup(urls, wallets, cfg, deployments)
    _wait_block(urls, ids.head)
    run = Run(name, cfg.period, cfg.gas_limit, loans=cfg.loans)
    follower = _Follower(Settings(project_root=PROJECT_ROOT, data_dir=workdir / "regulator",
                                  deployments_dir=deployments, rpc_url=urls[-1]))
    follower.start()
    banks = _Banks(name, urls, wallets, cfg, deployments, ids, run)
    started = time.perf_counter()
    try:
        banks.all()
        follower.wait_for(set(banks.submitted), run.recorded)
    finally:
        follower.close()
    seen, submitted = follower.seen, banks.submitted
    finished = max((seen[d] for d in submitted if d in seen), default=time.perf_counter())
    run.seconds = finished - started
    run.latencies = sorted(seen[d] - t for d, t in submitted.items() if d in seen)
    run.gas_per_loan = statistics.fmean(banks.gas) if banks.gas else 0.0
    say(f"{name}: {run.recorded}/{run.loans} loans in {run.seconds:.1f}s")
    return run


@contextmanager
def _anvil(wallets: DemoWallets, cfg: Config, workdir: Path) -> Iterator[list[str]]:
    with start_anvil(mnemonic=wallets.mnemonic, accounts=cfg.accounts, block_time=cfg.period, gas_limit=cfg.gas_limit,
                     balance_ether=1_000_000, log_path=workdir / "anvil.log") as node:
        yield [node.rpc_url] * cfg.nodes


@contextmanager
def _network(wallets: DemoWallets, cfg: Config, workdir: Path) -> Iterator[list[str]]:
    root = workdir / "network"
    init_network(root, nodes=cfg.nodes, project_root=PROJECT_ROOT, period=cfg.period, gas_limit=cfg.gas_limit,
                 alloc={wallets.address(i): 10**24 for i in range(cfg.accounts)})
    with running_network(root, PROJECT_ROOT) as network:
        network.wait_synced(min_block=1)
        yield network.urls


def run(results: Results, *, quick: bool = False, say: Callable[[str], None] = print) -> list[Run]:
    cfg = Config(rounds=2 if quick else 5)
    wallets = DemoWallets()
    runs = []
    for name, chain in (("anvil", _anvil), (f"geth clique x{cfg.nodes}", _network)):
        say(f"{name}: {cfg.loans} co-signed loans from {cfg.banks} banks ({cfg.rounds} rounds of "
            f"{cfg.loans_per_round} each), block every {cfg.period}s, gas limit {cfg.gas_limit:,} ...")
        # the nodes stop before their folder (~160 MB for the network) is removed
        with tempfile.TemporaryDirectory(prefix="xborder-bench-net-", ignore_cleanup_errors=True) as tmp, \
                chain(wallets, cfg, Path(tmp)) as urls:
            runs.append(run_chain(name, urls, wallets, cfg, Path(tmp), say))
    for r in runs:
        note = (f"block period {r.period}s, gas limit {r.gas_limit:,}, {r.gas_per_loan:,.0f} gas/loan -> "
                f"capacity {r.capacity:,.0f} loans/s; {r.recorded}/{r.loans} loans")
        results.add(Row("network", f"{r.chain}: loans/s end to end", r.loans_per_second, "loans/s", note=note))
        results.add(Row("network", f"{r.chain}: submission -> index row p50", r.percentile(50), "s",
                        note="bank submits to its own node; regulator indexes from the last node"))
        results.add(Row("network", f"{r.chain}: submission -> index row p95", r.percentile(95), "s"))
    if len(runs) == 2 and runs[0].loans_per_second:
        results.sections.setdefault("network", {})["ratio_network_to_anvil"] = (
            runs[1].loans_per_second / runs[0].loans_per_second)
    results.sections.setdefault("network", {})["config"] = replace(cfg).__dict__
    return runs
