"""Ingestion: co-signed loans (recorded, confirmed by the borrower's EIP-712 consent and drawn, in
one transaction) from the banks' and borrowers' own wallets to mined receipts, three ways on the
same chain:

* `LoanBatch` (the CSV import's engine): preflight (dry run of every item in JSON-RPC batches)
  + submit (local signing, batched sends, batched receipts); timed apart;
* the sender directly (`send_all` over per-bank `TxSender`s, consents signed here), no dry run;
* the plain web3.py loop, one loan at a time: `build_transaction` (estimate, fees, nonce),
  `sign_transaction`, `send_raw_transaction`, `wait_for_transaction_receipt`; run LAST, after
  switching anvil to automine (its best case: no block interval to wait for).

Also the lifecycle load that follows (a drawdown and two repayments per loan, from the
borrowers' wallets), which the indexing section then reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.bench.loans import make_items
from xborder.bench.results import Results, Row, load
from xborder.bench.world import World
from xborder.bindings.client import calldata
from xborder.bindings.consent import record_with_consent_calldata, selector, sign_consent
from xborder.chain.receipts import Receipt, check_receipts
from xborder.chain.rpc import Rpc, rpc
from xborder.chain.sender import TxSender, send_all
from xborder.chain.signer import Call
from xborder.domain.enums import REGULATOR_KEY_ID as REGULATOR
from xborder.domain.loans import Position
from xborder.services.confidential import TermsSealer
from xborder.services.loan_batch import RECORDED, LoanBatch, LoanItem
from xborder.services.loans import LOAN_RECORDED_TOPIC, LoanService
from xborder.wallets.encryption import derive_key, public_bytes

SECTION = "ingest"
_SEL_POSITION = selector("borrowerPosition(uint32)")


@dataclass
class Landed:
    loan_id: int
    item: LoanItem


@dataclass
class IngestState:
    landed: list[Landed] = field(default_factory=list)
    plain_rate: float = 0.0


def _loan_ids(receipts: Sequence[Receipt]) -> list[int]:
    out = []
    for r in receipts:
        for e in r.logs:
            if e["topics"][0] == LOAN_RECORDED_TOPIC:
                out.append(int(e["topics"][1], 16))
    return out


def with_loan_batch(world: World, items: list[LoanItem], results: Results, state: IngestState,
                    label: str = "") -> float:
    batch = LoanBatch(world.client, items, gas_mode="sample", batch_size=500)
    started = time.perf_counter()
    pre_counts = batch.preflight().counts
    pre_s = time.perf_counter() - started
    report = batch.submit()
    total_s = time.perf_counter() - started
    landed = [o for o in report.outcomes if o.status == RECORDED]
    if len(landed) != len(items):
        raise RuntimeError(f"LoanBatch: {len(landed)} of {len(items)} loans landed: {report.counts}; "
                           f"first problem: {next((o.reason for o in report.outcomes if o.status != RECORDED), '')}")
    state.landed += [Landed(o.loan_id or 0, items[o.index]) for o in landed]
    rate = len(landed) / total_s
    results.add(Row(SECTION, f"LoanBatch preflight (dry run){label}", len(items) / pre_s, "loans/s",
                    note=f"{len(items):,} loans in {pre_s:.2f}s ({pre_counts})"))
    results.add(Row(SECTION, f"LoanBatch submit only{label}", len(landed) / report.seconds, "loans/s",
                    note=f"{len(landed):,} in {report.seconds:.2f}s"))
    results.add(Row(SECTION, f"LoanBatch preflight + submit (end to end){label}", rate, "loans/s",
                    note=f"{len(landed):,} loans in {total_s:.2f}s; preflight {pre_s / total_s:.0%} of the time"))
    return rate


def register_keys(world: World) -> TermsSealer:
    """Every party and the regulator register an X25519 key (DEMO-ONLY: derived from the wallet);
    returns a sealer with all current keys prefetched."""
    registry = world.client.registry
    parties = [*world.banks, *world.creditors, *world.borrowers]
    jobs = [(TxSender(world.w3, world.regulator), [Call(registry.address, calldata(registry.functions.setEncryptionKey(
        REGULATOR, public_bytes(derive_key(bytes(world.regulator.key), REGULATOR, 1)))), 0, 120_000)])]
    jobs += [(TxSender(world.w3, p.account), [Call(registry.address, calldata(registry.functions.setEncryptionKey(
        p.institution_id, public_bytes(derive_key(bytes(p.account.key), p.institution_id, 1)))), 0, 120_000)])
        for p in parties]
    check_receipts(world.w3, [r for group in send_all(jobs, timeout=600) for r in group])
    sealer = TermsSealer(world.client)
    assert sealer.keys is not None
    sealer.keys.prefetch([REGULATOR] + [p.institution_id for p in parties])
    return sealer


def with_sender(world: World, items: list[LoanItem], results: Results, state: IngestState) -> float:
    """No dry run: read each borrower's consent nonce (one batch), sign consents and transactions
    locally, send per bank wallet with `send_all` (windows of 4 blocks), check every receipt."""
    w3, ledger = world.w3, world.ledger
    chain_id, separator = world.client.deployment.chain_id, LoanService(world.client).separator
    started = time.perf_counter()
    borrowers = sorted({i.request.borrower for i in items})
    positions = Rpc(w3, batch_size=500).results([("eth_call", [{"to": ledger, "data": "0x" + (
        _SEL_POSITION + abi_encode(["uint32"], [b])).hex()}, "latest"]) for b in borrowers], context="positions")
    nonce = {b: Position.decode(bytes.fromhex(str(p)[2:])).nonce for b, p in zip(borrowers, positions, strict=True)}
    deadline = int(rpc(w3, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16) + 3600
    jobs: dict[str, tuple[TxSender, list[Call], list[int]]] = {}
    for k, item in enumerate(items):
        b = item.request.borrower
        assert item.borrower_account is not None
        signature = sign_consent(item.borrower_account, item.request, item.draw, nonce[b], deadline,
                                 chain_id=chain_id, ledger=ledger, separator=separator)
        nonce[b] += 1
        data = record_with_consent_calldata(item.request, item.terms, item.draw, deadline, signature)
        job = jobs.get(item.recorder.address)
        if job is None:
            job = jobs[item.recorder.address] = (TxSender(w3, item.recorder), [], [])
        job[1].append(Call(ledger, data, 0, 260_000))
        job[2].append(k)
    receipts = send_all([(s, calls) for s, calls, _ in jobs.values()], timeout=600)
    elapsed = time.perf_counter() - started
    flat = [r for group in receipts for r in group]
    check_receipts(w3, flat)
    order = [k for _, _, ks in jobs.values() for k in ks]
    state.landed += [Landed(loan_id, items[k]) for k, loan_id in zip(order, _loan_ids(flat), strict=True)]
    rate = len(items) / elapsed
    results.add(Row(SECTION, "sender directly (send_all, no dry run)", rate, "loans/s",
                    note=f"{len(items):,} loans in {elapsed:.2f}s from {len(jobs)} bank wallets"))
    return rate


def lifecycle(world: World, state: IngestState, results: Results) -> int:
    """Per landed loan: draw the rest, then repay a quarter twice (borrower's wallet); returns txs."""
    ledger = world.client.ledger.functions
    by_borrower: dict[str, tuple[TxSender, list[Call]]] = {}
    for landed in state.landed:
        item = landed.item
        assert item.borrower_account is not None
        rest = item.request.principal - item.draw
        quarter = item.request.principal // 4
        job = by_borrower.get(item.borrower_account.address)
        if job is None:
            job = by_borrower[item.borrower_account.address] = (TxSender(world.w3, item.borrower_account), [])
        for fn, gas in ((ledger.drawdown(landed.loan_id, rest), 110_000), (ledger.repay(landed.loan_id, quarter),
                                                                              100_000),
                        (ledger.repay(landed.loan_id, quarter), 100_000)):
            job[1].append(Call(world.ledger, calldata(fn), 0, gas))
    started = time.perf_counter()
    receipts = send_all(list(by_borrower.values()), timeout=900)
    elapsed = time.perf_counter() - started
    flat = [r for group in receipts for r in group]
    check_receipts(world.w3, flat)
    results.add(Row(SECTION, "lifecycle: drawdowns + repayments (send_all)", len(flat) / elapsed, "tx/s",
                    note=f"{len(flat):,} tx from {len(by_borrower)} borrower wallets in {elapsed:.2f}s"))
    return len(flat)


def plain_loop(world: World, items: list[LoanItem], results: Results) -> float:
    """The straightforward web3.py client, one loan at a time, on anvil switched to automine and
    polling its receipt every 10 ms (web3's default is 100 ms): the baseline at its best."""
    rpc(world.w3, "evm_setAutomine", [True])
    w3 = Web3(Web3.HTTPProvider(world.node.rpc_url, request_kwargs={"timeout": 60}))
    ledger = w3.eth.contract(address=world.client.ledger.address, abi=world.client.ledger.abi)
    chain_id = w3.eth.chain_id
    started = time.perf_counter()
    for item in items:
        assert item.borrower_account is not None
        nonce = ledger.functions.borrowerPosition(item.request.borrower).call()[2]
        deadline = w3.eth.get_block("latest")["timestamp"] + 3600
        signature = sign_consent(item.borrower_account, item.request, item.draw, nonce, deadline,
                                 chain_id=chain_id, ledger=ledger.address)
        tx = ledger.functions.recordLoanWithConsent(item.request.as_abi(), item.terms, item.draw, deadline,
                                                    signature).build_transaction({
                                                        "from": item.recorder.address,
                                                        "nonce": w3.eth.get_transaction_count(item.recorder.address)})
        signed = item.recorder.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise RuntimeError(f"plain loop: loan {item.ref} reverted")
    elapsed = time.perf_counter() - started
    rate = len(items) / elapsed
    results.add(Row(SECTION, "plain web3.py loop (automine)", rate, "loans/s",
                    note=f"{len(items):,} loans in {elapsed:.2f}s"))
    return rate


def run(world: World, results: Results, *, loans: int, plain: int) -> IngestState:
    state = IngestState()
    pool = world.borrowers[:-4]
    batch_items = make_items(world, loans, borrowers=pool, tag="BATCH", seed=21)
    direct_items = make_items(world, loans, borrowers=pool, tag="DIRECT", seed=22)
    plain_items = make_items(world, plain, borrowers=pool, tag="PLAIN", seed=23)
    batch_rate = with_loan_batch(world, batch_items, results, state)
    direct_rate = with_sender(world, direct_items, results, state)
    # The same LoanBatch path with confidential terms (#7): every institution registers its
    # encryption key, terms travel as envelopes for borrower, creditor side and regulator.
    sealer = register_keys(world)
    sealed_items = make_items(world, loans, borrowers=pool, tag="SEALED", seed=24, sealer=sealer)
    with_loan_batch(world, sealed_items, results, state, label=", confidential terms on")
    results.sections.setdefault(SECTION, {})["load_after_xborder"] = load()
    lifecycle(world, state, results)
    state.plain_rate = plain_loop(world, plain_items, results)
    for row in results.rows:
        if row.section == SECTION and row.metric.startswith(("LoanBatch preflight + submit", "sender directly")):
            row.baseline = state.plain_rate
    best = max(batch_rate, direct_rate)
    results.add(Row(SECTION, "best xborder path vs target", best, "loans/s", baseline=state.plain_rate,
                    target=">= 1000", note=f"cores {os.cpu_count()}"))
    results.add(Row(SECTION, "best xborder path / plain loop", best / state.plain_rate, "x", target=">= 10"))
    return state
