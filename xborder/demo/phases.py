"""The demo's phases, each a few calls to the services (or the index, or the dashboard writer).

DEMO-ONLY wallets: apart from the regulator's keystore, the ~1,400 institutions sign with keys
derived from one seeded mnemonic (`xborder.wallets.demo`). An encrypted keystore costs ~0.7 s of
scrypt to write and again to read, so 1,400 of them would take half an hour; production wallets
keep the default scrypt strength.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.bindings.batch import DONE, Batch, Tx
from xborder.bindings.client import XborderClient
from xborder.bindings.consent import ledger_call, selector, sign_wallet_proof
from xborder.chain import embedded
from xborder.chain.connect import connect
from xborder.config import Settings
from xborder.demo.network import NodeRouter
from xborder.domain.enums import REGULATOR_KEY_ID, InstitutionKind, LoanStatus
from xborder.domain.identifiers import identifier_bytes
from xborder.domain.loans import Loan, Position
from xborder.domain.money import parse_rate
from xborder.errors import TransactionRejected
from xborder.services import onboarding
from xborder.services.confidential import TermsSealer
from xborder.services.deploy import deploy
from xborder.services.funding import dev_funder, fund
from xborder.services.replay import Bars, OneNode, PolicyStep, Route, Tally, WorkloadPlayer
from xborder.services.roster import Entry
from xborder.services.workload import Workload
from xborder.wallets.demo import DemoWallets
from xborder.wallets.encryption import KeyRing, derive_key, public_bytes
from xborder.wallets.keystore import Keystore

log = logging.getLogger(__name__)

#: The demo chain starts on 2 January 2019; the workload's loans have value dates Jan-Oct 2019.
DEMO_GENESIS = 1_546_387_200
#: Block gas limit of the demo chain: 0.2 s blocks of 300M gas hold ~1,900 co-signed loans each.
DEMO_GAS_LIMIT = 300_000_000
FUNDING_WEI = 10**18
KEY_GAS = 110_000
#: appointAgent: a fresh agent slot and its event (~50,000 measured).
AGENT_GAS = 80_000
REGISTER = ("registerInstitution", ("uint8", "bytes20", "bytes2", "uint64", "string", "address", "(uint64,bytes)"))
SET_KEY = ("setEncryptionKey", ("uint32", "bytes32"))
REGISTERED_TOPIC = "0x" + keccak(b"InstitutionRegistered(uint32,address,uint8,bytes20,bytes2,uint64,string)").hex()
RATES_GAS = 400_000


class Reporter(Protocol):
    def phase(self, title: str, total: int) -> Callable[[int, int], None]: ...
    def say(self, message: str) -> None: ...


class Quiet:
    def phase(self, title: str, total: int) -> Callable[[int, int], None]:
        log.info("%s (%d)", title, total)
        return lambda done, total: None

    def say(self, message: str) -> None:
        log.info("%s", message)


@dataclass
class Run:
    """What the phases share."""

    settings: Settings
    workload: Workload
    wallets: DemoWallets
    reporter: Reporter
    regulator: LocalAccount
    rpc_url: str = ""
    w3: Web3 | None = None
    client_: XborderClient | None = None
    ring: KeyRing = field(default_factory=KeyRing)
    sealer: TermsSealer | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    #: On a multi-node network: institution index -> its own node's RPC URL (`xborder.demo.network`).
    node_of: Callable[[int], str] | None = None
    router: NodeRouter | None = None
    #: The calendar year the workload's months count from (2019; the present on a network).
    base_year: int = 2019
    #: The demo started the embedded chain (not a node of --rpc-url or a network).
    embedded: bool = False

    @property
    def client(self) -> XborderClient:
        assert self.client_ is not None, "deploy first"
        return self.client_

    @property
    def route(self) -> Route:
        """Where the institutions' batches go: their own nodes on a network, else the one node."""
        return self.router or OneNode(self.client)

    def accounts(self) -> dict[int, LocalAccount]:
        return {inst.index: self.wallets.account(inst.index) for inst in self.workload.institutions}


def start_chain(run: Run, block_time: float) -> None:
    """A fresh embedded anvil on the 2019 calendar (or the node of --rpc-url)."""
    settings = run.settings
    if settings.rpc_url:
        run.rpc_url = settings.rpc_url
    else:
        embedded.reset(settings)
        for path in (settings.data_dir / "index.db", settings.data_dir / "index.db-wal",
                     settings.data_dir / "index.db-shm", settings.deployments / f"{embedded.EMBEDDED_CHAIN_ID}.json"):
            path.unlink(missing_ok=True)
        shutil.rmtree(settings.data_dir / "dashboard", ignore_errors=True)
        status = embedded.start(settings, block_time=block_time, gas_limit=DEMO_GAS_LIMIT,
                                genesis_timestamp=DEMO_GENESIS)
        assert status.rpc_url is not None
        run.rpc_url, run.embedded = status.rpc_url, True
    run.w3 = connect(run.rpc_url, settings.chain_id, timeout=120)
    run.settings = replace(settings, rpc_url=run.rpc_url)
    run.reporter.say(f"chain {run.w3.eth.chain_id} at {run.rpc_url}")
    if run.node_of is not None:
        run.reporter.say("multi-node network: each institution submits through its own node; the regulator "
                         f"deploys, onboards and indexes through {run.rpc_url}")


def idle_chain(run: Run) -> None:
    """The embedded chain, its bulk load done, mines a block per transaction from now on (no empty
    blocks every 0.2 s for as long as it runs); another node is left as it is."""
    if run.embedded:
        embedded.mine_on_demand(run.rpc_url)


def keystores(run: Run) -> None:
    """Keystores for the regulator, the first bank and the first enterprise, all under one DEMO
    password written next to them (mode 0600) — a demo convenience, never a practice."""
    keystore = Keystore(run.settings.keystores)
    password_file = run.settings.data_dir / "demo-password.txt"
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    password = "xborder-demo-" + keccak(f"demo-{run.workload.seed}".encode()).hex()[:12]
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    chosen = {"regulator": bytes(run.regulator.key),
              "demo-bank": run.wallets.private_key(run.workload.bank_indices[0]),
              "demo-enterprise": run.wallets.private_key(run.workload.enterprise_indices[0])}
    for name, key in chosen.items():
        if keystore.exists(name):
            keystore.delete(name)
        run.facts.setdefault("wallets", {})[name] = str(keystore.import_key(name, key, password).address)
    run.facts["password_file"] = str(password_file)
    run.reporter.say(f"keystores for regulator, demo-bank, demo-enterprise in {run.settings.keystores} "
                     f"(DEMO password in {password_file})")


def deploy_contracts(run: Run) -> None:
    assert run.w3 is not None
    deploy(run.w3, dev_funder(), run.regulator.address, run.settings.deployments, run.settings.project_root,
           progress=run.reporter.say)
    run.client_ = XborderClient.load(run.w3, run.settings.deployments)
    names = {inst.institution_id: inst.name for inst in run.workload.institutions}
    run.client.remember_names(names)
    if run.node_of is not None:
        run.router = NodeRouter(run.client, {run.wallets.address(inst.index): run.node_of(inst.index)
                                             for inst in run.workload.institutions}, names)


def fund_wallets(run: Run) -> None:
    """The regulator and every institution's wallet (each sends at least its key registration)."""
    addresses = [run.wallets.address(inst.index) for inst in run.workload.institutions]
    bar = run.reporter.phase("funding wallets", len(addresses) + 1)
    fund(run.client.w3, dev_funder(), [run.regulator.address], 10 * FUNDING_WEI)
    fund(run.client.w3, dev_funder(), addresses, FUNDING_WEI)
    bar(len(addresses) + 1, len(addresses) + 1)


def roster_entries(run: Run) -> list[Entry]:
    """The workload's institutions as onboarding roster entries, each admin wallet its DEMO-ONLY key."""
    return [Entry(where=f"institution {inst.index}", kind=InstitutionKind(inst.kind), name=inst.name,
                  identifier=inst.identifier, jurisdiction=inst.jurisdiction, capital_base=inst.capital_base,
                  admin=str(run.wallets.address(inst.index)), admin_given=f"demo-{inst.index}")
            for inst in run.workload.institutions]


def onboard(run: Run) -> None:
    """The regulator registers every institution of the roster, each admin wallet proving that it
    agrees to be bound (its EIP-712 WalletBinding signature at its binding nonce, signed here with
    the institution's DEMO-ONLY key), in roster order: institution id = roster index + 1.

    Like `xborder.services.onboarding.plan` / `apply` (identifiers already registered are skipped),
    but with the chain reads of ~1,400 entries in JSON-RPC batches, not one call each."""
    client, entries = run.client, roster_entries(run)
    registry = str(client.registry.address)
    existing = _views(run, "institutionByIdentifier(bytes20)", [identifier_bytes(e.identifier) for e in entries],
                      to=registry)
    todo = [(inst, e) for inst, e, raw in zip(run.workload.institutions, entries, existing, strict=True)
            if int.from_bytes(raw, "big") == 0]
    nonces = _views(run, "bindingNonce(address)", [e.admin for _, e in todo], to=registry)
    deadline = client.now() + onboarding.PROOF_VALID_FOR
    txs = []
    for (inst, entry), nonce in zip(todo, nonces, strict=True):
        proof = sign_wallet_proof(run.wallets.account(inst.index), identifier_bytes(entry.identifier),
                                  nonce=int.from_bytes(nonce, "big"), deadline=deadline, chain_id=client.chain_id,
                                  registry=registry, separator=client.registry_separator)
        txs.append(Tx(run.regulator, registry, _encode(
            REGISTER, [int(entry.kind), identifier_bytes(entry.identifier), entry.jurisdiction.encode("ascii"),
                       entry.capital_base, entry.name, entry.admin, proof.as_abi()]),
            onboarding.REGISTER_GAS, label=f"registering {entry.name}"))
    batch = client.batch(txs)
    batch.run(run.reporter.phase("onboarding institutions (with wallet proofs)", len(txs)))
    for (inst, entry), outcome in zip(todo, batch.outcomes, strict=True):
        if outcome.status != DONE:
            raise TransactionRejected(f"registering {entry.name} refused: {outcome.reason}", error_name=outcome.error)
        registered = [int(log_["topics"][1], 16) for log_ in outcome.logs if log_.get("topics")
                      and log_["topics"][0] == REGISTERED_TOPIC]
        if registered != [inst.institution_id]:
            raise TransactionRejected(f"{entry.name} registered as {registered}, expected "
                                      f"#{inst.institution_id}: the demo numbers institutions in roster order on a "
                                      "fresh chain", error_name="")
    run.facts["institutions"] = len(entries)


def lender_agents(workload: Workload) -> list[tuple[int, int]]:
    """(creditor, bank) roster indices: each overseas creditor appoints the domestic banks that record
    and service its loans as its agents (the lender side of the v2 ledger; a bank that is not the
    creditor's agent has no rights on its loans)."""
    return sorted({(ln.creditor, ln.recorder) for ln in workload.loans if ln.creditor != ln.recorder})


def appoint_agents(run: Run) -> None:
    pairs = lender_agents(run.workload)
    ledger = str(run.client.ledger.address)
    txs = [Tx(run.wallets.account(creditor), ledger, ledger_call("appointAgent(uint32)", bank + 1), AGENT_GAS,
              label=f"#{creditor + 1} appoints #{bank + 1}") for creditor, bank in pairs]
    outcomes = run.route.run(txs, run.reporter.phase("creditors appointing their banks as agents", len(txs)))
    failed = [o for o in outcomes if o.status != DONE]
    if failed:
        raise RuntimeError(f"{len(failed)} agent appointments refused, e.g. {failed[0].label}: {failed[0].reason}")
    run.facts["agents"] = len(outcomes)


def encryption_keys(run: Run) -> None:
    """Each institution registers its X25519 key from its own wallet, the regulator its own (id 0).
    DEMO-ONLY: derived from the wallet keys. The regulator's indexer holds the regulator's key."""
    registry = str(run.client.registry.address)
    regulator_key = derive_key(bytes(run.regulator.key), REGULATOR_KEY_ID, 1)
    run.ring.add(REGULATOR_KEY_ID, 1, regulator_key)

    def key_tx(account: LocalAccount, institution_id: int, key: X25519PrivateKey, label: str) -> Tx:
        return Tx(account, registry, _encode(SET_KEY, [institution_id, public_bytes(key)]), KEY_GAS, label=label)

    txs = [key_tx(run.regulator, REGULATOR_KEY_ID, regulator_key, "regulator key")]
    txs += [key_tx(run.wallets.account(inst.index), inst.institution_id,
                   derive_key(run.wallets.private_key(inst.index), inst.institution_id, 1), f"key {inst.institution_id}")
            for inst in run.workload.institutions]
    outcomes = run.route.run(txs, run.reporter.phase("registering encryption keys", len(txs)))
    run.facts["keys_registered"] = sum(1 for o in outcomes if o.status == DONE)
    run.sealer = TermsSealer(run.client)
    assert run.sealer.keys is not None
    run.sealer.keys.prefetch([REGULATOR_KEY_ID] + [inst.institution_id for inst in run.workload.institutions])


def reference_rates(run: Run) -> None:
    codes = sorted(run.workload.rates)
    fn = run.client.policy.functions.setReferenceRates([c.encode() for c in codes],
                                                       [parse_rate(run.workload.rates[c]) for c in codes])
    run.client.batch([run.client.tx(run.regulator, fn, "reference rates", gas=RATES_GAS)]).run()


def record_loans(run: Run, steps: list[PolicyStep]) -> Tally:
    loans = run.workload.loans
    bars = Bars(record=run.reporter.phase("recording loans (month by month, Jan-Oct 2019)", len(loans)),
                confirm=run.reporter.phase("borrowers confirming loans they did not co-sign",
                                           sum(1 for ln in loans if not ln.co_signed)),
                tranche=run.reporter.phase("drawdowns and repayments in later months",
                                           sum(len(ln.later) for ln in loans)),
                say=run.reporter.say)
    player = WorkloadPlayer(run.client, run.workload, run.accounts(), run.regulator, run.sealer, steps, bars,
                            base_year=run.base_year, route=run.route, moves_clock=run.node_of is None)
    tally = player.play()
    if run.router is not None:  # the regulator's node holds every block before it indexes
        run.router.settle()
    return tally


def check_w3(run: Run) -> Web3:
    """The node the index is checked against: on a network another node than the one it was read from."""
    if run.router is not None and run.node_of is not None:
        return run.router.at(run.node_of(0)).w3
    return run.client.w3


def chain_loan_count(run: Run) -> int:
    """Loans the chain itself counts (sum of borrowerPosition.loanCount), for the cross-check."""
    borrowers = sorted({ln.borrower + 1 for ln in run.workload.loans})
    return sum(Position.decode(r).loan_count for r in _views(run, "borrowerPosition(uint32)", borrowers))


def closed_loans(run: Run, loan_ids: list[int]) -> int:
    return sum(1 for r in _views(run, "getLoan(uint64)", loan_ids) if Loan.decode(r).status == LoanStatus.CLOSED)


def _encode(function: tuple[str, tuple[str, ...]], args: list[Any]) -> bytes:
    """Calldata without web3's contract machinery (which costs ~0.1 s a call on a busy machine, minutes
    for ~1,400 institutions)."""
    name, types = function
    return selector(f"{name}({','.join(types)})") + abi_encode(list(types), args)


def _views(run: Run, signature: str, args: Sequence[Any], to: str | None = None) -> list[bytes]:
    """eth_call `signature` (one argument) for each of `args` on the ledger (or `to`), in JSON-RPC batches."""
    kind = signature[signature.index("(") + 1:-1]
    ledger = to or str(run.client.ledger.address)
    answers = run.client.rpc.results([("eth_call", [{"to": ledger, "data": "0x" + (
        selector(signature) + abi_encode([kind], [a])).hex()}, "latest"]) for a in args], context=signature)
    return [bytes.fromhex(str(a)[2:]) for a in answers]



def demo_regulator(seed: int) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(f"xborder-demo-regulator-{seed}".encode()))
    return account


def dashboard_dir(settings: Settings) -> Path:
    return settings.data_dir / "dashboard"


__all__ = ["Batch", "Quiet", "Reporter", "Run"]
