"""The embedded chain's keeper: the small detached process that owns the anvil of a data folder.

`xborder chain start` (`xborder.chain.embedded.start`) takes the folder's lock and `spawn`s
`python -m xborder.chain.keeper keep CONFIG`, handing it the lock's fd and a pipe. The keeper
holds the lock, starts anvil (which inherits the lock and dies with its keeper: PR_SET_PDEATHSIG),
writes `node.json`, reports one JSON line on the pipe, then snapshots the chain (JSON-RPC
`anvil_dumpState`, written with write-fsync-rename) whenever the head moved, at most every
`snapshot_interval` seconds (and SNAPSHOT_SPACING times as long as the last snapshot took). On
SIGTERM it saves a last snapshot and stops anvil. Before starting anvil it promotes anvil's own
exit dump if that is complete and not older than the last snapshot. See docs/embedded-chain.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from xborder.chain.launcher import (
    LocalNode,
    NodeKind,
    previous_state_path,
    rpc_call,
    start_anvil,
    start_failure_reason,
)
from xborder.config import PROJECT_ROOT
from xborder.errors import ChainError, XborderError
from xborder.files import write_atomically
from xborder.interrupts import STOP_SIGNALS

log = logging.getLogger(__name__)

EMBEDDED_CHAIN_ID = 31337
#: Seconds between two looks at the head; a snapshot follows when it moved.
SNAPSHOT_INTERVAL = 2.0
#: After a snapshot that took t seconds, the next look waits at least SNAPSHOT_SPACING * t.
SNAPSHOT_SPACING = 4.0
#: The spacing during a bulk load (`BULK_LOAD_MARKER`): a snapshot takes at most a 21st of the time.
BULK_LOAD_SPACING = 20.0
#: How long `chain start` waits for a new node (loading a large state on a busy machine is slow).
START_TIMEOUT = 180.0
#: How long `chain stop` waits for the last snapshot and the node's exit.
STOP_TIMEOUT = 300.0
#: While this file exists in the chain folder (a bulk load: `xborder.chain.embedded.bulk_load`),
#: snapshots are spaced BULK_LOAD_SPACING times as long as the last one took (SNAPSHOT_SPACING
#: otherwise). anvil works for a snapshot and answers nothing else meanwhile: on the 2022-scale
#: demo's chain they took up to 227 s (2.7 GB) each, a fifth of the load at SNAPSHOT_SPACING.
#: A node killed outright loses at most what was sent since the last snapshot, as always; a
#: clean `chain stop` (SIGTERM) saves a last one.
BULK_LOAD_MARKER = "bulk-load"


def bulk_loading(folder: Path) -> bool:
    return (folder / BULK_LOAD_MARKER).exists()


def exit_dump_path(state_path: Path) -> Path:
    """Where anvil dumps its own state as it exits (next to the snapshot)."""
    return state_path.with_name("state.exit.json")


def probe(rpc_url: str | None, timeout: float) -> int | None:
    """The node's head block number, or None if it does not answer within `timeout`."""
    if not rpc_url:
        return None
    try:
        return int(str(rpc_call(rpc_url, "eth_blockNumber", timeout=timeout)), 16)
    except (OSError, ValueError, ChainError):
        return None


# -- starting the keeper (the command's side) --------------------------------------------------

def spawn(folder: Path, config: dict[str, Any], lock: int, timeout: float) -> None:
    """Start the keeper of `folder` (passing it the lock's fd) and wait for its report: ChainError
    if it failed, or is still starting after `timeout`."""
    ready_read, ready_write = os.pipe()
    config = {**config, "ready_fd": ready_write}
    package_parent = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}
    with open(folder / "keeper.log", "ab") as out:
        offset = out.tell()
        keeper = subprocess.Popen(
            [sys.executable, "-m", "xborder.chain.keeper", "keep", json.dumps(config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, pass_fds=(lock, ready_write),
            start_new_session=True, cwd=folder, env=env)
    os.close(ready_write)
    try:
        message = _read_ready(ready_read, keeper, timeout)
    finally:
        os.close(ready_read)
    if message is None:
        if keeper.poll() is None:
            raise ChainError(
                f"the embedded chain (keeper pid {keeper.pid}) did not answer within {timeout:.0f}s; it "
                "is still starting (a large state on a busy machine loads slowly): check "
                "`xborder chain status` in a moment")
        with open(folder / "keeper.log", "rb") as handle:
            handle.seek(offset)
            output = handle.read(64_000).decode(errors="replace")
        raise ChainError(f"the embedded chain could not start: {start_failure_reason(output)} "
                         f"(see {folder / 'keeper.log'})")
    if not message.get("ok"):
        raise ChainError(f"the embedded chain could not start: {message.get('error')}")


def _read_ready(fd: int, keeper: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
    """The keeper's one-line report, or None if it exited without one or took too long."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.2)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if data.endswith(b"\n"):
                break
    if not data.strip():
        return None
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


# -- the keeper's life ---------------------------------------------------------------------------

def _state_head(content: bytes) -> int:
    """The head block number a state file records (-1 if it records none)."""
    data = json.loads(content)
    head = data.get("best_block_number") if isinstance(data, dict) else None
    if head is None and isinstance(data, dict) and isinstance(data.get("block"), dict):
        head = int(str(data["block"].get("number", "-0x1")), 16)
    return int(head) if head is not None else -1


def _recover_exit_dump(state: Path) -> bool:
    """anvil's own exit dump (written in place) replaces the last snapshot if it is complete
    and not older; a half-written one is moved aside. Only called with the lock held, so no
    anvil is writing it. True if `state` was just written from a complete dump."""
    dump = exit_dump_path(state)
    if not dump.exists():
        return False
    content = dump.read_bytes()
    try:
        head = _state_head(content)
    except ValueError as exc:
        aside = dump.with_name(f"state.exit.broken-{int(time.time())}.json")
        dump.rename(aside)
        log.warning("anvil's exit dump was incomplete (%s); kept the last snapshot, moved it to %s", exc, aside)
        return False
    try:
        saved = _state_head(state.read_bytes()) if state.exists() else -2
    except ValueError:
        saved = -2
    promoted = head >= saved
    if promoted:
        write_atomically(state, content, keep_previous=previous_state_path(state))
        log.info("recovered anvil's exit dump (head %d; last snapshot had %d)", head, saved)
    dump.unlink()
    return promoted


def _check_state(state: Path) -> None:
    if not state.exists():
        return
    try:
        _state_head(state.read_bytes())
    except (ValueError, AttributeError, TypeError) as exc:
        previous = previous_state_path(state)
        hint = (f"the snapshot before it is {previous}: move the damaged file aside and copy that "
                "one to state.json" if previous.exists() else "move it aside to start an empty chain")
        raise ChainError(f"the saved chain state {state} is not a complete state file ({exc}); {hint} "
                         "(docs/embedded-chain.md)") from None


def _snapshots(node: LocalNode, state: Path, interval: float, stopping: threading.Event) -> None:
    """Until told to stop (or anvil exits): snapshot the state whenever the head moved, spaced
    by the last snapshot's duration (wider during a bulk load: `BULK_LOAD_MARKER`)."""
    saved_head = probe(node.rpc_url, 30.0) if state.exists() else None
    wait = interval
    while not stopping.wait(wait):
        wait = interval
        if not node.is_running():
            log.error("anvil (pid %d) exited on its own; the state is the last snapshot", node.pid)
            break
        head = probe(node.rpc_url, max(30.0, interval))
        if head is None:
            log.warning("anvil (pid %d) is not answering; will try again", node.pid)
            continue
        if head == saved_head:
            continue
        try:
            started = time.monotonic()
            size = node.save_state()
            saved_head = head
            took = time.monotonic() - started
        except (OSError, ChainError) as exc:
            log.warning("snapshot failed (the previous one stays): %s", exc)
            continue
        # A large chain takes long to dump (90 MB: ~13 s on a busy 2-core machine), and anvil
        # works for it: space snapshots so that they take at most a fifth of the time (a 21st
        # during a bulk load).
        wait = max(interval, (BULK_LOAD_SPACING if bulk_loading(state.parent) else SNAPSHOT_SPACING) * took)
        (log.info if took > interval else log.debug)(
            "snapshot at block %d: %d bytes in %.1fs; next look in %.0fs", head, size, took, wait)


def _keep(config: dict[str, Any]) -> int:
    """The keeper's life: start anvil, report, snapshot, and on SIGTERM save and stop."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s keeper[%(process)d]: %(message)s")
    folder = Path(config["folder"])
    state = folder / "state.json"
    interval = float(config["snapshot_interval"])
    ready_fd = int(config["ready_fd"])
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # started by a command that was started in the background, it inherited them blocked
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def report(message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            os.write(ready_fd, (json.dumps(message) + "\n").encode())
            os.close(ready_fd)

    try:
        if not _recover_exit_dump(state):
            _check_state(state)
        timestamp = config.get("genesis_timestamp")
        node: LocalNode = start_anvil(
            port=config.get("port"), chain_id=EMBEDDED_CHAIN_ID, state_path=state,
            exit_dump=exit_dump_path(state), log_path=folder / "anvil.log",
            project_root=Path(config.get("project_root") or PROJECT_ROOT),
            block_time=config.get("block_time"), no_mining=bool(config.get("no_mining")),
            gas_limit=int(config["gas_limit"]),
            extra_args=["--timestamp", str(timestamp)] if timestamp is not None else None,
            pass_fds=(int(config["lock_fd"]),), timeout=START_TIMEOUT,
            memory_states=config.get("memory_states"))
    except (XborderError, OSError) as exc:
        log.error("%s", exc)
        report({"ok": False, "error": str(exc)})
        return 1
    info = {"kind": NodeKind.ANVIL.value, "pid": node.pid, "keeper_pid": os.getpid(), "rpc_url": node.rpc_url,
            "port": node.port, "chain_id": node.chain_id, "state_path": str(state),
            "snapshot_interval": interval}
    write_atomically(folder / "node.json", json.dumps(info).encode())
    log.info("anvil (pid %d) answers at %s; snapshots to %s", node.pid, node.rpc_url, state)
    report({"ok": True, **info})

    _snapshots(node, state, interval, stopping)
    node.stop(timeout=STOP_TIMEOUT)  # saves a last snapshot, then SIGTERM
    _node_file_path = folder / "node.json"
    _node_file_path.unlink(missing_ok=True)
    log.info("stopped")
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "keep":
        sys.exit(_keep(json.loads(sys.argv[2])))
    sys.exit("usage: python -m xborder.chain.keeper keep CONFIG-JSON (started by `xborder chain start`)")
