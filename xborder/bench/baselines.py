"""The baselines of the ingestion figures (issue #14), each on a node where it is at its best:

* the plain web3.py loop, one loan at a time (`build_transaction` with its gas estimate, fees and
  nonce, `sign_transaction`, `send_raw_transaction`, `wait_for_transaction_receipt` polled every
  10 ms), on an anvil started WITHOUT `--block-time` (automine: each transaction is mined on
  arrival; on the bench chain it would wait for blocks);
* a plain web3.py client that pipelines: reads each bank's nonce and each borrower's consent nonce
  once, signs every transaction with eth-account, sends them all, then waits for the receipts; run
  on that automine node AND on the benchmark's chain (mined on demand: a block once the pool has
  settled), the better one counts.

Both record the bench's own co-signed loans (`bench/loans.py`), signed by the banks' and
borrowers' own wallets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from xborder.bench.loans import make_items
from xborder.bench.world import World, build_world
from xborder.bindings.consent import sign_consent
from xborder.services.loan_batch import LoanItem

PLAIN_GAS = 400_000


@dataclass(frozen=True)
class Baseline:
    label: str
    loans: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.loans / self.seconds if self.seconds else 0.0


def automine_world(workdir: Path) -> World:
    """A small second chain: anvil with no --block-time (automine), contracts, rates, institutions."""
    return build_world(banks=4, creditors=4, borrowers=40, block_time=None, gas_limit=30_000_000,
                       workdir=workdir / "automine", seed=8)


def items_for(world: World, count: int, tag: str, seed: int) -> list[LoanItem]:
    return make_items(world, count, borrowers=world.borrowers, tag=tag, seed=seed)


def _contract(world: World, w3: Web3, name: str = "LoanLedger") -> Any:
    address = world.client.ledger.address if name == "LoanLedger" else world.client.registry.address
    return w3.eth.contract(address=Web3.to_checksum_address(address),
                           abi=world.client.deployment.abi(name, world.client.deployments_dir))


def plain_loop(world: World, items: Sequence[LoanItem]) -> Baseline:
    w3 = Web3(Web3.HTTPProvider(world.node.rpc_url, request_kwargs={"timeout": 60}))
    ledger = _contract(world, w3)
    registry = _contract(world, w3, "InstitutionRegistry")
    chain_id = w3.eth.chain_id
    started = time.perf_counter()
    for item in items:
        assert item.borrower_account is not None
        # v2: an unused consent nonce (every consent here made a loan: the loan count is unused), the
        # borrower's signature epoch, the submitting bank named
        nonce = ledger.functions.borrowerPosition(item.request.borrower).call()[1]
        epoch = registry.functions.signatureEpoch(item.request.borrower).call()
        deadline = w3.eth.get_block("latest")["timestamp"] + 3600
        consent = sign_consent(item.borrower_account, item.request, item.draw,
                               submitter=world.home_bank[item.request.borrower].institution_id, nonce=nonce,
                               epoch=epoch, deadline=deadline, chain_id=chain_id, ledger=ledger.address)
        tx = ledger.functions.recordLoanWithConsent(item.request.as_abi(), item.terms, item.draw,
                                                    consent.as_abi()).build_transaction({
                                                        "from": item.recorder.address,
                                                        "nonce": w3.eth.get_transaction_count(item.recorder.address)})
        tx_hash = w3.eth.send_raw_transaction(item.recorder.sign_transaction(dict(tx)).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise RuntimeError(f"plain loop: loan {item.ref} reverted")
    return Baseline("plain web3.py loop, one loan at a time (node without --block-time)", len(items),
                    time.perf_counter() - started)


def pipelined(world: World, items: Sequence[LoanItem], node: str) -> Baseline:
    """Sign everything, send it all, then wait for the receipts (plain web3.py + eth-account)."""
    w3 = Web3(Web3.HTTPProvider(world.node.rpc_url, request_kwargs={"timeout": 120}))
    ledger = _contract(world, w3)
    chain_id = w3.eth.chain_id
    started = time.perf_counter()
    consent = {b: int(ledger.functions.borrowerPosition(b).call()[1]) for b in {i.request.borrower for i in items}}
    nonce = {a: int(w3.eth.get_transaction_count(a, "pending")) for a in {i.recorder.address for i in items}}
    deadline = w3.eth.get_block("latest")["timestamp"] + 3600
    raw = []
    for item in items:
        assert item.borrower_account is not None
        b, a = item.request.borrower, item.recorder.address
        signature = sign_consent(item.borrower_account, item.request, item.draw,
                                 submitter=world.home_bank[b].institution_id, nonce=consent[b], epoch=0,
                                 deadline=deadline, chain_id=chain_id, ledger=ledger.address)
        consent[b] += 1
        # web3 fills the fees (its own default rule); gas given, so nothing is estimated
        tx = ledger.functions.recordLoanWithConsent(item.request.as_abi(), item.terms, item.draw,
                                                    signature.as_abi()).build_transaction({
                                                        "from": a, "gas": PLAIN_GAS, "nonce": nonce[a]})
        nonce[a] += 1
        raw.append(item.recorder.sign_transaction(dict(tx)).raw_transaction)
    hashes = [w3.eth.send_raw_transaction(r) for r in raw]
    for tx_hash in hashes:
        if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=180, poll_latency=0.01)["status"] != 1:
            raise RuntimeError("pipelined plain client: a loan reverted")
    return Baseline(f"plain web3.py client, sign all + send all + then receipts ({node})", len(items),
                    time.perf_counter() - started)
