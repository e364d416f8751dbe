"""The embedded chain never splits in two and never loses what it confirmed.

Each test drives the real `xborder` command line in child processes (the embedded anvil is
detached and outlives the command that started it) against a data folder of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from eth_account import Account
from web3 import Web3

from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.sender import Call, TxSender
from xborder.config import PROJECT_ROOT
from xborder.wallets import DemoWallets

DEV = DemoWallets(mnemonic=DEV_MNEMONIC)


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(data_dir: Path, *args: str, timeout: float = 300.0) -> Run:
    """`xborder --data-dir DATA_DIR ARGS` in a child process."""
    result = subprocess.run(
        [sys.executable, "-m", "xborder.cli.main", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT,
        env={**os.environ, "XBORDER_RPC_URL": ""})
    return Run(result.returncode, result.stdout, result.stderr)


def status(data_dir: Path) -> dict[str, object]:
    run = cli(data_dir, "chain", "status", "--json")
    assert run.code == 0, run.err
    return dict(json.loads(run.out))


def anvils_on(state_dir: Path) -> list[psutil.Process]:
    """Live anvil processes whose command line names a file in `state_dir`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            cmdline = proc.info["cmdline"] or []
            if (proc.info["status"] != psutil.STATUS_ZOMBIE and cmdline and cmdline[0].endswith("anvil")
                    and any(str(state_dir) in arg for arg in cmdline)):
                found.append(proc)
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / ".xborder"
    try:
        yield path
    finally:
        for proc in anvils_on(path / "chain"):  # whatever a failed test left behind
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)
                proc.kill()


def transfer(rpc_url: str, value: int) -> str:
    """A confirmed transfer of `value` wei from the first dev account to a fresh address."""
    receiver = Account.create().address
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
    receipt = TxSender(w3, DEV.account(0), default_gas=21_000).transact(Call(receiver, value=value))
    assert receipt.status == 1
    return str(receiver)


def balance(rpc_url: str, address: str) -> int:
    return int(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120})).eth.get_balance(address))


def test_a_stopped_node_is_not_replaced_and_loses_nothing(data_dir: Path) -> None:
    """The split of issue #13: a live anvil that does not answer (here: SIGSTOP, as a loaded
    machine can make it) must not get a second anvil on the same state, and a transfer it
    confirmed must survive `chain stop` / `chain start`."""
    started = cli(data_dir, "chain", "start", "--json")
    assert started.code == 0, started.err
    first = json.loads(started.out)
    receiver = transfer(str(first["rpc_url"]), 123_456_789)
    os.kill(int(first["pid"]), signal.SIGSTOP)
    try:
        again = cli(data_dir, "chain", "start")
        needs_chain = cli(data_dir, "wallet", "fund", "0x000000000000000000000000000000000000dEaD")
        survivors = anvils_on(data_dir / "chain")
    finally:
        leftover = [p for p in anvils_on(data_dir / "chain") if p.pid == int(first["pid"])]
    # No second node: the slow one is reported, with its pid, and the command fails (exit 4).
    assert [p.pid for p in survivors] == [int(first["pid"])], \
        f"a second anvil was started on the same state: {[p.cmdline() for p in survivors]}"
    for run in (again, needs_chain):
        assert run.code == 4, (run.code, run.out, run.err)
        last = run.err.strip().splitlines()[-1]
        assert last.startswith(f"xborder: error: the embedded chain (pid {first['pid']}) is not answering; "
                               "it is still running"), last
    assert leftover, "the stopped anvil vanished"
    # `chain stop` stops the stopped node too (it is continued so that it can save its state)...
    stopped = cli(data_dir, "chain", "stop")
    assert stopped.code == 0, stopped.err
    assert anvils_on(data_dir / "chain") == []
    # ...and the transfer it confirmed is there after a restart.
    restarted = cli(data_dir, "chain", "start", "--json")
    assert restarted.code == 0, restarted.err
    try:
        assert balance(str(json.loads(restarted.out)["rpc_url"]), receiver) == 123_456_789, \
            "a confirmed transfer was lost across chain stop / chain start"
    finally:
        assert cli(data_dir, "chain", "stop").code == 0
