"""Micro-benchmark: `TxSender`/`send_interleaved` against the plain web3.py loop on local anvil.

    python -m xborder.chain.bench_sender [--count 5000] [--wallets 5] [--plain 300]

Each run starts a fresh anvil (never on port 8545), funds `--wallets` DEMO-ONLY wallets at genesis
and sends simple ETH transfers. "end to end" is from the first signature to the last receipt.
The plain loop is what a straightforward web3.py client does per transaction: fill defaults
(nonce, gas estimate, fees), sign with eth-account, send, wait for the receipt.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from web3 import Web3
from web3._utils.transactions import fill_transaction_defaults

from xborder.chain.launcher import LocalNode, start_anvil
from xborder.chain.sender import (
    Call,
    Fees,
    TxSender,
    rpc,
    send_all,
    send_interleaved,
    sign_raw,
    wait_receipts,
)
from xborder.wallets.demo import DemoWallets


@dataclass(frozen=True)
class Result:
    label: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")

    def __str__(self) -> str:
        return f"{self.label:<44} {self.count:>6} tx in {self.seconds:7.2f} s = {self.rate:8.0f} tx/s"


def plain_loop(node: LocalNode, demo: DemoWallets, count: int) -> Result:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    account = demo.account(0)
    to = Account.create().address
    started = time.perf_counter()
    for _ in range(count):
        tx: Any = fill_transaction_defaults(w3, {
            "from": account.address, "to": to, "value": 1,
            "nonce": w3.eth.get_transaction_count(account.address, "pending")})
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)["status"] == 1
    return Result("plain web3.py loop (1 wallet)", count, time.perf_counter() - started)


def fast(node: LocalNode, demo: DemoWallets, count: int, wallets: int, label: str,
         mine: Callable[[Web3], None] | None = None) -> Result:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30}))
    senders = [TxSender(w3, demo.account(i), default_gas=21_000) for i in range(wallets)]
    to = Account.create().address
    per = count // wallets
    started = time.perf_counter()
    hashes = send_interleaved([(s, [Call(to, value=1)] * per) for s in senders])
    if mine is not None:
        mine(w3)
    receipts = wait_receipts(w3, [h for group in hashes for h in group], timeout=300)
    elapsed = time.perf_counter() - started
    assert all(r.status == 1 for r in receipts)
    return Result(label, per * wallets, elapsed)


def windowed(node: LocalNode, demo: DemoWallets, count: int, wallets: int, label: str) -> Result:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30}))
    senders = [TxSender(w3, demo.account(i), default_gas=21_000) for i in range(wallets)]
    to = Account.create().address
    per = count // wallets
    started = time.perf_counter()
    receipts = send_all([(s, [Call(to, value=1)] * per) for s in senders], window_blocks=4)
    elapsed = time.perf_counter() - started
    assert all(r.status == 1 for group in receipts for r in group)
    return Result(label, per * wallets, elapsed)


def mine_until_empty(w3: Web3) -> None:
    while True:
        rpc(w3, "evm_mine")
        status = rpc(w3, "txpool_status")
        if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
            return


def signing_rate(demo: DemoWallets, count: int = 5000) -> tuple[Result, Result]:
    account = demo.account(0)
    to = Account.create().address
    tx = {"to": to, "value": 1, "gas": 21_000, "chainId": 31337, "maxFeePerGas": 3 * 10**9,
          "maxPriorityFeePerGas": 10**9}
    started = time.perf_counter()
    for nonce in range(count):
        account.sign_transaction({**tx, "nonce": nonce})
    eth_account = Result("sign: eth-account Account.sign_transaction", count, time.perf_counter() - started)
    fees = Fees(max_fee=3 * 10**9, tip=10**9)
    key = bytes(account.key)
    started = time.perf_counter()
    for nonce in range(count):
        sign_raw(key, 31337, nonce, Call(to, value=1), 21_000, fees)
    ours = Result("sign: xborder sign_raw (coincurve)", count, time.perf_counter() - started)
    return eth_account, ours


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--wallets", type=int, default=5)
    parser.add_argument("--plain", type=int, default=300)
    args = parser.parse_args(argv)
    demo = DemoWallets()
    results: list[Result] = []

    def show(result: Result) -> None:
        results.append(result)
        print(result, flush=True)

    for result in signing_rate(demo):
        show(result)
    common = dict(mnemonic=demo.mnemonic, accounts=max(args.wallets, 1))
    with start_anvil(**common) as node:  # type: ignore[arg-type]
        show(plain_loop(node, demo, args.plain))
    with start_anvil(**common) as node:  # type: ignore[arg-type]
        # anvil's automine stalls (even hangs eth_sendRawTransaction) with bursts of several
        # thousand transactions, so this mode is measured with at most 2,000.
        show(fast(node, demo, min(args.count, 2000), args.wallets,
                  f"send_interleaved, automine ({args.wallets} wallets)"))
    for block_time in (0.2, 0.5, 1.0):
        with start_anvil(**common, block_time=block_time) as node:  # type: ignore[arg-type]
            show(fast(node, demo, args.count, args.wallets,
                      f"send_interleaved, block_time={block_time} ({args.wallets} wallets)"))
    with start_anvil(**common, block_time=0.5) as node:  # type: ignore[arg-type]
        show(windowed(node, demo, args.count, args.wallets, "send_all (windows), block_time=0.5"))
    with start_anvil(**common, no_mining=True) as node:  # type: ignore[arg-type]
        show(fast(node, demo, args.count, args.wallets, f"send_interleaved, no_mining+evm_mine ({args.wallets})",
                  mine=mine_until_empty))
    plain = results[2].rate
    for result in results[3:]:
        print(f"{result.label}: {result.rate / plain:.1f}x the plain loop")
    return results


if __name__ == "__main__":
    main()
