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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from cli_helpers import HOSTILE_PARENT
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from xborder.chain import embedded
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.sender import TxSender
from xborder.chain.signer import Call
from xborder.config import PROJECT_ROOT, Settings
from xborder.wallets import DemoWallets

DEV = DemoWallets(mnemonic=DEV_MNEMONIC)
DOC = (PROJECT_ROOT / "docs" / "bad-inputs.md").read_text()


def documented(case: str, command: str, message: str, code: int) -> None:
    row = f"| {case} | {command} | {message} | {code} |"
    assert row in DOC, f"docs/bad-inputs.md should have the row:\n{row}"


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
    return int(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120})).eth.get_balance(
        Web3.to_checksum_address(address)))


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
    documented("embedded chain not answering (anvil stopped with `kill -STOP`)",
               "`xborder chain start` (or any command that needs the chain)",
               again.err.strip().replace(str(first["pid"]), "N"), 4)
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


def saved_head(state: Path) -> int:
    """The head block number state.json records (-1 if none yet)."""
    try:
        return int(json.loads(state.read_bytes()).get("best_block_number", -1))
    except (OSError, ValueError):
        return -1


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:.0f}s waiting for {what}"
        time.sleep(0.1)


def test_killing_the_keeper_loses_nothing_and_leaves_no_lock(data_dir: Path) -> None:
    """kill -9 of the process that owns anvil: anvil dies with it (dumping its chain as it
    exits), the lock goes with them, and the next start recovers everything confirmed."""
    first = json.loads(cli(data_dir, "chain", "start", "--json").out)
    receiver = transfer(str(first["rpc_url"]), 4242)
    os.kill(int(first["keeper_pid"]), signal.SIGKILL)
    wait_for(lambda: not anvils_on(data_dir / "chain"), 60, "anvil to die with its keeper")
    restarted = cli(data_dir, "chain", "start", "--json")
    assert restarted.code == 0, restarted.err
    second = json.loads(restarted.out)
    try:
        assert second["pid"] != first["pid"]
        assert balance(str(second["rpc_url"]), receiver) == 4242
    finally:
        assert cli(data_dir, "chain", "stop").code == 0


def _stop_bits(pid: int) -> tuple[int, int]:
    """The SIGINT/SIGTERM bits of `pid`'s ignored and blocked signal sets."""
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    stops = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    return int(fields["SigIgn"], 16) & stops, int(fields["SigBlk"], 16) & stops


def test_a_chain_started_in_the_background_stops_when_asked(data_dir: Path) -> None:
    """`xborder chain start` run as a background job (SIGINT and SIGTERM ignored and blocked, as
    `nohup` or a script's `&` leaves them): its keeper and anvil inherited that and slept through
    `chain stop`'s SIGTERM (a scale demo started that way could not be stopped within 300 s)."""
    started = subprocess.run([sys.executable, "-c", HOSTILE_PARENT, "-m", "xborder.cli.main", "--data-dir", str(data_dir),
                              "chain", "start", "--json"], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT,
                             env={**os.environ, "XBORDER_RPC_URL": ""})
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert _stop_bits(int(info["keeper_pid"])) == (0, 0)
        assert _stop_bits(int(info["pid"])) == (0, 0)
    finally:
        stopped = cli(data_dir, "chain", "stop", timeout=120)
    assert stopped.code == 0, stopped.err
    assert not anvils_on(data_dir / "chain")


def test_killing_anvil_keeps_the_last_snapshot_and_leaves_no_lock(data_dir: Path) -> None:
    """kill -9 of anvil itself: what the last snapshot holds survives, the keeper exits, the
    lock is free for the next start."""
    first = json.loads(cli(data_dir, "chain", "start", "--json").out)
    receiver = transfer(str(first["rpc_url"]), 777)
    head = int(Web3(Web3.HTTPProvider(str(first["rpc_url"]))).eth.block_number)
    state = data_dir / "chain" / "state.json"
    wait_for(lambda: saved_head(state) >= head, 120, "a snapshot holding the transfer")
    os.kill(int(first["pid"]), signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(int(first["keeper_pid"]))
             or psutil.Process(int(first["keeper_pid"])).status() == psutil.STATUS_ZOMBIE,
             60, "the keeper to notice")
    restarted = cli(data_dir, "chain", "start", "--json")
    assert restarted.code == 0, restarted.err
    try:
        assert balance(str(json.loads(restarted.out)["rpc_url"]), receiver) == 777
    finally:
        assert cli(data_dir, "chain", "stop").code == 0


def test_two_starts_at_once_make_one_node(data_dir: Path) -> None:
    runs = [subprocess.Popen([sys.executable, "-m", "xborder.cli.main", "--data-dir", str(data_dir),
                              "chain", "start", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=PROJECT_ROOT, env={**os.environ, "XBORDER_RPC_URL": ""})
            for _ in range(3)]
    try:
        answers = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in answers]
        assert len({json.loads(out)["pid"] for out, _ in answers}) == 1
        assert len(anvils_on(data_dir / "chain")) == 1
    finally:
        assert cli(data_dir, "chain", "stop").code == 0


def test_a_reader_never_sees_half_a_state_file(settings: Settings) -> None:
    """anvil's own dump rewrites state.json in place (a reader caught a half-written file on
    main); snapshots now replace it whole (a new file each time: a new inode). Transactions flow
    while snapshots are taken every 0.2 s and a reader parses the file over and over."""
    current = embedded.start(settings, snapshot_interval=0.2)
    state = Path(current.state_path)
    w3 = Web3(Web3.HTTPProvider(str(current.rpc_url), request_kwargs={"timeout": 120}))
    sender = TxSender(w3, DEV.account(0), default_gas=21_000)
    stop = threading.Event()
    complete: list[int] = []
    broken: list[str] = []
    inodes: set[int] = set()

    def read() -> None:
        while not stop.is_set():
            try:
                with open(state, "rb") as handle:
                    inodes.add(os.fstat(handle.fileno()).st_ino)
                    data = handle.read()
            except FileNotFoundError:
                continue
            try:
                complete.append(len(json.loads(data)["accounts"]))
            except (ValueError, KeyError) as exc:
                broken.append(f"{len(data)} bytes: {exc}")
            time.sleep(0.01)  # leave the sender some of the interpreter

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # The keeper snapshots only when the head moved, so keep blocks coming until it has replaced
        # the file a few times (a busy machine spaces snapshots out; a quiet one takes them fast).
        deadline = time.monotonic() + 600
        rounds = sent = 0
        while rounds < 4 or len(inodes) < 5:
            assert time.monotonic() < deadline, f"gave up after 600s: {len(inodes)} snapshots seen"
            hashes = sender.send_many([Call(Account.create().address, value=1) for _ in range(100 if rounds < 4 else 5)])
            sent += len(hashes)
            for tx_hash in hashes:
                w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=120)
            rounds += 1
            if rounds >= 4:
                time.sleep(0.5)
    finally:
        stop.set()
        reader.join()
        embedded.stop(settings)
    assert broken == [], f"{len(broken)} half-written reads of {len(broken) + len(complete)}: {broken[:3]}"
    assert len(complete) > 0 and len(inodes) >= 5
    # Everything sent is in the state a restart loads.
    restarted = embedded.start(settings)
    try:
        assert Web3(Web3.HTTPProvider(str(restarted.rpc_url))).eth.get_transaction_count(
            Web3.to_checksum_address(DEV.address(0))) == sent  # 400, and 5 per extra round a quiet machine needs
    finally:
        embedded.stop(settings)


def test_a_damaged_state_file_is_reported_in_one_line(data_dir: Path) -> None:
    chain_dir = data_dir / "chain"
    chain_dir.mkdir(parents=True)
    (chain_dir / "state.json").write_text('{"block": {"number": "0x1"}, "accounts": {"0x')
    run = cli(data_dir, "chain", "start")
    assert run.code == 4, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xborder: error: the embedded chain could not start: the saved "
                                                   f"chain state {chain_dir / 'state.json'} is not a complete "
                                                   "state file"), lines
    assert anvils_on(chain_dir) == []
    documented("embedded chain state file damaged (cut short)", "`xborder chain start`",
               lines[0].replace(str(data_dir), "…"), 4)
