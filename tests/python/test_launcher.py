"""The launcher leaves no process behind, persists state, and checks the chain it talks to."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from eth_account import Account
from web3 import Web3

from xborder.chain import LocalNode, connect, free_port, start_anvil, start_ganache
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.sender import TxSender
from xborder.chain.signer import Call
from xborder.config import PROJECT_ROOT
from xborder.errors import ChainError, ChainIdMismatch
from xborder.wallets import DemoWallets

DEV = DemoWallets(mnemonic=DEV_MNEMONIC)


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_never_port_8545() -> None:
    with start_anvil() as node:
        assert node.port != 8545


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_no_process_left_after_exception(error: BaseException) -> None:
    seen: list[LocalNode] = []
    with pytest.raises(type(error)), start_anvil() as node:
        seen.append(node)
        assert node.is_running() and not port_closed(node.port)
        raise error
    node = seen[0]
    assert wait_for(lambda: gone(node.pid)), f"anvil pid {node.pid} still alive"
    assert wait_for(lambda: port_closed(node.port))


def test_no_process_left_when_owner_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from xborder.chain import start_anvil
        node = start_anvil()
        print(node.pid, node.port, flush=True)
        time.sleep(120)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pid, port = map(int, owner.stdout.readline().split())
        assert not gone(pid) and not port_closed(port)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        assert wait_for(lambda: gone(pid)), f"anvil pid {pid} survived its owner's SIGKILL"
        assert wait_for(lambda: port_closed(port))
    finally:
        owner.kill()
        owner.wait()


def test_anvil_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "chain" / "state.json"
    receiver = Account.create().address
    with start_anvil(state_path=state) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        sender = TxSender(w3, DEV.account(0), default_gas=21_000)
        assert sender.transact(Call(receiver, value=123_456)).status == 1
        block = w3.eth.block_number
    assert state.exists()
    with start_anvil(state_path=state) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.get_balance(receiver) == 123_456
        assert w3.eth.get_transaction_count(DEV.address(0)) == 1
        assert w3.eth.block_number >= block


@pytest.mark.ganache
def test_ganache_state_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "ganache-db"
    receiver = Account.create().address
    with start_ganache(state_path=db) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert TxSender(w3, DEV.account(0), default_gas=21_000).transact(Call(receiver, value=77)).status == 1
    with start_ganache(state_path=db) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.get_balance(receiver) == 77
        assert w3.eth.get_transaction_count(DEV.address(0)) == 1


def test_chain_id_mismatch_is_explained(anvil: LocalNode) -> None:
    assert connect(anvil.rpc_url, expected_chain_id=31337).eth.chain_id == 31337
    with pytest.raises(ChainIdMismatch) as err:
        connect(anvil.rpc_url, expected_chain_id=1337)
    message = str(err.value)
    assert "serves chain id 31337, expected 1337" in message and anvil.rpc_url in message
    assert "--chain-id" in message


def test_unreachable_url_is_a_chain_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match="no Ethereum node answers at"):
        connect(url, timeout=2)
    with pytest.raises(ChainError, match="must start with http"):
        connect("ws://127.0.0.1:1")


def test_a_start_failure_says_why_in_one_short_line(tmp_path: Path) -> None:
    """The anvil log is shared by every start in a data folder: a failed start must name its own
    reason, not paste the tail of earlier runs (issue #13, item 6)."""
    log_path = tmp_path / "anvil.log"
    log_path.write_text("".join(f"earlier run, line {i}: eth_blockNumber\n" for i in range(500)))
    damaged = tmp_path / "state.json"
    damaged.write_text('{"block": {"number": "0x1"}, "accounts": {"0x')
    with pytest.raises(ChainError) as err:
        start_anvil(state_path=damaged, log_path=log_path)
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    assert "earlier run" not in message
    assert "exited with code" in message and str(damaged) in message and "EOF while parsing" in message, message
    assert str(log_path) in message  # where the whole output is
