"""The main job: the whole platform on a realistic workload, from an empty folder.

Start the embedded chain, deploy, create the regulator's wallet, onboard every institution, set
the FX reference rates, record the SAFE-2019-shaped workload from the institutions' own wallets
(co-signed one-transaction loans, loans confirmed later, drawdowns in tranches, repayments,
refusals for the limit and for reused documents, a tightening of the adjustment parameter
midway), index everything and report as the regulator sees it.

DEMO-ONLY wallets: apart from the regulator's keystore, the ~1,400 institutions sign with keys
derived from one seeded mnemonic (`xborder.wallets.demo`). An encrypted keystore costs ~0.7 s of
scrypt to write and again to read, so 1,400 of them would take half an hour; production wallets
keep the default scrypt strength.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from faster_eth_abi import encode as abi_encode

from xborder.bindings.client import XborderClient
from xborder.bindings.units import RATE_SCALE, format_amount, parse_rate
from xborder.chain import embedded
from xborder.chain.connect import connect
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.sender import SenderPool, rpc
from xborder.config import Settings
from xborder.domain.identifiers import identifier_bytes
from xborder.index import queries, reconcile
from xborder.index.service import index_events, open_index
from xborder.services import terms as terms_codec
from xborder.services.actions import DONE, FAILED, REFUSED, Action, ActionBatch
from xborder.services.confidential import TermsSealer
from xborder.services.deploy import deploy
from xborder.services.envelope import REGULATOR
from xborder.services.loan_import import ALREADY, RECORDED, LoanBatch, LoanItem
from xborder.services.workload import Workload, WorkloadLoan, generate
from xborder.wallets.demo import DemoWallets
from xborder.wallets.encryption import KeyRing, derive_key, public_bytes
from xborder.wallets.keystore import Keystore

log = logging.getLogger(__name__)

ADJUSTMENT_ENTERPRISE = 4  # Parameter enum (docs/contracts.md)
# Gas limits declared per kind of call: anvil fills a block by declared gas, so these sit just
# above the measured use (docs/contracts.md) rather than at a round "safe" figure.
GAS = {"register": 220_000, "rates": 400_000, "confirm": 80_000, "draw": 100_000,
       "repay": 100_000, "parameter": 120_000, "fund": 21_000, "key": 110_000}
#: The demo chain starts on 2 January 2019; the workload's loans have value dates Jan-Oct 2019.
DEMO_GENESIS = 1_546_387_200
#: Month index (0 = January 2019) in which the regulator tightens the enterprises' parameter.
TIGHTENING_MONTH = 6
#: Block gas limit of the demo chain: 0.2 s blocks of 300M gas hold ~1,900 co-signed loans each.
DEMO_GAS_LIMIT = 300_000_000
FUNDING_WEI = 10**18


class Reporter(Protocol):
    def phase(self, title: str, total: int) -> Callable[[int, int], None]: ...
    def say(self, message: str) -> None: ...


class _Quiet:
    def phase(self, title: str, total: int) -> Callable[[int, int], None]:
        log.info("%s (%d)", title, total)
        return lambda done, total: None

    def say(self, message: str) -> None:
        log.info("%s", message)


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 2019
    enterprises: int = 1262
    banks: int = 36
    foreign_branches: int = 6
    nbfis: int = 4
    creditors: int = 60
    loans: int = 6370
    total_usd: float = 6.8e9
    block_time: float = 0.2
    #: Create keystores (production scrypt) for the regulator and one bank and one enterprise, so
    #: the CLI can act as them afterwards. Tests turn it off.
    keystores: bool = True

    @classmethod
    def small(cls, seed: int = 7) -> DemoConfig:
        return cls(seed=seed, enterprises=40, banks=4, foreign_branches=1, nbfis=1, creditors=5,
                   loans=150, total_usd=1.5e8, keystores=False)


@dataclass
class DemoResult:
    rpc_url: str
    chain_id: int
    database: str
    institutions: int
    loans_attempted: int
    loans_recorded: int
    principal_usd: float
    by_currency: list[dict[str, Any]]
    refusals: dict[str, int]
    refusal_examples: dict[str, str]
    drawdowns: int
    repayments: int
    confirmations: int
    closed: int
    tightening: dict[str, Any]
    top_utilisation: list[dict[str, Any]]
    consistency_ok: bool
    consistency_borrowers: int
    chain_loan_count: int
    indexed_loan_count: int
    indexed_events: int
    timings: dict[str, float]
    confidential_terms: dict[str, int] = field(default_factory=dict)
    dashboard: str | None = None
    wallets: dict[str, str] = field(default_factory=dict)
    password_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rates_calldata(client: XborderClient, rates: dict[str, str]) -> bytes:
    codes = sorted(rates)
    call = client.policy.functions.setReferenceRates([c.encode() for c in codes],
                                                    [parse_rate(rates[c]) for c in codes])
    return bytes.fromhex(call._encode_transaction_data()[2:])


def _calldata(fn: Any) -> bytes:
    return bytes.fromhex(fn._encode_transaction_data()[2:])


def _ledger_call(signature: str, *args: int) -> bytes:
    """Calldata of a ledger call with integer arguments, without web3's slow contract encoder
    (it was a tenth of the demo's client time for ~15,000 drawdowns, repayments, confirmations)."""
    types = signature[signature.index("(") + 1:-1].split(",")
    return keccak(text=signature)[:4] + abi_encode(types, list(args))


def _terms(loan: WorkloadLoan) -> terms_codec.LoanTerms:
    return terms_codec.LoanTerms(
        interest_rate=str(Decimal(loan.interest_rate_bps) / 100), purpose=loan.purpose,
        external_ref=f"EXT-{loan.number:05d}", document_name=f"{loan.document}.pdf")


def _reset(settings: Settings, deployments: Path, chain_id: int) -> None:
    embedded.reset(settings)
    for path in (settings.data_dir / "index.db", settings.data_dir / "index.db-wal",
                 settings.data_dir / "index.db-shm", deployments / f"{chain_id}.json"):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.data_dir / "dashboard", ignore_errors=True)


def _demo_keystores(settings: Settings, wallets: DemoWallets, workload: Workload,
                    regulator_key: bytes) -> tuple[dict[str, str], Path]:
    """Keystores for the regulator, the first bank and the first enterprise, all under one
    DEMO password written next to them (mode 0600) — a demo convenience, never a practice."""
    keystore = Keystore(settings.keystores)
    password_file = settings.data_dir / "demo-password.txt"
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    password = "xborder-demo-" + keccak(text=f"demo-{workload.seed}").hex()[:12]
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    chosen = {"regulator": regulator_key,
              "demo-bank": wallets.private_key(workload.bank_indices[0]),
              "demo-enterprise": wallets.private_key(workload.enterprise_indices[0])}
    addresses = {}
    for name, key in chosen.items():
        if keystore.exists(name):
            keystore.delete(name)
        info = keystore.import_key(name, key, password)
        addresses[name] = str(info.address)
    return addresses, password_file


@dataclass
class _Router:
    """The multi-node seam: each institution's transactions go through its own node (`node_of`:
    institution index -> RPC URL); everything else (funding, the regulator) through `client`'s."""

    client: XborderClient
    pool: SenderPool
    node_of: Callable[[int], str] | None
    url_of: dict[str, str] = field(default_factory=dict)  # wallet address -> URL
    _at: dict[str, tuple[XborderClient, SenderPool]] = field(default_factory=dict)
    _head: int = 0  # the highest block a batch of this run has landed in

    def _ready(self, client: XborderClient) -> None:
        """Read-your-writes across nodes: wait until this node holds the blocks the previous batch
        (sent through another node) landed in, so its dry runs and nonces see them."""
        target = max(self._head, int(self.client.w3.eth.block_number))  # (the regulator's batches too)
        deadline = time.monotonic() + 120
        while int(client.w3.eth.block_number) < target and time.monotonic() < deadline:
            time.sleep(0.1)

    def _landed(self, client: XborderClient) -> None:
        self._head = max(self._head, int(client.w3.eth.block_number))

    def at(self, url: str | None) -> tuple[XborderClient, SenderPool]:
        if url is None:
            return self.client, self.pool
        if url not in self._at:
            client = XborderClient.load(connect(url, timeout=120), self.client.deployments_dir)
            client.remember_names({k: v.split(" (#")[0] for k, v in self.client._names.items()})
            self._at[url] = (client, SenderPool(client.w3))
        return self._at[url]

    def groups(self, addresses: list[str]) -> list[tuple[str | None, list[int]]]:
        """Positions of `addresses` grouped by node, in first-seen order."""
        out: dict[str | None, list[int]] = {}
        for i, address in enumerate(addresses):
            out.setdefault(self.url_of.get(address), []).append(i)
        return list(out.items())

    def actions(self, actions: list[Action], progress: Callable[[int, int], None] | None = None) -> None:
        for url, positions in self.groups([a.account.address for a in actions]):
            client, pool = self.at(url)
            self._ready(client)
            ActionBatch(client, [actions[i] for i in positions], pool=pool).run()
            self._landed(client)
        if progress:
            progress(len(actions), len(actions))

    def loans(self, items: list[LoanItem], progress: Callable[[int, int], None]) -> list[Any]:
        outcomes: list[Any] = [None] * len(items)
        done = 0
        for url, positions in self.groups([item.recorder.address for item in items]):
            client, pool = self.at(url)
            self._ready(client)
            batch = LoanBatch(client, [items[i] for i in positions], gas_mode="sample", max_in_flight=4000, pool=pool)
            batch.preflight()
            def advance(n: int, _total: int, base: int = done) -> None:
                progress(base + n, len(items))

            report = batch.submit(advance)
            self._landed(client)
            for i, outcome in zip(positions, report.outcomes, strict=True):
                outcomes[i] = outcome
            done += len(positions)
        return outcomes


def run_demo(settings: Settings, config: DemoConfig = DemoConfig(),
             reporter: Reporter | None = None, node_of: Callable[[int], str] | None = None) -> DemoResult:
    """`node_of` (institution index -> RPC URL): run on a multi-node network, each institution
    submitting through its own node; `settings.rpc_url` is then the regulator's node (it deploys,
    onboards and indexes there). Chain time cannot be moved on such a network: the 2019 calendar
    is then compressed into the present."""
    say = reporter or _Quiet()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    workload = generate(seed=config.seed, enterprises=config.enterprises, banks=config.banks,
                        foreign_branches=config.foreign_branches, nbfis=config.nbfis,
                        creditors=config.creditors, loans=config.loans, total_usd=config.total_usd)
    wallets = DemoWallets.from_seed(f"xborder-demo-{config.seed}")
    deployments = settings.deployments

    # -- chain -------------------------------------------------------------------------------
    if settings.rpc_url:
        rpc_url = settings.rpc_url
    else:
        _reset(settings, deployments, embedded.EMBEDDED_CHAIN_ID)
        status = embedded.start(settings, block_time=config.block_time, gas_limit=DEMO_GAS_LIMIT,
                                genesis_timestamp=DEMO_GENESIS)
        assert status.rpc_url is not None
        rpc_url = status.rpc_url
    w3 = connect(rpc_url, settings.chain_id, timeout=120)
    settings = replace(settings, rpc_url=rpc_url)
    say.say(f"chain {w3.eth.chain_id} at {rpc_url}")
    pool = SenderPool(w3)  # every batch of the run shares the wallets' senders and nonces
    Account.enable_unaudited_hdwallet_features()
    dev = Account.from_mnemonic(DEV_MNEMONIC)
    regulator: LocalAccount = Account.from_key(keccak(text=f"xborder-demo-regulator-{config.seed}"))
    lap("chain")
    if node_of is not None:
        say.say("multi-node network: each institution submits through its own node; the regulator deploys, "
                "onboards and indexes through " + rpc_url)

    # -- wallets -----------------------------------------------------------------------------
    addresses: dict[str, str] = {}
    password_file: Path | None = None
    if config.keystores:
        addresses, password_file = _demo_keystores(settings, wallets, workload, bytes(regulator.key))
        say.say(f"keystores for regulator, demo-bank, demo-enterprise in {settings.keystores} "
                f"(DEMO password in {password_file})")
    lap("keystores")

    # -- deploy ------------------------------------------------------------------------------
    deploy(w3, dev, regulator.address, deployments, settings.project_root, progress=say.say)
    client = XborderClient.load(w3, deployments)
    client.remember_names({inst.institution_id: inst.name for inst in workload.institutions})
    router = _Router(client, pool, node_of, {wallets.address(inst.index): node_of(inst.index)
                                             for inst in workload.institutions} if node_of else {})
    lap("deploy")

    # -- fund: the regulator and every wallet that sends transactions -------------------------
    # Every institution sends at least one transaction: registering its encryption key.
    senders = {inst.index for inst in workload.institutions}
    fund = [Action(dev, regulator.address, b"", GAS["fund"], "fund regulator", value=10 * FUNDING_WEI)]
    fund += [Action(dev, wallets.address(i), b"", GAS["fund"], f"fund {i}", value=FUNDING_WEI)
             for i in sorted(senders)]
    ActionBatch(client, fund, pool=pool).run(say.phase("funding wallets", len(fund)))
    lap("fund")

    # -- onboard -----------------------------------------------------------------------------
    registry = client.registry.functions
    register = [Action(regulator, client.registry.address, _calldata(registry.registerInstitution(
        inst.kind, identifier_bytes(inst.identifier), inst.jurisdiction.encode(), inst.capital_base,
        inst.name, wallets.address(inst.index))), GAS["register"], inst.name)
        for inst in workload.institutions]
    ActionBatch(client, register, pool=pool).run(say.phase("onboarding institutions", len(register)))
    onboarded = sum(1 for a in register if a.status == DONE)
    lap("onboard")

    # -- encryption keys: each institution registers its X25519 key from its admin wallet; the
    # regulator registers its own (id 0). DEMO-ONLY: derived from the wallet keys.
    regulator_key = derive_key(bytes(regulator.key), REGULATOR, 1)
    ring = KeyRing()  # the regulator's indexer: its own key opens every envelope
    ring.add(REGULATOR, 1, regulator_key)
    key_actions = [Action(regulator, client.registry.address, _calldata(registry.setEncryptionKey(
        REGULATOR, public_bytes(regulator_key))), GAS["key"], "regulator key")]
    key_actions += [Action(wallets.account(inst.index), client.registry.address, _calldata(registry.setEncryptionKey(
        inst.institution_id, public_bytes(derive_key(wallets.private_key(inst.index), inst.institution_id, 1)))),
        GAS["key"], f"key {inst.institution_id}") for inst in workload.institutions]
    router.actions(key_actions, say.phase("registering encryption keys", len(key_actions)))
    keys_registered = sum(1 for a in key_actions if a.status == DONE)
    sealer = TermsSealer(client)
    assert sealer.keys is not None
    sealer.keys.prefetch([REGULATOR] + [inst.institution_id for inst in workload.institutions])
    lap("keys")

    # -- policy: today's parameters are the constructor defaults (1.75 ...); publish FX rates --
    rates = Action(regulator, client.policy.address, _rates_calldata(client, workload.rates), GAS["rates"],
                   "reference rates")
    ActionBatch(client, [rates], pool=pool).run()
    lap("policy")

    # -- loans -------------------------------------------------------------------------------
    accounts = {i: wallets.account(i) for i in senders}
    refusals: Counter[str] = Counter()
    examples: dict[str, str] = {}
    counters: Counter[str] = Counter()
    loan_ids: dict[int, int] = {}

    def note_refusal(reason: str, message: str) -> None:
        refusals[reason] += 1
        examples.setdefault(reason, message)

    # The workload runs on a calendar: the chain starts on 2 January 2019 (DEMO_GENESIS) and the
    # demo moves chain time to each month in turn. In month m the banks record the loans whose
    # value date falls in m (borrowers confirm those they did not co-sign); a loan's k-th later
    # tranche (drawdown or repayment) follows in month m + 1 + k. The regulator tightens in
    # TIGHTENING_MONTH. So the index shows volumes over time as the platform saw them in 2019.
    def month_of(ts: int) -> int:
        day = dt.datetime.fromtimestamp(ts, dt.UTC)
        return (day.year - 2019) * 12 + day.month - 1

    def month_start(m: int) -> int:
        return int(dt.datetime(2019 + m // 12, m % 12 + 1, 2, tzinfo=dt.UTC).timestamp())

    by_month: dict[int, list[WorkloadLoan]] = {}
    for loan in workload.loans:
        by_month.setdefault(month_of(loan.value_date), []).append(loan)
    last_month = max(by_month) + max((len(ln.later) for ln in workload.loans), default=0)
    total_tranches = sum(len(ln.later) for ln in workload.loans)
    record_bar = say.phase("recording loans (month by month, Jan-Oct 2019)", len(workload.loans))
    total_confirms = sum(1 for ln in workload.loans if not ln.co_signed)
    confirm_bar = say.phase("borrowers confirming loans they did not co-sign", total_confirms)
    tranche_bar = say.phase("drawdowns and repayments in later months", total_tranches)
    recorded_so_far = confirmed_so_far = tranches_so_far = 0
    live: set[int] = set()  # loans confirmed and not stopped by a refused drawdown
    scheduled: dict[int, list[tuple[WorkloadLoan, int]]] = {}
    old = int(client.policy.functions.parameter(ADJUSTMENT_ENTERPRISE).call())
    before: dict[str, int] = {}

    for month in range(min(by_month), last_month + 1):
        now = int(rpc(w3, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        if month_start(month) > now and node_of is None:
            rpc(w3, "evm_increaseTime", [month_start(month) - now])
            # Mine the jump now: consents are signed for chain time + 1 h, read from the latest block;
            # left to the next interval block, the jump could land after they were signed (expired).
            rpc(w3, "evm_mine", [])
        if month == TIGHTENING_MONTH:
            tighten = Action(regulator, client.policy.address, _calldata(client.policy.functions.setParameter(
                ADJUSTMENT_ENTERPRISE, workload.tightened_adjustment_bps)), GAS["parameter"], "tighten")
            ActionBatch(client, [tighten], pool=pool).run()
            say.say(f"{dt.datetime.fromtimestamp(month_start(month), dt.UTC):%B %Y}: the regulator lowers the "
                    f"enterprises' adjustment parameter {old / 10_000:g} -> "
                    f"{workload.tightened_adjustment_bps / 10_000:g}; existing loans run on, new drawdowns are "
                    "checked against the lower limit")
            before = dict(refusals)

        batch = by_month.get(month, [])
        if batch:
            items = [LoanItem.build(
                borrower=loan.borrower + 1, creditor=loan.creditor + 1, currency=loan.currency,
                principal=loan.principal, value_date=loan.value_date, maturity_date=loan.maturity_date,
                financing_type=loan.financing_type, document=keccak(text=loan.document),
                terms=_terms(loan), recorder=accounts[loan.recorder],
                borrower_account=accounts[loan.borrower] if loan.co_signed else None,
                draw=loan.first_draw if loan.co_signed else 0, ref=f"loan {loan.number}", sealer=sealer)
                for loan in batch]
            base = recorded_so_far
            def advance(done: int, _total: int, base: int = base) -> None:
                record_bar(base + done, len(workload.loans))

            outcomes = router.loans(items, advance)
            recorded_so_far += len(batch)
            record_bar(recorded_so_far, len(workload.loans))
            for loan, outcome in zip(batch, outcomes, strict=True):
                if outcome.status in (RECORDED, ALREADY) and outcome.loan_id is not None:
                    loan_ids[loan.number] = outcome.loan_id
                    counters["recorded"] += 1
                    if loan.co_signed:
                        live.add(loan.number)
                        counters["drawdowns"] += 1 if loan.first_draw else 0
                else:
                    # LoanBatch outcomes: `error` is the contract error's name, `reason` the sentence.
                    note_refusal(outcome.error or outcome.status, outcome.reason or outcome.status)
            confirms = [Action(accounts[ln.borrower], client.ledger.address,
                               _ledger_call("confirmLoan(uint64)", loan_ids[ln.number]), GAS["confirm"],
                               f"confirm {ln.number}") for ln in batch if not ln.co_signed and ln.number in loan_ids]
            router.actions(confirms)
            confirmed_so_far += sum(1 for ln in batch if not ln.co_signed)
            confirm_bar(confirmed_so_far, total_confirms)
            counters["confirmations"] += sum(1 for a in confirms if a.status == DONE)
            live |= {int(a.label.split()[1]) for a in confirms if a.status == DONE}
            for ln in batch:
                for k in range(len(ln.later)):
                    scheduled.setdefault(month + 1 + k, []).append((ln, k))

        due = scheduled.pop(month, [])
        actions = []
        for ln, k in due:
            if ln.number not in live:
                continue
            tranche = ln.later[k]
            signature = "drawdown(uint64,uint64)" if tranche.kind == "draw" else "repay(uint64,uint64)"
            actions.append(Action(accounts[ln.recorder], client.ledger.address,
                                  _ledger_call(signature, loan_ids[ln.number], tranche.amount),
                                  GAS[tranche.kind], f"{tranche.kind} {ln.number}"))
        if actions:
            router.actions(actions)
        tranches_so_far += len(due)
        tranche_bar(tranches_so_far, total_tranches)
        for a in actions:
            kind = a.label.split()[0]
            if a.status == DONE:
                counters["drawdowns" if kind == "draw" else "repayments"] += 1
            elif a.status in (REFUSED, FAILED):
                note_refusal(a.reason, a.error)
                if kind == "draw":  # a refused tranche stops that loan's later tranches
                    live.discard(int(a.label.split()[1]))
    tranche_bar(total_tranches, total_tranches)
    confirm_bar(confirmed_so_far, total_confirms)
    after_tightening = {k: v - before.get(k, 0) for k, v in refusals.items() if v - before.get(k, 0)}
    lap("loans")

    # -- index -------------------------------------------------------------------------------
    progress = say.phase("indexing events", 1)
    stats = index_events(settings, w3=w3, decryption_keys=ring)
    progress(1, 1)
    lap("index")

    # -- report ------------------------------------------------------------------------------
    db = open_index(settings)
    try:
        listing = queries.totals(db, "currency")
        rates_scaled = {c: parse_rate(r) for c, r in workload.rates.items()} | {"CNY": RATE_SCALE}
        by_currency = []
        total_cny = 0
        for row in listing.dicts():
            currency = str(row["currency"])
            principal = int(row.get("principal", 0) or 0)
            cny = principal * rates_scaled.get(currency, RATE_SCALE) // RATE_SCALE
            total_cny += cny
            by_currency.append({"currency": currency, "loans": int(row.get("loans", 0) or 0),
                                "principal": principal, "principal_cny": cny})
        usd_rate = rates_scaled["USD"]
        count_row = db.query_one("SELECT COUNT(*) FROM loans")
        indexed_loans = int(count_row[0]) if count_row else 0
        exposures = []
        for borrower in queries.borrowers(db):
            e = queries.borrower_exposure(db, borrower)
            if e.limit:
                exposures.append(e)
        exposures.sort(key=lambda e: (e.utilisation or 0), reverse=True)
        top = [{"borrower": e.borrower, "name": e.name,
                "risk_weighted_balance": e.risk_weighted_balance, "limit": e.limit,
                "headroom": e.headroom, "utilisation": round(float(e.utilisation or 0), 4)}
               for e in exposures[:10]]
        terms_row = db.query_one("SELECT COUNT(*), SUM(CASE WHEN readable = 1 AND commitment_ok = 1 THEN 1 ELSE 0 END), "
                                 "SUM(CASE WHEN commitment_ok = 0 THEN 1 ELSE 0 END) FROM loan_terms")
        terms_seen = {"envelopes": int(terms_row[0] or 0), "opened_and_verified": int(terms_row[1] or 0),
                      "flagged": int(terms_row[2] or 0)} if terms_row else {}
        # On a network the index (from the regulator's node) is checked against another node.
        check_w3 = router.at(node_of(0))[0].w3 if node_of else w3
        consistency = reconcile.consistency_report(db, check_w3)
        dashboard = None
        try:
            from xborder.api.snapshot import write_snapshot
            dashboard = str(write_snapshot(db, settings.data_dir / "dashboard"))
        except ImportError:  # the API extra is part of the default install; keep the demo going
            log.warning("dashboard snapshot unavailable")
    finally:
        db.close()
    chain_loans = _chain_loan_count(client, workload)
    lap("report")

    return DemoResult(
        rpc_url=rpc_url, chain_id=w3.eth.chain_id, database=settings.index_url,
        institutions=onboarded, loans_attempted=len(workload.loans), loans_recorded=counters["recorded"],
        principal_usd=round(total_cny / usd_rate * RATE_SCALE / 100, 2) if usd_rate else 0.0,
        by_currency=by_currency, refusals=dict(refusals), refusal_examples=examples,
        drawdowns=counters["drawdowns"], repayments=counters["repayments"],
        confirmations=counters["confirmations"], closed=_closed(client, loan_ids),
        tightening={"parameter": "adjustment-enterprise", "old": old / 10_000,
                    "new": workload.tightened_adjustment_bps / 10_000, "refusals_after": after_tightening},
        top_utilisation=top, consistency_ok=consistency.ok, consistency_borrowers=consistency.checked,
        chain_loan_count=chain_loans, indexed_loan_count=indexed_loans, indexed_events=stats.events,
        timings=timings, dashboard=dashboard, wallets=addresses,
        confidential_terms={"keys_registered": keys_registered, **terms_seen},
        password_file=str(password_file) if password_file else None)


def _chain_loan_count(client: XborderClient, workload: Workload) -> int:
    """Loans the chain itself counts (Σ borrowerPosition.loanCount), for the cross-check."""
    from xborder.chain.sender import rpc_batch
    borrowers = sorted({ln.borrower + 1 for ln in workload.loans})
    calls = [("eth_call", [{"to": client.ledger.address,
                            "data": client.ledger.functions.borrowerPosition(b)._encode_transaction_data()},
                           "latest"]) for b in borrowers]
    total = 0
    for response in rpc_batch(client.w3, calls):
        raw = bytes.fromhex(str(response["result"])[2:])
        total += int.from_bytes(raw[32:64], "big")
    return total


def _closed(client: XborderClient, loan_ids: dict[int, int]) -> int:
    from xborder.chain.sender import rpc_batch
    calls = [("eth_call", [{"to": client.ledger.address,
                            "data": client.ledger.functions.getLoan(i)._encode_transaction_data()}, "latest"])
             for i in loan_ids.values()]
    closed = 0
    for response in rpc_batch(client.w3, calls):
        raw = bytes.fromhex(str(response["result"])[2:])
        if int.from_bytes(raw[5 * 32:6 * 32], "big") == 3:  # LoanStatus.Closed
            closed += 1
    return closed


REFUSAL_LABELS = {
    "BorrowingLimitExceeded": "would exceed the borrower's macro-prudential limit",
    "DocumentAlreadyBacksLoan": "document already backs a live loan on the chain",
    "DuplicateInBatch": "document backs another loan of the same batch",
}


def write_report(result: DemoResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2, default=str))
    tmp.replace(path)
    return path


def summary_lines(result: DemoResult) -> list[str]:
    """The regulator's report, as printed by `xborder demo`."""
    lines = [
        f"institutions onboarded: {result.institutions:,}",
        f"loans recorded: {result.loans_recorded:,} of {result.loans_attempted:,} submitted "
        f"(principal ≈ USD {result.principal_usd:,.0f})",
        f"drawdowns: {result.drawdowns:,}   repayments: {result.repayments:,}   "
        f"borrower confirmations: {result.confirmations:,}   loans closed: {result.closed:,}",
    ]
    for row in result.by_currency:
        lines.append(f"  {row['currency']}: {row['loans']:,} loans, {format_amount(row['principal'], row['currency'])}"
                     f" (≈ {format_amount(row['principal_cny'], 'CNY')})")
    lines.append("refusals by reason (decoded from the contracts' errors; nothing refused was sent):")
    for reason, count in sorted(result.refusals.items(), key=lambda kv: -kv[1]):
        label = REFUSAL_LABELS.get(reason, reason)
        lines.append(f"  {label}: {count:,}")
        lines.append(f"      e.g. {result.refusal_examples.get(reason, '')}")
    after = result.tightening.get("refusals_after", {})
    lines.append(f"midway the regulator lowered the enterprises' adjustment parameter {result.tightening['old']:g} -> "
                 f"{result.tightening['new']:g}; limit refusals after it: {after.get('BorrowingLimitExceeded', 0):,}")
    lines.append("ten borrowers closest to their limits (above 100%: loans from before the tightening run to "
                 "maturity; their new drawdowns are refused):")
    for row in result.top_utilisation:
        lines.append(f"  {row['name']}: {row['utilisation']:.1%} — "
                     f"{format_amount(row['risk_weighted_balance'], 'CNY')} of {format_amount(row['limit'], 'CNY')}")
    ct = result.confidential_terms
    if ct:
        lines.append(f"confidential terms: {ct.get('keys_registered', 0):,} encryption keys registered; "
                     f"{ct.get('envelopes', 0):,} envelopes on chain (terms encrypted for borrower, creditor side and "
                     f"regulator), {ct.get('opened_and_verified', 0):,} opened by the regulator's indexer and matched "
                     f"their commitments, {ct.get('flagged', 0):,} flagged")
    lines.append(f"index: {result.indexed_events:,} events, {result.indexed_loan_count:,} loans "
                 f"(chain counts {result.chain_loan_count:,}); consistency check "
                 f"{'passed' if result.consistency_ok else 'FAILED'} for {result.consistency_borrowers:,} borrowers")
    return lines


def today() -> str:
    return dt.date.today().isoformat()
