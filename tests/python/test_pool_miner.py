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
