"""TxSender against real anvil and Ganache: batches, nonces, fees, error mapping (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from xborder.chain import LocalNode
from xborder.chain.launcher import DEV_MNEMONIC, NodeKind, _launch, _native_anvil, free_port
from xborder.chain.receipts import check_receipts, wait_receipts
from xborder.chain.rpc import rpc, rpc_batch
from xborder.chain.sender import TxSender, send_all, send_interleaved
from xborder.chain.signer import Call, Fees, sign_raw
from xborder.errors import ChainError, InsufficientFunds, TransactionRejected
from xborder.wallets import DemoWallets

DEV = DemoWallets(mnemonic=DEV_MNEMONIC)  # the nodes' funded development accounts
#: Init code of a contract whose every call reverts with the 4 bytes 0xdeadbeef (a custom error).
RUNTIME = "63deadbeef60e01b60005260046000fd"
INIT = "0x6010600c60003960106000f3" + RUNTIME


def web3(node: LocalNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))


def senders(w3: Web3, count: int) -> list[TxSender]:
    return [TxSender(w3, DEV.account(i), name=f"bank-{i}", default_gas=21_000) for i in range(count)]


def transfers_from_five(w3: Web3) -> None:
    wallets = senders(w3, 5)
    to = Account.create().address
    starts = [s.nonce for s in wallets]
    hashes = send_interleaved([(s, [Call(to, value=i + 1) for i in range(40)]) for s in wallets])
    assert [len(h) for h in hashes] == [40] * 5
    receipts = wait_receipts(w3, [h for group in hashes for h in group], timeout=120)
    assert len(receipts) == 200 and all(r.status == 1 for r in receipts)
    check_receipts(w3, receipts)
    txs = rpc_batch(w3, [("eth_getTransactionByHash", [h]) for group in hashes for h in group])
    for j, sender in enumerate(wallets):
        mine = txs[j * 40:(j + 1) * 40]
        assert {Web3.to_checksum_address(t["result"]["from"]) for t in mine} == {sender.address}
        assert [int(t["result"]["nonce"], 16) for t in mine] == list(range(starts[j], starts[j] + 40))
        assert sender.nonce == starts[j] + 40
    assert w3.eth.get_balance(to) == 5 * sum(range(1, 41))


# -- signing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fees", [Fees(max_fee=3 * 10**9, tip=10**9), Fees(gas_price=2 * 10**9)])
def test_sign_raw_is_byte_identical_to_eth_account(fees: Fees) -> None:
    account = DEV.account(3)
    for call in (Call("0x" + "11" * 20, b"\x01\x02" * 50, 10**18, None), Call(None, bytes.fromhex(INIT[2:]))):
        raw, digest = sign_raw(bytes(account.key), 1337, 7, call, 90_000, fees)
        tx: dict[str, Any] = {"nonce": 7, "gas": 90_000, "value": call.value, "data": call.data, "chainId": 1337}
        if call.to:
            tx["to"] = call.to
        if fees.eip1559:
            tx |= {"maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.tip}
        else:
            tx["gasPrice"] = fees.gas_price
        expected = account.sign_transaction(tx)
        assert raw == bytes(expected.raw_transaction) and digest == bytes(expected.hash)


# -- anvil -------------------------------------------------------------------------------------

def test_send_many_from_five_wallets_on_anvil(anvil: LocalNode) -> None:
    transfers_from_five(web3(anvil))


def test_anvil_uses_eip1559(anvil: LocalNode) -> None:
    fees = TxSender(web3(anvil), DEV.account(0)).fees()
    base = int(rpc(web3(anvil), "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    assert fees.eip1559 and fees.tip is not None and fees.max_fee == 2 * base + fees.tip


def test_legacy_fees_without_base_fee(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(_native_anvil(Path(__file__).resolve().parents[2])), "--port", str(port),
            "--hardfork", "berlin", "--mnemonic", DEV_MNEMONIC]
    with _launch(NodeKind.ANVIL, argv, port, 31337, None, tmp_path / "a.log", False, 30) as node:
        w3 = web3(node)
        sender = TxSender(w3, DEV.account(0), default_gas=21_000)
        fees = sender.fees()
        assert not fees.eip1559 and fees.gas_price == w3.eth.gas_price
        receipt = sender.transact(Call(DEV.address(1), value=5))
        assert receipt.status == 1
        assert rpc(w3, "eth_getTransactionByHash", [receipt.tx_hash])["type"] == "0x0"


def test_insufficient_funds_names_wallet_balance_and_need(anvil: LocalNode) -> None:
    w3 = web3(anvil)
    poor = TxSender(w3, Account.create(), name="empty-bank", default_gas=21_000)
    with pytest.raises(InsufficientFunds) as err:
        poor.send_many([Call(DEV.address(0), value=10**18)])
    message = str(err.value)
    assert "wallet 'empty-bank'" in message and poor.address in message
    assert "balance 0 wei" in message and f"value {10**18} wei" in message and "fund the wallet" in message


def test_nonce_resync_after_another_program_sends(anvil: LocalNode) -> None:
    w3 = web3(anvil)
    ours = TxSender(w3, DEV.account(0), default_gas=21_000)
    other = TxSender(w3, DEV.account(0), default_gas=21_000)  # same key, its own nonce counter
    first = ours.send_many([Call(DEV.address(1), value=1)] * 3)
    wait_receipts(w3, first)
    wait_receipts(w3, other.send_many([Call(DEV.address(1), value=1)] * 2))  # resyncs: nonces 3, 4
    again = ours.send_many([Call(DEV.address(1), value=1)] * 4)  # 3..6 refused for 3, 4: resent
    receipts = wait_receipts(w3, again)
    assert all(r.status == 1 for r in receipts)
    nonces = sorted(int(rpc(w3, "eth_getTransactionByHash", [h])["nonce"], 16) for h in again)
    assert nonces == [5, 6, 7, 8] and ours.nonce == 9
    assert w3.eth.get_transaction_count(Web3.to_checksum_address(DEV.address(0))) == 9


def test_revert_keeps_raw_revert_data(anvil: LocalNode) -> None:
    w3 = web3(anvil)
    sender = TxSender(w3, DEV.account(0))
    deployed = sender.transact(Call(None, bytes.fromhex(INIT[2:]), gas=200_000))
    assert deployed.contract_address
    with pytest.raises(TransactionRejected) as mined:
        sender.transact(Call(deployed.contract_address, b"", gas=100_000))
    assert mined.value.revert_data == bytes.fromhex("deadbeef") and mined.value.tx_hash
    with pytest.raises(TransactionRejected) as estimated:  # no gas given: the estimate reverts
        sender.send(Call(deployed.contract_address, b"\x01"))
    assert estimated.value.revert_data == bytes.fromhex("deadbeef")


def test_send_all_windows_on_block_time_anvil(tmp_path: Path) -> None:
    from xborder.chain import start_anvil
    with start_anvil(block_time=0.2, log_path=tmp_path / "a.log") as node:
        w3 = web3(node)
        wallets = senders(w3, 3)
        receipts = send_all([(s, [Call(DEV.address(9), value=1)] * 300) for s in wallets],
                            window_blocks=0.01)  # many small windows
        assert [len(r) for r in receipts] == [300] * 3
        assert all(r.status == 1 for group in receipts for r in group)
        assert [w3.eth.get_transaction_count(s.address) for s in wallets] == [300] * 3


def test_windows_cut_across_wallets_round_robin() -> None:
    from xborder.chain.sender import _windows
    # one transaction per wallet: spread over the windows (each wallet's list cut in parts put all in the first)
    assert _windows([1] * 7, 3) == [[(0, (0, 1)), (1, (0, 1)), (2, (0, 1))],
                                    [(3, (0, 1)), (4, (0, 1)), (5, (0, 1))], [(6, (0, 1))]]
    assert _windows([5, 1, 2], 2) == [[(0, (0, 2)), (1, (0, 1)), (2, (0, 1))], [(0, (2, 5)), (2, (1, 2))]]
    assert _windows([], 3) == [] and _windows([0, 0], 2) == []
    for sizes, windows in [([3, 9, 1, 0, 4], 4), ([1] * 100, 7), ([50, 1, 1, 1], 5), ([2, 2], 9)]:
        cut = _windows(sizes, windows)
        assert len(cut) <= windows
        assert all(sum(end - start for _, (start, end) in w) <= -(-sum(sizes) // windows) for w in cut)
        sent = [0] * len(sizes)
        for w in cut:  # each wallet's share of a window continues where its last share ended
            for j, (start, end) in w:
                assert start == sent[j] < end
                sent[j] = end
        assert sent == sizes


def test_send_all_windows_of_single_transaction_wallets(tmp_path: Path) -> None:
    """Seven wallets sending one transaction each, at most three per window, every window mined as it
    is sent (as the scale demo's `PoolMiner.mine_now`): three blocks of at most three."""
    from xborder.chain import start_anvil
    with start_anvil(no_mining=True, log_path=tmp_path / "a.log") as node:
        w3 = web3(node)
        wallets = senders(w3, 7)
        receipts = send_all([(s, [Call(DEV.address(9), value=1)]) for s in wallets], window_txs=3,
                            after_window=lambda: rpc(w3, "evm_mine"))
        assert [len(r) for r in receipts] == [1] * 7 and all(r[0].status == 1 for r in receipts)
        blocks = [r[0].block_number for r in receipts]
        assert sorted(blocks.count(b) for b in set(blocks)) == [1, 3, 3]


def test_unreachable_node_is_a_chain_error() -> None:
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    with pytest.raises(ChainError, match="is the node running"):
        TxSender(w3, DEV.account(0), default_gas=21_000).send(Call(DEV.address(1), value=1))


# -- Ganache -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ganache_w3(ganache: LocalNode) -> Iterator[Web3]:
    yield web3(ganache)


@pytest.mark.ganache
def test_send_many_from_five_wallets_on_ganache(ganache_w3: Web3) -> None:
    transfers_from_five(ganache_w3)


@pytest.mark.ganache
def test_ganache_uses_eip1559_and_maps_errors(ganache_w3: Web3) -> None:
    sender = TxSender(ganache_w3, DEV.account(5), name="g", default_gas=21_000)
    assert sender.fees().eip1559
    assert sender.transact(Call(DEV.address(6), value=1)).status == 1
    poor = TxSender(ganache_w3, Account.create(), name="poor-g", default_gas=21_000)
    with pytest.raises(InsufficientFunds, match="wallet 'poor-g'.*balance 0 wei"):
        poor.send(Call(DEV.address(0), value=1))
    deployed = sender.transact(Call(None, bytes.fromhex(INIT[2:]), gas=200_000))
    with pytest.raises(TransactionRejected) as err:
        sender.transact(Call(deployed.contract_address, b"", gas=100_000))
    assert err.value.revert_data == bytes.fromhex("deadbeef")


@pytest.mark.ganache
def test_nonce_resync_on_ganache(ganache_w3: Web3) -> None:
    ours = TxSender(ganache_w3, DEV.account(7), default_gas=21_000)
    other = TxSender(ganache_w3, DEV.account(7), default_gas=21_000)
    wait_receipts(ganache_w3, ours.send_many([Call(DEV.address(1), value=1)] * 2))
    wait_receipts(ganache_w3, other.send_many([Call(DEV.address(1), value=1)] * 2))
    receipts = wait_receipts(ganache_w3, ours.send_many([Call(DEV.address(1), value=1)] * 3))
    assert all(r.status == 1 for r in receipts)
    assert ganache_w3.eth.get_transaction_count(Web3.to_checksum_address(DEV.address(7))) == ours.nonce
