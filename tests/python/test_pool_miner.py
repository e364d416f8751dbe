"""The scale demo's chain mines on demand: `PoolMiner` mines waiting transactions of an anvil started
with --no-mining (no empty blocks), and a failed transaction whose pre-block state the node no
longer keeps is still decoded (`recorded_revert`)."""

from __future__ import annotations

import time

from web3 import Web3

from xborder.chain.launcher import DEV_MNEMONIC, rpc_call, start_anvil
from xborder.chain.miner import PoolMiner, pending
from xborder.chain.receipts import recorded_revert, replay, wait_receipts
from xborder.chain.rpc import StateUnavailable
from xborder.chain.sender import SenderPool, send_all
from xborder.chain.signer import Call
from xborder.wallets import DemoWallets

DEV = DemoWallets(mnemonic=DEV_MNEMONIC)
#: Runtime code that always reverts with the word 42: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 REVERT.
REVERTER_INIT = "0x69602a60005260206000fd600052600a6016f3"


def _send(url: str, tx: dict[str, str]) -> str:
    return str(rpc_call(url, "eth_sendTransaction", [{"from": DEV.address(0), **tx}]))


def test_the_pool_miner_mines_waiting_transactions_and_no_empty_blocks() -> None:
    node = start_anvil(no_mining=True, memory_states=8)
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    try:
        with PoolMiner(node.rpc_url) as miner:
            hashes = [_send(node.rpc_url, {"to": DEV.address(1), "value": hex(n + 1)}) for n in range(20)]
            receipts = wait_receipts(w3, hashes, timeout=60)
            assert all(r.status == 1 for r in receipts)
            assert pending(node.rpc_url) == 0
            head = w3.eth.block_number
            assert 1 <= head <= miner.blocks <= 20
            time.sleep(1.0)
            assert w3.eth.block_number == head, "an idle pool was mined (empty blocks)"
        hash_ = _send(node.rpc_url, {"to": DEV.address(1), "value": "0x1"})
        time.sleep(1.0)
        assert pending(node.rpc_url) == 1, "a stopped miner still mined"
        assert hash_
    finally:
        node.stop()


def test_a_fed_sender_pool_sends_windows_the_miner_mines_at_once() -> None:
    """`PoolMiner.feed`: a batch goes out in windows of at most `window_txs`, and each window is mined
    when it is sent. The miner here never mines on its own within the test (settle and max wait 30 s,
    the receipts' timeout 20 s, no nudge), so every receipt is owed to the windows' `mine_now`."""
    node = start_anvil(no_mining=True, memory_states=8)
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    try:
        with PoolMiner(node.rpc_url, settle=30.0, max_wait=30.0) as miner:
            pool = SenderPool(w3)
            miner.feed(pool, window_txs=4)
            assert (pool.window_txs, pool.after_window) == (4, miner.mine_now)
            transfer = Call(DEV.address(3), b"", 1, 21_000)
            jobs = [(pool.get(DEV.account(k)), [transfer] * 5) for k in (1, 2)]
            receipts = send_all(jobs, window_txs=pool.window_txs, after_window=pool.after_window, timeout=20,
                                nudge_after=None)
            assert [len(r) for r in receipts] == [5, 5]
            assert all(r.status == 1 for group in receipts for r in group)
            assert pending(node.rpc_url) == 0
            assert 1 <= miner.blocks <= 3  # 3 windows (4, 4, 2); two may share a block
    finally:
        node.stop()


def test_a_failure_older_than_the_kept_states_is_decoded_from_what_anvil_recorded() -> None:
    node = start_anvil(no_mining=True, memory_states=4)
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    try:
        with PoolMiner(node.rpc_url):
            [deployed] = wait_receipts(w3, [_send(node.rpc_url, {"data": REVERTER_INIT})], timeout=60)
            assert deployed.contract_address is not None
            call = {"to": deployed.contract_address, "gas": hex(100_000)}
            [failed] = wait_receipts(w3, [_send(node.rpc_url, call)], timeout=60)
        assert failed.status == 0
        rpc_call(node.rpc_url, "anvil_mine", ["0x20"])
        try:
            replay(w3, {"from": DEV.address(0), **call}, failed.block_number - 1)
        except StateUnavailable:
            pass
        else:
            raise AssertionError("the state before the failure should be gone (4 states kept)")
        assert recorded_revert(w3, failed.tx_hash) == (42).to_bytes(32, "big")
    finally:
        node.stop()
