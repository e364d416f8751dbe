"""The benchmark chain: a local anvil (never port 8545) with the contracts deployed, the policy's
reference rates set and many institutions registered, each with its own DEMO-ONLY wallet.

The chain is mined on demand (`PoolMiner` over an anvil started with `ON_DEMAND`): a block as soon
as the waiting transactions have settled, or once the oldest has waited `block_time`, never an
empty one. Mined on a `--block-time 0.2` interval instead (`interval=True`, the bench before
issue #13), anvil keeps ~1,500 full past states and ignores `--prune-history`: 16.6 GB during the
ingest section, enough to take a `make test` running beside it down.

Wallet k of `DemoWallets` is the admin of institution k (ids count from 1; wallet 0 is the
regulator, who deploys and registers). anvil funds the first N demo wallets at genesis.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from eth_account.signers.local import LocalAccount
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.bindings.batch import Outcome, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import ledger_call, selector, sign_wallet_proof
from xborder.chain.launcher import LocalNode, start_anvil
from xborder.chain.miner import ON_DEMAND, PoolMiner
from xborder.config import PROJECT_ROOT
from xborder.domain.identifiers import USCC_CHARSET, identifier_bytes, lei_check_digits, uscc_check_char
from xborder.services.deploy import deploy
from xborder.services.workload import REFERENCE_RATES
from xborder.wallets.demo import DemoWallets

BANK, ENTERPRISE, CREDITOR = 0, 3, 4
_REGISTER_TYPES = ["uint8", "bytes20", "bytes2", "uint64", "string", "address", "(uint64,bytes)"]
_REGISTER = selector(f"registerInstitution({','.join(_REGISTER_TYPES)})")
CREDITOR_COUNTRIES = ["HK", "SG", "US", "GB", "DE", "JP", "FR", "KY"]


@dataclass(frozen=True)
class Party:
    institution_id: int
    account: LocalAccount
    kind: int
    capital_base: int


@dataclass
class World:
    node: LocalNode
    w3: Web3
    client: XborderClient
    demo: DemoWallets
    regulator: LocalAccount
    banks: list[Party]
    creditors: list[Party]
    borrowers: list[Party]
    registration_receipts: dict[int, Outcome] = field(default_factory=dict)  # kind -> one landed registration
    workdir: Path = Path(".")
    home_bank: dict[int, Party] = field(default_factory=dict)  # borrower id -> bank
    #: Chain time when the world was built: the bench's value dates count from it (v2 date windows).
    start: int = 0
    #: What mines the chain on demand (None: anvil automines, or mines on an interval).
    miner: PoolMiner | None = None
    #: How the chain is mined, in words (for the printed figures).
    mining: str = ""

    @property
    def ledger(self) -> str:
        return str(self.client.ledger.address)

    def close(self) -> None:
        try:
            if self.miner is not None:
                self.miner.stop()
        finally:
            self.node.stop()


def _lei(rng: random.Random) -> str:
    body = "300300" + "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(12))
    return body + lei_check_digits(body)


def _uscc(rng: random.Random) -> str:
    body = "91" + f"{rng.randrange(110000, 659999):06d}" + "".join(rng.choice(USCC_CHARSET[:-1]) for _ in range(9))
    return body + uscc_check_char(body)


#: One institution to register: kind, identifier (LEI / USCC), jurisdiction, capital base, name.
Planned = tuple[int, str, str, int, str]


def institution_plan(rng: random.Random, *, banks: int, creditors: int, borrowers: int) -> list[Planned]:
    """The bench's institutions in registration order (ids from 1): `banks` domestic banks, `creditors`
    overseas creditors, `borrowers` enterprises, identifiers and capital bases drawn from `rng`."""
    plan: list[Planned] = []
    for i in range(banks):
        plan.append((BANK, _lei(rng), "CN", rng.randrange(2 * 10**10, 2 * 10**12) * 100, f"Bench Bank {i + 1}"))
    for i in range(creditors):
        plan.append((CREDITOR, _lei(rng), CREDITOR_COUNTRIES[i % len(CREDITOR_COUNTRIES)], 0,
                     f"Bench Overseas Lender {i + 1}"))
    for i in range(borrowers):
        # capital bases large enough that the limit check passes for the bench's loans
        plan.append((ENTERPRISE, _uscc(rng), "CN", rng.randrange(10**9, 5 * 10**9) * 100,
                     f"Bench Enterprise {i + 1:05d}"))
    return plan


def setup_calls(client: XborderClient, regulator: LocalAccount, demo: DemoWallets, plan: Sequence[Planned],
                start: int) -> list[Tx]:
    """The regulator's setup transactions: the policy's reference rates, then one registration per
    `plan` entry, institution k + 1 administered by demo wallet k + 1. v2: every admin wallet proves
    it agrees to be bound (its WalletBinding signature; fresh wallets: nonce 0), valid for an hour
    from chain time `start`."""
    registry = str(client.registry.address)
    calls = []
    for k, (kind, ident, country, capital, name) in enumerate(plan):
        proof = sign_wallet_proof(demo.account(k + 1), identifier_bytes(ident), nonce=0, deadline=start + 3600,
                                  chain_id=client.chain_id, registry=registry, separator=client.registry_separator)
        calls.append(Tx(regulator, registry, _REGISTER + abi_encode(_REGISTER_TYPES, [
            kind, identifier_bytes(ident), country.encode(), capital, name, demo.address(k + 1), proof.as_abi()]),
            400_000, label=name))
    rates = {c: int(float(r) * 10**8) for c, r in REFERENCE_RATES.items()}
    rate_call = client.tx(regulator, client.policy.functions.setReferenceRates(
        [c.encode() for c in rates], list(rates.values())), "rates", gas=1_000_000)
    return [rate_call, *calls]


def parties_of(demo: DemoWallets, plan: Sequence[Planned]) -> list[Party]:
    """The registered `plan` as parties (institution k + 1 is demo wallet k + 1)."""
    return [Party(k + 1, demo.account(k + 1), kind, capital) for k, (kind, _i, _c, capital, _n) in enumerate(plan)]


def appoint_agents(client: XborderClient, creditors: Sequence[Party], banks: Sequence[Party]) -> None:
    """Every creditor appoints every bank as its agent: the banks record, co-sign and service the
    loans as the lender side (v2: a bank that is not the creditor's agent has no rights on its loans)."""
    ledger = str(client.ledger.address)
    txs = [Tx(c.account, ledger, ledger_call("appointAgent(uint32)", b.institution_id), 100_000,
              label=f"{c.institution_id} appoints {b.institution_id}") for c in creditors for b in banks]
    failed = client.batch(txs, receipt_timeout=600).submit()
    if failed:
        raise RuntimeError(f"bench setup: {failed[0].label}: {failed[0].reason}")


def mining_words(block_time: float | None, interval: bool = False) -> str:
    """How `build_world(block_time=..., interval=...)` mines its chain, in a few words."""
    if block_time is None:
        return "automine"
    if interval:
        return f"{block_time:g} s interval blocks"
    return f"mined on demand, within {block_time:g} s"


def build_world(*, banks: int, creditors: int, borrowers: int, block_time: float | None = 0.2,
                interval: bool = False, gas_limit: int = 30_000_000, base_fee: int | None = None, seed: int = 7,
                workdir: Path | None = None) -> World:
    """Start anvil, deploy, set rates, register `banks + creditors + borrowers` institutions.
    `block_time`: None, anvil automines (a block per transaction, on arrival); else the chain is
    mined on demand, a waiting transaction within about `block_time` seconds (see the module), or
    with `interval`, by anvil every `block_time` seconds (memory unbounded)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="xborder-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    demo = DemoWallets()
    total = 1 + banks + creditors + borrowers
    on_demand = block_time is not None and not interval
    launch = partial(start_anvil, mnemonic=demo.mnemonic, accounts=total, gas_limit=gas_limit, base_fee=base_fee,
                     balance_ether=1_000_000, log_path=workdir / "anvil.log")
    node = launch(**ON_DEMAND) if on_demand else launch(block_time=block_time)
    miner = PoolMiner(node.rpc_url, max_wait=block_time).start() if on_demand and block_time is not None else None
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
        regulator = demo.account(0)
        deployments = workdir / "deployments"
        deploy(w3, regulator, regulator.address, deployments, PROJECT_ROOT, progress=lambda _m: None)
        client = XborderClient.load(w3, deployments)
        if miner is not None:
            assert client.pool is not None
            miner.feed(client.pool)
        rng = random.Random(seed)
        plan = institution_plan(rng, banks=banks, creditors=creditors, borrowers=borrowers)
        start = int(w3.eth.get_block("latest")["timestamp"])
        batch = client.batch(setup_calls(client, regulator, demo, plan, start), receipt_timeout=600)
        failed = batch.submit()
        if failed:
            raise RuntimeError(f"bench setup: {failed[0].label}: {failed[0].reason}")
        receipts = batch.outcomes
        parties = parties_of(demo, plan)
        world = World(node, w3, client, demo, regulator,
                      banks=[p for p in parties if p.kind == BANK],
                      creditors=[p for p in parties if p.kind == CREDITOR],
                      borrowers=[p for p in parties if p.kind == ENTERPRISE], workdir=workdir, miner=miner,
                      mining=mining_words(block_time, interval))
        for (kind, *_rest), receipt in zip(plan, receipts[1:], strict=True):
            world.registration_receipts.setdefault(kind, receipt)
        for b in world.borrowers:
            world.home_bank[b.institution_id] = world.banks[rng.randrange(len(world.banks))]
        world.start = start
        appoint_agents(client, world.creditors, world.banks)
        return world
    except BaseException:
        if miner is not None:
            miner.stop()
        node.stop()
        raise
