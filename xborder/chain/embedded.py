"""The embedded default chain: one anvil per data folder, started on demand, detached, with its
state saved in the data folder so it survives `xborder chain stop` / `start` and reboots.

One node per data folder, whatever happens. A slow node is not a dead node: a node that does not
answer is reported (exit 4), never replaced by a second one on the same state.

    <data-dir>/chain/lock             flock: held by the keeper and its anvil while either lives;
                                      the kernel drops it when both are gone (kill -9 included)
    <data-dir>/chain/node.json        where the node answers (written by the keeper, atomically)
    <data-dir>/chain/state.json       the chain as of the last snapshot: only ever replaced whole
    <data-dir>/chain/state.prev.json  the snapshot before it
    <data-dir>/chain/state.exit.json  anvil's own dump as it exits (in place); the next start
                                      promotes it only if it is complete and not older
    <data-dir>/chain/anvil.log, keeper.log

This module is the commands' side: status, start (take the lock, spawn the keeper), stop, reset
and the URL every command talks to. The keeper (`xborder.chain.keeper`, run detached as
`python -m xborder.chain.keeper keep`) owns anvil, the snapshots and anvil's exit dump.
See docs/embedded-chain.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xborder.chain.keeper import (
    BULK_LOAD_MARKER,
    EMBEDDED_CHAIN_ID,
    SNAPSHOT_INTERVAL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    exit_dump_path,
    probe,
    spawn,
)
from xborder.chain.launcher import previous_state_path, rpc_call
from xborder.chain.pids import alive
from xborder.config import Settings
from xborder.errors import ChainError

log = logging.getLogger(__name__)

__all__ = ["ANSWER_TIMEOUT", "EMBEDDED_CHAIN_ID", "PROBE_TIMEOUT", "START_TIMEOUT", "STOP_TIMEOUT", "EmbeddedStatus",
           "describe", "reset", "resolve_rpc_url", "start", "status", "stop"]

#: How long a command waits for a running but silent node before it reports it (exit 4).
ANSWER_TIMEOUT = 15.0
#: One probe of a node (eth_blockNumber).
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class EmbeddedStatus:
    #: A node owns the data folder (its lock is held), answering or not.
    running: bool
    rpc_url: str | None
    #: anvil's pid.
    pid: int | None
    chain_id: int | None
    block_number: int | None
    state_path: str
    #: It answered eth_blockNumber just now.
    answering: bool = False
    #: The process that owns anvil and snapshots its state.
    keeper_pid: int | None = None


# -- files ------------------------------------------------------------------------------------

def _folder(settings: Settings) -> Path:
    return settings.chain_state_dir


def _node_file(settings: Settings) -> Path:
    return _folder(settings) / "node.json"


def _state_path(settings: Settings) -> Path:
    return _folder(settings) / "state.json"


def _read_node_file(settings: Settings) -> dict[str, Any] | None:
    try:
        data = json.loads(_node_file(settings).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _signal(pid: int | None, sig: signal.Signals) -> None:
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


# -- the lock ---------------------------------------------------------------------------------

def _try_lock(settings: Settings, mode: int = fcntl.LOCK_EX) -> int | None:
    """An fd holding the data folder's lock, or None if a node holds it."""
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _lock_held(settings: Settings) -> bool:
    if not _folder(settings).is_dir():
        return False
    fd = _try_lock(settings, fcntl.LOCK_SH)
    if fd is None:
        return True
    os.close(fd)
    return False


def _legacy_pid(settings: Settings) -> int | None:
    """An anvil started by an xborder from before the lock (no keeper), still running on this
    data folder's state."""
    info = _read_node_file(settings)
    if not info or "keeper_pid" in info or not alive(info.get("pid")):
        return None
    try:
        cmdline = Path(f"/proc/{int(info['pid'])}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return int(info["pid"]) if str(_state_path(settings)).encode() in cmdline else None


# -- status -----------------------------------------------------------------------------------

def status(settings: Settings, probe_timeout: float = PROBE_TIMEOUT) -> EmbeddedStatus:
    """What runs on this data folder. `running` means a node owns it (its lock is held), even if
    it does not answer within `probe_timeout` (`answering` False): slow is not dead."""
    state = str(_state_path(settings))
    if not _lock_held(settings):
        legacy = _legacy_pid(settings)
        if legacy is None:
            return EmbeddedStatus(False, None, None, None, None, state)
        old = _read_node_file(settings) or {}
        block = probe(old.get("rpc_url"), probe_timeout)
        return EmbeddedStatus(True, old.get("rpc_url"), legacy, old.get("chain_id"), block, state,
                              answering=block is not None)
    info = _read_node_file(settings)
    if info is None:  # the keeper is starting the node
        return EmbeddedStatus(True, None, None, EMBEDDED_CHAIN_ID, None, state)
    block = probe(info.get("rpc_url"), probe_timeout)
    return EmbeddedStatus(True, info.get("rpc_url"), info.get("pid"), info.get("chain_id"), block, state,
                          answering=block is not None, keeper_pid=info.get("keeper_pid"))


def _not_answering(current: EmbeddedStatus, waited: float) -> ChainError:
    if current.pid is None:
        return ChainError(
            f"the embedded chain is still starting after {waited:.0f}s (another command is starting "
            f"it; see {Path(current.state_path).parent / 'keeper.log'}): run the command again in a "
            "moment, or check `xborder chain status`")
    return ChainError(
        f"the embedded chain (pid {current.pid}) is not answering; it is still running, so no second "
        f"node is started on its state (waited {waited:.0f}s): the machine may be busy, or the "
        f"process stopped (`kill -CONT {current.pid}`); wait and try again, or `xborder chain stop` "
        "(it saves the state first)")


def _wait_answering(settings: Settings, timeout: float) -> EmbeddedStatus:
    """The status once the running node answers; `running` False if none runs (any more)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        current = status(settings, probe_timeout=max(0.5, min(5.0, remaining)))
        if current.answering or not current.running:
            return current
        if remaining <= 0:
            raise _not_answering(current, timeout)
        time.sleep(0.2)


# -- start ------------------------------------------------------------------------------------

def start(settings: Settings, port: int | None = None, block_time: float | None = None,
          gas_limit: int = 30_000_000, genesis_timestamp: int | None = None, *,
          snapshot_interval: float = SNAPSHOT_INTERVAL, answer_timeout: float = ANSWER_TIMEOUT,
          timeout: float = START_TIMEOUT, memory_states: int | None = None,
          no_mining: bool = False) -> EmbeddedStatus:
    """Start the embedded anvil unless a node already owns the data folder; return its status.

    A node that owns the folder but does not answer within `answer_timeout` is reported
    (ChainError, exit 4), never replaced. `block_time` None means automine (a block per
    transaction: best for interactive use); bulk loads (the demo) use a short block time.
    `memory_states`: anvil keeps only that many past blocks' states, in memory (a bulk load on a
    large chain: `scratch.BULK_LOAD_STATES`); None: anvil's default history, bounded on disk.
    `no_mining`: anvil mines only when asked (`evm_mine`; `xborder.chain.miner.PoolMiner`) until
    `mine_on_demand` turns automine on (a later `xborder chain start` of the folder automines)."""
    deadline = time.monotonic() + answer_timeout
    while True:
        lock = _try_lock(settings)
        if lock is not None:
            break
        current = _wait_answering(settings, max(0.0, deadline - time.monotonic()))
        if current.running:
            return current
    try:
        legacy = _legacy_pid(settings)
        if legacy is not None:
            raise ChainError(
                f"an embedded anvil (pid {legacy}) started by an older xborder still runs on "
                f"{_state_path(settings)}: stop it first with `xborder chain stop`")
        _node_file(settings).unlink(missing_ok=True)
        config = {"folder": str(_folder(settings)), "project_root": str(settings.project_root),
                  "port": port, "block_time": block_time, "gas_limit": gas_limit,
                  "genesis_timestamp": genesis_timestamp, "snapshot_interval": snapshot_interval,
                  "memory_states": memory_states, "no_mining": no_mining, "lock_fd": lock}
        spawn(_folder(settings), config, lock, timeout)
    finally:
        os.close(lock)
    current = status(settings, probe_timeout=30.0)
    log.info("embedded anvil started at %s (state in %s)", current.rpc_url, current.state_path)
    return current


def bulk_load(settings: Settings, loading: bool) -> None:
    """Tell the keeper that a bulk load runs (`loading`: snapshots spaced wider until it ends; see
    `xborder.chain.keeper.BULK_LOAD_MARKER`) or has ended (the usual spacing from the next one)."""
    marker = _folder(settings) / BULK_LOAD_MARKER
    if loading:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def mine_on_demand(rpc_url: str) -> None:
    """Stop the embedded anvil's interval mining: from now on a block per transaction, as a chain
    started without `block_time` (and every restart of it) mines. A bulk load ends with this: left
    at 0.2 s blocks, a finished demo's anvil kept most of a core busy mining empty blocks, and its
    keeper re-saved the whole state (200 MB after `make demo`) each time the head moved."""
    rpc_call(rpc_url, "evm_setIntervalMining", [0])
    rpc_call(rpc_url, "evm_setAutomine", [True])


# -- stop -------------------------------------------------------------------------------------

def _wait_unlocked(settings: Settings, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not _lock_held(settings):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _stop_legacy(settings: Settings, timeout: float) -> bool:
    """No keeper holds the lock: stop an old-style anvil (which dumps its own state on SIGTERM), if any."""
    legacy = _legacy_pid(settings)
    if legacy is None:
        _node_file(settings).unlink(missing_ok=True)
        return False
    _signal(legacy, signal.SIGCONT)
    _signal(legacy, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(legacy) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(legacy):
        raise ChainError(f"the embedded anvil (pid {legacy}) did not stop within {timeout:.0f}s")
    _node_file(settings).unlink(missing_ok=True)
    return True


def stop(settings: Settings, timeout: float = STOP_TIMEOUT, force: bool = False) -> bool:
    """Stop the embedded chain; False if none was running.

    The keeper saves a last snapshot, then stops anvil. A stopped (SIGSTOP) node is continued
    first so that it can answer. If it has not stopped within `timeout`, ChainError (exit 4)
    unless `force`: then it is killed, and what happened after the last snapshot is lost."""
    if not _folder(settings).is_dir():
        return False
    if not _lock_held(settings):
        return _stop_legacy(settings, timeout)
    info = _read_node_file(settings) or {}
    deadline = time.monotonic() + timeout
    while not info and _lock_held(settings) and time.monotonic() < deadline:  # still starting
        time.sleep(0.2)
        info = _read_node_file(settings) or {}
    anvil_pid, keeper_pid = info.get("pid"), info.get("keeper_pid")
    for pid in (anvil_pid, keeper_pid):
        _signal(pid, signal.SIGCONT)
    if alive(keeper_pid):
        _signal(keeper_pid, signal.SIGTERM)
    elif alive(anvil_pid):  # the keeper died; anvil (which dies with it) is on its way out
        _signal(anvil_pid, signal.SIGTERM)
    if _wait_unlocked(settings, max(0.0, deadline - time.monotonic())):
        return True
    if not force:
        raise ChainError(
            f"the embedded chain (pid {anvil_pid}) did not stop within {timeout:.0f}s; it is still "
            "running (saving its state, or not answering): wait and run `xborder chain stop` again, "
            "or `xborder chain stop --force` to kill it (what happened after the last snapshot in "
            f"{_state_path(settings)} is then lost)")
    for pid in (anvil_pid, keeper_pid):
        _signal(pid, signal.SIGKILL)
    if not _wait_unlocked(settings, 30.0):
        raise ChainError(f"the embedded chain (pid {anvil_pid}) survived SIGKILL: check `ps`")
    _node_file(settings).unlink(missing_ok=True)
    log.warning("killed the embedded chain (pid %s); its state is the last snapshot", anvil_pid)
    return True


def reset(settings: Settings) -> None:
    """Stop the embedded chain and forget its state (the demo starts from block 0)."""
    stop(settings)
    lock = _try_lock(settings)
    if lock is None:
        raise ChainError("the embedded chain was started again while it was being reset: stop it first")
    try:
        state = _state_path(settings)
        for path in (state, previous_state_path(state), exit_dump_path(state), _node_file(settings)):
            path.unlink(missing_ok=True)
    finally:
        os.close(lock)


def resolve_rpc_url(settings: Settings, autostart: bool = True,
                    answer_timeout: float = ANSWER_TIMEOUT) -> str:
    """The URL every command talks to: --rpc-url if given, else the embedded chain (started if
    `autostart`). A running node that does not answer is reported (exit 4), never replaced."""
    if settings.rpc_url:
        return settings.rpc_url
    if autostart:
        current = start(settings, answer_timeout=answer_timeout)
    else:
        current = _wait_answering(settings, answer_timeout)
        if not current.running:
            raise ChainError("the embedded chain is not running: start it with `xborder chain start` "
                             "or pass --rpc-url")
    assert current.rpc_url is not None
    return current.rpc_url


def describe(s: EmbeddedStatus) -> dict[str, object]:
    return asdict(s)
