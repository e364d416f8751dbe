"""Faults on a real 4-node geth (clique) network: a sealer killed with SIGKILL, and a partition
that makes a minority seal its own branch which the heavier branch then replaces (a real reorg),
with the regulator's indexer following the node that saw the losing branch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from xborder.bindings.client import XborderClient, calldata
from xborder.chain.launcher import rpc_call
from xborder.chain.network import Network
from xborder.chain.receipts import wait_receipts
from xborder.chain.sender import TxSender
from xborder.chain.signer import Call
from xborder.config import PROJECT_ROOT, Settings
from xborder.domain.dates import DAY
from xborder.domain.identifiers import identifier_bytes, uscc_with_check
from xborder.index import Indexer, IndexStats, open_database
from xborder.index.db import Database
from xborder.index.service import index_events, indexer_web3
from xborder.index.status import deployment_contracts
from xborder.services import onboarding, policy
from xborder.services import terms as T
from xborder.services.deploy import deploy
from xborder.services.loan_batch import RECORDED, LoanBatch, LoanItem
from xborder.services.roster import COLUMNS

from .chains import Chain, dev_account

pytestmark = pytest.mark.network

REGULATOR, BANK = dev_account(0), dev_account(1)
BORROWERS = [dev_account(i) for i in (2, 3, 4)]
REGISTER_GAS = 400_000  # registerInstitution with the admin's proof: 170,527 measured


@pytest.fixture(scope="module")
def deployed(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, Path, dict[str, int]]]:
    """The contracts, a bank and three borrowers, registered through node 1."""
    chain = Chain("network", network.urls, network)
    deployments = tmp_path_factory.mktemp("deployments")
    w3 = chain.w3(1)
    deploy(w3, REGULATOR, REGULATOR.address, deployments, PROJECT_ROOT)
    client = XborderClient.load(w3, deployments)
    rows = [("domestic-bank", "Bank", "91100000100005101J", "CN", "1,000,000,000.00", BANK.address)]
    rows += [("enterprise", f"Borrower {k}", uscc_with_check(f"9133000{k}MA2AY5Q83"), "CN", "900,000,000.00", a.address)
             for k, a in enumerate(BORROWERS)]
    problems: list[onboarding.Problem] = []
    entries = onboarding.validate_rows([(f"row {i}", dict(zip(COLUMNS, r, strict=True)))
                                        for i, r in enumerate(rows, 1)], None, problems)
    assert not problems
    report = onboarding.apply(client, REGULATOR, onboarding.plan(
        client, entries, prover=onboarding.account_prover(client, [BANK, *BORROWERS])))
    policy.set_rates(client, REGULATOR, policy.parse_rate_pairs(["USD", "7.10"]))
    chain.settle(int(w3.eth.block_number))
    yield chain, deployments, {entry.name: iid for entry, iid in report.registered}


def _registrations(client: XborderClient, tag: str, count: int) -> list[Call]:
    """`count` new institutions (unique identifiers), registered by the regulator, each admin wallet
    (a fresh key) with its proof of key possession."""
    calls = []
    for k in range(count):
        ident = uscc_with_check(f"9144{tag}{k:03d}MA5EX0000")
        admin = Account.from_key(Web3.keccak(text=f"{tag}-{k}"))
        proof = client.wallet_proof(admin, identifier_bytes(ident), nonce=0, valid_for=3600)
        data = calldata(client.registry.functions.registerInstitution(
            3, identifier_bytes(ident), b"CN", 10**10, f"{tag} firm {k}", admin.address, proof.as_abi()))
        calls.append(Call(to=client.registry.address, data=data, gas=REGISTER_GAS))
    return calls


def _loans(client: XborderClient, ids: dict[str, int], tag: str, count: int) -> list[LoanItem]:
    """`count` loans recorded by the bank (their creditor), each co-signed by its borrower and drawn at once."""
    items = []
    today = client.now() // DAY * DAY
    for k in range(count):
        borrower = k % len(BORROWERS)
        items.append(LoanItem.build(
            borrower=ids[f"Borrower {borrower}"], creditor=ids["Bank"], currency="USD", principal=100_000_00,
            value_date=today, maturity_date=today + 300 * DAY, financing_type=1,
            document=Web3.keccak(text=f"{tag}-doc-{k}"), terms=T.LoanTerms(interest_rate="4.1"), recorder=BANK,
            borrower_account=BORROWERS[borrower], draw=100_000_00, ref=f"{tag}-{k}"))
    return items


def _record(client: XborderClient, items: list[LoanItem], out: list[Any]) -> None:
    batch = LoanBatch(client, items, gas_mode="fixed", fixed_gas=600_000, receipt_timeout=300)
    batch.preflight()
    out.append(batch.submit())


def _head_advances(network: Network, nodes: list[int], blocks: int, timeout: float = 120.0) -> None:
    start = {i: network.head(i)[0] for i in nodes}
    deadline = time.monotonic() + timeout
    while any(network.head(i)[0] < start[i] + blocks for i in nodes):
        if time.monotonic() > deadline:
            raise AssertionError(f"the chain did not seal {blocks} blocks in {timeout:.0f}s: heads "
                                 f"{ {i: network.head(i)[0] for i in nodes} } from {start}")
        time.sleep(0.2)


def test_sealer_killed_chain_goes_on_nothing_lost_or_doubled(deployed: tuple[Chain, Path, dict[str, int]]) -> None:
    chain, deployments, ids = deployed
    network = chain.network
    assert network is not None
    client1 = XborderClient.load(chain.w3(1), deployments)
    client2 = XborderClient.load(chain.w3(2), deployments)
    regulator = TxSender(client1.w3, REGULATOR, name="regulator")
    institutions_before = int(client1.registry.functions.institutionCount().call())

    # Before the outage: registrations through node 1 and loans through node 2, in flight when node 3 dies.
    before_hashes = regulator.send_many(_registrations(client1, "B", 6))
    before_loans: list[Any] = []
    recorder = threading.Thread(target=_record, args=(client2, _loans(client2, ids, "before", 6), before_loans))
    recorder.start()
    time.sleep(0.5)
    network.kill_node(3)
    assert not network.nodes.get(3) and not _alive(network, 3)

    # The chain keeps sealing on three of four sealers; more traffic during the outage.
    _head_advances(network, [1, 2, 4], blocks=4)
    during_hashes = regulator.send_many(_registrations(client1, "D", 6))
    recorder.join(300)  # the bank's next batch waits for its first (one sender per wallet)
    assert not recorder.is_alive()
    during_loans: list[Any] = []
    _record(client2, _loans(client2, ids, "during", 6), during_loans)
    assert not _alive(network, 3)
    receipts = wait_receipts(client1.w3, before_hashes + during_hashes, timeout=300)
    assert all(r.status == 1 for r in receipts)

    # Node 3 restarts on its own data and catches up.
    killed_at = network.head(1)[0]
    network.start_node(3)
    network.wait_peered()
    block, head_hash = network.wait_synced(min_block=network.head(1)[0], timeout=180)
    assert block >= killed_at
    _head_advances(network, [1, 2, 3, 4], blocks=2)  # and it seals again with the others

    # Nothing lost, nothing doubled: every transaction once, on every node, node 3 included.
    for report in before_loans + during_loans:
        assert [o.status for o in report.outcomes] == [RECORDED] * 6, report.outcomes
    block = chain.common_block()
    node3 = XborderClient.load(chain.w3(3), deployments)
    for r in receipts:
        again = node3.w3.eth.get_transaction_receipt(HexStr(r.tx_hash))
        assert again["status"] == 1 and again["blockHash"].hex() == _hash(client1.w3, r.tx_hash)
    assert int(node3.registry.functions.institutionCount().call(block_identifier=block)) == institutions_before + 12
    assert node3.w3.eth.get_transaction_count(REGULATOR.address, block) == regulator.nonce
    recorded = node3.ledger.events.LoanRecorded.get_logs(from_block=0, to_block=block)
    assert len(recorded) == 12 and len({e["args"]["loanId"] for e in recorded}) == 12
    loan_count = sum(int(node3.ledger.functions.borrowerPosition(ids[f"Borrower {k}"]).call(block_identifier=block)[1])
                     for k in range(len(BORROWERS)))
    assert loan_count == 12


def _alive(network: Network, index: int) -> bool:
    from xborder.chain.network.node import running_pids
    return bool(running_pids(network.spec.node(index).datadir(network.root)))


def _hash(w3: Web3, tx_hash: str) -> str:
    return str(w3.eth.get_transaction_receipt(HexStr(tx_hash))["blockHash"].hex())


def _signer(network: Network, node: int, block_hash: str) -> str:
    return str(rpc_call(network.url(node), "clique_getSigner", [block_hash], timeout=10)).lower()


#: Columns that say when the indexer wrote a row (wall clock), not what the chain holds.
WALL_CLOCK = {"chain_identity": "recorded_at"}


def dump(db: Database) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table of the index (its migration log and wall-clock columns aside), sorted."""
    tables = [str(r[0]) for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out: dict[str, list[tuple[str, ...]]] = {}
    for t in sorted(tables):
        if t in ("schema_migrations", "sqlite_sequence"):
            continue
        columns = [str(r[1]) for r in db.query(f"PRAGMA table_info({t})") if str(r[1]) != WALL_CLOCK.get(t)]
        out[t] = sorted(tuple(str(v) for v in row) for row in db.query(f"SELECT {', '.join(columns)} FROM {t}"))
    return out


def test_partition_reorg_indexer_matches_fresh_backfill(deployed: tuple[Chain, Path, dict[str, int]],
                                                       tmp_path: Path) -> None:
    """Node 1 (a sealer) is cut off and seals a block of its own holding a registration; the other
    three seal on. On reconnection the heavier branch replaces node 1's block. The regulator's
    indexer follows node 1 throughout: it indexes the losing block, rolls it back, and ends equal,
    row for row, to a fresh backfill of the final chain from node 3."""
    chain, deployments, ids = deployed
    network = chain.network
    assert network is not None
    network.wait_peered()
    client1 = XborderClient.load(chain.w3(1), deployments)
    client2 = XborderClient.load(chain.w3(2), deployments)
    me = network.spec.node(1).sealer.lower()

    # The regulator's indexer follows node 1 (no confirmations: it must see the losing block).
    settings = Settings(project_root=PROJECT_ROOT, data_dir=tmp_path / "regulator", deployments_dir=deployments,
                        rpc_url=network.url(1))
    stop = threading.Event()
    stats: list[IndexStats] = []
    follower = threading.Thread(target=index_events, args=(settings,), kwargs={
        "follow": True, "poll_interval": 0.2, "stop": stop, "batch_blocks": 50, "on_batch": stats.append})
    follower.start()
    try:
        fork_at = _cut_off_node1(network, me)

        # The minority branch: a registration sent to node 1, sealed by node 1 alone.
        losing_tx = TxSender(client1.w3, REGULATOR, name="regulator").send(_registrations(client1, "R", 1)[0])
        network.admin(1, "miner_start")
        losing = wait_receipts(client1.w3, [losing_tx], timeout=120)[0]
        assert losing.status == 1 and losing.block_number == fork_at + 1
        losing_hash = str(losing.raw["blockHash"])
        _wait(lambda: any(s.checkpoint >= losing.block_number for s in stats), "the follower to index node 1's block")
        with open_database(settings.index_url) as db:
            row = db.query_one("SELECT block_hash FROM blocks WHERE block_number = ?", (losing.block_number,))
            assert row is not None and row[0] == losing_hash, "the follower indexed the losing block"

        # The majority branch: three sealers go on, with a transaction of their own.
        bank = TxSender(client2.w3, BANK, name="bank")
        extra = dev_account(9)
        proof = client2.wallet_proof(extra, client2.identifier(ids["Bank"]))
        winning_tx = bank.send(Call(to=client2.registry.address, gas=200_000, data=calldata(
            client2.registry.functions.addWallet(ids["Bank"], extra.address, proof.as_abi()))))
        winning = wait_receipts(client2.w3, [winning_tx], timeout=120)[0]
        assert winning.status == 1
        _head_advances(network, [2, 3, 4], blocks=3)
        assert network.block_hash(2, fork_at + 1) != losing_hash
        assert network.head(1)[0] == fork_at + 1, "node 1 sealed alone beyond one block"

        # Reconnect: the heavier branch wins on node 1; node 1's transaction is mined again there.
        network.reconnect(1)
        _wait(lambda: network.block_hash(1, fork_at + 1) == network.block_hash(2, fork_at + 1),
              "node 1 to adopt the heavier branch")
        again = wait_receipts(client2.w3, [losing_tx], timeout=180)[0]
        assert again.status == 1 and str(again.raw["blockHash"]) != losing_hash
        final_block, _ = network.wait_synced(min_block=max(again.block_number, winning.block_number) + 1)
        _wait(lambda: any(s.checkpoint >= final_block for s in stats[-1:]), "the follower to reach the final chain")
    finally:
        stop.set()
        follower.join(60)
        with_miner = network.admin(1, "eth_mining")
        if not with_miner:
            network.admin(1, "miner_start")
    assert not follower.is_alive()
    assert any(s.reorgs >= 1 for s in stats), "the follower saw no reorg"

    _equals_fresh_backfill(network, settings, deployments, tmp_path, losing_tx)


def _cut_off_node1(network: Network, me: str) -> int:
    """Node 1 stops sealing until the last two blocks are someone else's; then it is isolated, and
    alone clique lets it seal the next block (a signer may sign once per floor(4/2)+1 = 3 blocks).
    Returns the block it forks after."""
    network.admin(1, "miner_stop")
    stopped_at = network.head(1)[0]
    deadline = time.monotonic() + 180
    while True:
        # (a seal already under way when the miner stopped still lands: wait past it)
        _wait(lambda since=stopped_at: network.head(1)[0] >= since + 3, "three blocks sealed by the others")
        network.isolate(1)
        fork_at, head = network.head(1)
        parent = network.block_hash(1, fork_at - 1)
        assert parent is not None
        if me not in (_signer(network, 1, head), _signer(network, 1, parent)):
            return fork_at
        assert time.monotonic() < deadline, "node 1 kept being one of the last two signers"
        network.reconnect(1)
        stopped_at = network.head(1)[0]


def _equals_fresh_backfill(network: Network, settings: Settings, deployments: Path, tmp_path: Path,
                           losing_tx: str) -> None:
    """Row for row: the follower's database == a fresh backfill of the final chain (from node 3)."""
    with open_database(settings.index_url) as followed:
        checkpoint = followed.query_one("SELECT block_number, block_hash FROM checkpoint")
        assert checkpoint is not None
        assert network.block_hash(3, int(checkpoint[0])) == checkpoint[1]
        fresh = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
        try:
            Indexer(fresh, indexer_web3(network.url(3)), deployment_contracts(deployments, chain_id(network))).run(
                to_block=int(checkpoint[0]))
            assert dump(followed) == dump(fresh)
            assert fresh.query("SELECT tx_hash FROM institution_events WHERE tx_hash = ?", (losing_tx,))
        finally:
            fresh.close()




def chain_id(network: Network) -> int:
    return network.spec.chain_id


def _wait(condition: Any, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)

