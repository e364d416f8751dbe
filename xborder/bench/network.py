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
from xborder.bindings.client import XborderClient
from xborder.chain.connect import web3_for
from xborder.chain.launcher import start_anvil
from xborder.chain.network import init_network, running_network
from xborder.chain.sender import Call, TxSender, check_receipts, send_all
from xborder.config import PROJECT_ROOT, Settings
from xborder.domain.identifiers import identifier_bytes, uscc_with_check
from xborder.index.db import open_database
from xborder.index.service import index_events, open_index
from xborder.services.deploy import deploy
from xborder.services.loan_import import RECORDED, LoanBatch, LoanItem
from xborder.services.terms import LoanTerms
from xborder.wallets.demo import DemoWallets

BANK, ENTERPRISE = 0, 3
USD_RATE = 710_000_000  # 7.10 CNY per USD, scale 1e8
VALUE_DATE, MATURITY = 1_735_689_600, 1_767_139_200  # 2025-01-01, 2025-12-31


@dataclass(frozen=True)
class Config:
    nodes: int = 4
    banks: int = 3
    borrowers_per_bank: int = 4
    rounds: int = 5
    loans_per_round: int = 10
    period: int = 1
    gas_limit: int = 30_000_000

    @property
    def loans(self) -> int:
        return self.banks * self.rounds * self.loans_per_round


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


def _setup(urls: list[str], wallets: DemoWallets, cfg: Config, deployments: Path) -> dict[str, list[int]]:
    """Deploy through node 1, register the banks and their borrowers, set the USD rate.
    Wallet 0 is the regulator; wallet k the admin of institution k."""
    w3 = web3_for(urls[0], timeout=120)
    regulator = wallets.account(0)
    deploy(w3, regulator, regulator.address, deployments, PROJECT_ROOT, progress=lambda _m: None)
    client = XborderClient.load(w3, deployments)
    registry = client.registry.functions
    plan: list[tuple[int, str, int, str]] = []
    for b in range(cfg.banks):
        plan.append((BANK, uscc_with_check(f"9111000{b:02d}MA000000"), 10**14, f"Bench Bank {b + 1}"))
    for k in range(cfg.banks * cfg.borrowers_per_bank):
        plan.append((ENTERPRISE, uscc_with_check(f"9133{k:04d}MA5EX0000"), 10**13, f"Bench Borrower {k + 1}"))
    calls = [Call(client.registry.address, bytes.fromhex(registry.registerInstitution(
        kind, identifier_bytes(ident), b"CN", capital, name, wallets.address(i + 1))._encode_transaction_data()[2:]),
        0, 400_000) for i, (kind, ident, capital, name) in enumerate(plan)]
    calls.append(Call(client.policy.address, bytes.fromhex(client.policy.functions.setReferenceRates(
        [b"USD"], [USD_RATE])._encode_transaction_data()[2:]), 0, 400_000))
    receipts = send_all([(TxSender(w3, regulator), calls)], timeout=600)[0]
    check_receipts(w3, receipts)
    banks = list(range(1, cfg.banks + 1))
    borrowers = list(range(cfg.banks + 1, cfg.banks + 1 + cfg.banks * cfg.borrowers_per_bank))
    return {"banks": banks, "borrowers": borrowers, "head": [max(r.block_number for r in receipts)]}


def _wait_block(urls: list[str], block: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    for url in dict.fromkeys(urls):
        w3 = web3_for(url)
        while int(w3.eth.block_number) < block:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not reach block {block} within {timeout:.0f}s")
            time.sleep(0.1)


def run_chain(name: str, urls: list[str], wallets: DemoWallets, cfg: Config, workdir: Path,
              say: Callable[[str], None]) -> Run:
    """The workload on one chain whose node k is `urls[k]` (bank b submits to node b, the
    regulator indexes from the last node)."""
    deployments = workdir / "deployments"
    ids = _setup(urls, wallets, cfg, deployments)
    _wait_block(urls, ids["head"][0])
    run = Run(name, cfg.period, cfg.gas_limit, loans=cfg.loans)
    index_url = urls[-1]
    settings = Settings(project_root=PROJECT_ROOT, data_dir=workdir / "regulator", deployments_dir=deployments,
                        rpc_url=index_url)
    submitted: dict[str, float] = {}  # document hash (0x hex) -> submission time
    seen: dict[str, float] = {}
    gas: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    open_index(settings).close()  # create and migrate once, before two threads open it
    follower = threading.Thread(target=index_events, args=(settings,), daemon=True,
                                kwargs={"follow": True, "poll_interval": 0.1, "stop": stop, "batch_blocks": 500})
    follower.start()

    def watch() -> None:
        while not stop.is_set():
            try:
                with open_database(settings.index_url, migrate=False) as db:
                    now = time.perf_counter()
                    for (doc,) in db.query("SELECT document_hash FROM loans"):
                        seen.setdefault(str(doc), now)
            except Exception:  # the follower may still be creating the database
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def bank(b: int) -> None:
        url = urls[b % len(urls)]
        client = XborderClient.load(web3_for(url, timeout=120), deployments)
        recorder: LocalAccount = wallets.account(ids["banks"][b])
        mine = ids["borrowers"][b * cfg.borrowers_per_bank:(b + 1) * cfg.borrowers_per_bank]
        for r in range(cfg.rounds):
            items = []
            for k in range(cfg.loans_per_round):
                borrower = mine[k % len(mine)]
                doc = bytes(keccak(text=f"{name}-bank{b}-round{r}-loan{k}"))
                items.append(LoanItem.build(
                    borrower=borrower, creditor=ids["banks"][b], currency="USD", principal=100_000_00,
                    value_date=VALUE_DATE, maturity_date=MATURITY, financing_type=1, document=doc,
                    terms=LoanTerms(interest_rate="4.2"), recorder=recorder,
                    borrower_account=wallets.account(borrower), draw=100_000_00, ref=f"{b}-{r}-{k}"))
            batch = LoanBatch(client, items, gas_mode="fixed", fixed_gas=600_000, receipt_timeout=600)
            batch.preflight()
            t = time.perf_counter()
            with lock:
                for item in items:
                    submitted["0x" + item.request.document_hash.hex()] = t
            report = batch.submit()
            with lock:
                run.recorded += sum(1 for o in report.outcomes if o.status == RECORDED)
                gas.extend(o.gas_used for o in report.outcomes if o.status == RECORDED and o.gas_used)

    started = time.perf_counter()
    threads = [threading.Thread(target=bank, args=(b,)) for b in range(cfg.banks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 300
    while len(set(submitted) & set(seen)) < run.recorded and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = max((seen[d] for d in submitted if d in seen), default=time.perf_counter())
    stop.set()
    follower.join(30)
    watcher.join(5)
    run.seconds = finished - started
    run.latencies = sorted(seen[d] - t for d, t in submitted.items() if d in seen)
    run.gas_per_loan = statistics.fmean(gas) if gas else 0.0
    say(f"{name}: {run.recorded}/{run.loans} loans in {run.seconds:.1f}s")
    return run


@contextmanager
def _anvil(wallets: DemoWallets, cfg: Config, workdir: Path) -> Iterator[list[str]]:
    accounts = 1 + cfg.banks * (1 + cfg.borrowers_per_bank)
    with start_anvil(mnemonic=wallets.mnemonic, accounts=accounts, block_time=cfg.period, gas_limit=cfg.gas_limit,
                     balance_ether=1_000_000, log_path=workdir / "anvil.log") as node:
        yield [node.rpc_url] * cfg.nodes


@contextmanager
def _network(wallets: DemoWallets, cfg: Config, workdir: Path) -> Iterator[list[str]]:
    accounts = 1 + cfg.banks * (1 + cfg.borrowers_per_bank)
    root = workdir / "network"
    init_network(root, nodes=cfg.nodes, project_root=PROJECT_ROOT, period=cfg.period, gas_limit=cfg.gas_limit,
                 alloc={wallets.address(i): 10**24 for i in range(accounts)})
    with running_network(root, PROJECT_ROOT) as network:
        network.wait_synced(min_block=1)
        yield network.urls


def run(results: Results, *, quick: bool = False, say: Callable[[str], None] = print) -> list[Run]:
    cfg = Config(rounds=2 if quick else 5)
    wallets = DemoWallets()
    runs = []
    for name, chain in (("anvil", _anvil), (f"geth clique x{cfg.nodes}", _network)):
        workdir = Path(tempfile.mkdtemp(prefix="xborder-bench-net-"))
        say(f"{name}: {cfg.loans} co-signed loans from {cfg.banks} banks ({cfg.rounds} rounds of "
            f"{cfg.loans_per_round} each), block every {cfg.period}s, gas limit {cfg.gas_limit:,} ...")
        with chain(wallets, cfg, workdir) as urls:
            runs.append(run_chain(name, urls, wallets, cfg, workdir, say))
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
