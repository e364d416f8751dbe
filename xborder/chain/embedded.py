"""The embedded default chain: one anvil per data folder, started on demand, detached, with its
state saved in the data folder so it survives `xborder chain stop` / `start` and reboots."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from xborder.chain.launcher import LocalNode, NodeKind, rpc_call, start_anvil
from xborder.config import Settings
from xborder.errors import ChainError

log = logging.getLogger(__name__)

EMBEDDED_CHAIN_ID = 31337


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    rpc_url: str | None
    pid: int | None
    chain_id: int | None
    block_number: int | None
    state_path: str


def _node_file(settings: Settings) -> Path:
    return settings.chain_state_dir / "node.json"


def _state_path(settings: Settings) -> Path:
    return settings.chain_state_dir / "state.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def status(settings: Settings) -> EmbeddedStatus:
    path = _node_file(settings)
    if path.exists():
        info = json.loads(path.read_text())
        if _alive(info["pid"]):
            try:
                block = int(str(rpc_call(info["rpc_url"], "eth_blockNumber", timeout=2.0)), 16)
                return EmbeddedStatus(True, info["rpc_url"], info["pid"], info["chain_id"], block,
                                      str(_state_path(settings)))
            except Exception:  # a pid that lives but does not answer is not our node
                log.debug("pid %s alive but %s silent", info["pid"], info["rpc_url"])
    return EmbeddedStatus(False, None, None, None, None, str(_state_path(settings)))


def start(settings: Settings, port: int | None = None, block_time: float | None = None,
          gas_limit: int = 30_000_000, genesis_timestamp: int | None = None) -> EmbeddedStatus:
    """Start the embedded anvil unless it already runs; return its status.

    `block_time` None means automine (a block per transaction: best for interactive use);
    bulk loads (the demo) use a short block time, where anvil keeps up with thousands of
    transactions a second (see xborder.chain.sender)."""
    current = status(settings)
    if current.running:
        return current
    settings.chain_state_dir.mkdir(parents=True, exist_ok=True)
    node: LocalNode = start_anvil(
        port=port, chain_id=EMBEDDED_CHAIN_ID, state_path=_state_path(settings),
        log_path=settings.chain_state_dir / "anvil.log", detached=True,
        project_root=settings.project_root, block_time=block_time, gas_limit=gas_limit,
        extra_args=["--timestamp", str(genesis_timestamp)] if genesis_timestamp is not None else None,
    )
    info = {"kind": NodeKind.ANVIL.value, "pid": node.pid, "rpc_url": node.rpc_url,
            "port": node.port, "chain_id": node.chain_id}
    tmp = _node_file(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(_node_file(settings))
    log.info("embedded anvil started at %s (state in %s)", node.rpc_url, _state_path(settings))
    return status(settings)


def reset(settings: Settings) -> None:
    """Stop the embedded chain and forget its state (the demo starts from block 0)."""
    stop(settings)
    for path in (_state_path(settings), _node_file(settings)):
        path.unlink(missing_ok=True)


def stop(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the embedded anvil (it saves its state on SIGTERM). False if it was not running."""
    path = _node_file(settings)
    if not path.exists():
        return False
    info = json.loads(path.read_text())
    pid = int(info["pid"])
    was_running = _alive(pid)
    if was_running:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            raise ChainError(f"embedded anvil (pid {pid}) did not stop within {timeout:.0f}s; killed it")
    path.unlink(missing_ok=True)
    return was_running


def resolve_rpc_url(settings: Settings, autostart: bool = True) -> str:
    """The URL every command talks to: --rpc-url if given, else the embedded chain."""
    if settings.rpc_url:
        return settings.rpc_url
    current = status(settings)
    if current.running and current.rpc_url:
        return current.rpc_url
    if not autostart:
        raise ChainError("the embedded chain is not running: start it with `xborder chain start` "
                         "or pass --rpc-url")
    started = start(settings)
    assert started.rpc_url is not None
    return started.rpc_url


def describe(s: EmbeddedStatus) -> dict[str, object]:
    return asdict(s)
