"""Start a local anvil or Ganache on a free port, wait for it, and stop it without orphans.

A node started here is tied to the Python process that owns it three ways: the context manager
stops it on any exception (KeyboardInterrupt included), an `atexit` hook stops it on a normal
interpreter exit, and on Linux the kernel sends it SIGTERM if the owner dies (PR_SET_PDEATHSIG),
so even `kill -9` of the owner leaves nothing behind. `detached=True` is the exception: the
node outlives the command (`xborder chain start`) and is found again through its pid file.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import enum
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from xborder.config import PROJECT_ROOT
from xborder.errors import ChainError

log = logging.getLogger(__name__)

#: Demo and development accounts only: every key derived from it is public knowledge.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class NodeKind(enum.StrEnum):
    ANVIL = "anvil"
    GANACHE = "ganache"
    GETH = "geth"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _native_anvil(root: Path) -> Path:
    # The npm package's bin is a Node script that spawns the real binary; running the binary
    # directly means the pid we hold is the node itself, so stopping it cannot orphan anything.
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    native = root / "node_modules" / "@foundry-rs" / f"anvil-{sys.platform}-{arch}" / "bin" / "anvil"
    if native.exists():
        return native
    fallback = root / "node_modules" / ".bin" / "anvil"
    if fallback.exists():
        return fallback
    raise ChainError(f"anvil not found under {root / 'node_modules'}: run `npm ci` in {root}")


def _ganache_cli(root: Path) -> list[str]:
    script = root / "node_modules" / "ganache" / "dist" / "node" / "cli.js"
    if not script.exists():
        raise ChainError(f"ganache not found at {script}: run `npm ci` in {root}")
    return ["node", str(script)]


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setsid()


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ChainError(f"{method} failed at {url}: {reply['error'].get('message')}")
    return reply["result"]


@dataclass
class LocalNode:
    """A node process this package started."""

    kind: NodeKind
    port: int
    process: subprocess.Popen[bytes] | None
    pid: int
    chain_id: int
    state_path: Path | None = None
    log_path: Path | None = None
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the node: SIGTERM (anvil dumps its state then), then SIGKILL if it hangs."""
        if self._stopped:
            return
        self._stopped = True
        if not self.is_running():
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_running():
            if self.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.05)
            else:
                time.sleep(0.05)
        if self.is_running():
            log.warning("%s (pid %d) ignored SIGTERM; killing it", self.kind.value, self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(timeout=5)
        log.info("%s on port %d stopped", self.kind.value, self.port)

    def __enter__(self) -> LocalNode:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _wait_until_ready(node: LocalNode, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            output = node.log_path.read_text()[-2000:] if node.log_path and node.log_path.exists() else ""
            raise ChainError(f"{node.kind.value} exited with code {node.process.returncode} "
                             f"before answering on port {node.port}:\n{output}")
        try:
            rpc_call(node.rpc_url, "eth_chainId", timeout=1.0)
            return
        except (OSError, urllib.error.URLError, ChainError) as exc:
            last_error = exc
            time.sleep(0.05)
    node.stop()
    raise ChainError(f"{node.kind.value} did not answer on {node.rpc_url} within {timeout:.0f}s: {last_error}")


def _launch(kind: NodeKind, argv: list[str], port: int, chain_id: int, state_path: Path | None,
            log_path: Path | None, detached: bool, timeout: float) -> LocalNode:
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    else:
        out = subprocess.DEVNULL  # type: ignore[assignment]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        preexec_fn=os.setsid if detached else _die_with_parent,  # noqa: PLW1509
    )
    node = LocalNode(kind=kind, port=port, process=process, pid=process.pid, chain_id=chain_id,
                     state_path=state_path, log_path=log_path)
    if not detached:
        atexit.register(node.stop)
    try:
        _wait_until_ready(node, timeout)
    except BaseException:
        node.stop()
        raise
    log.info("%s started on %s (pid %d, chain id %d)", kind.value, node.rpc_url, node.pid, chain_id)
    return node


def launch(kind: NodeKind, argv: list[str], *, port: int, chain_id: int, log_path: Path | None = None,
           detached: bool = False, timeout: float = 30.0) -> LocalNode:
    """Start any node binary under the discipline above (free port chosen by the caller, wait
    until it answers `eth_chainId`, no orphans); the multi-node network starts its geth nodes here."""
    return _launch(kind, argv, port, chain_id, None, log_path, detached, timeout)


def start_anvil(
    *, port: int | None = None, chain_id: int = 31337, accounts: int = 10,
    mnemonic: str = DEV_MNEMONIC, state_path: Path | None = None, block_time: float | None = None,
    no_mining: bool = False, gas_limit: int = 30_000_000, base_fee: int | None = None,
    balance_ether: int = 10_000, log_path: Path | None = None, detached: bool = False,
    timeout: float = 30.0, project_root: Path = PROJECT_ROOT, extra_args: list[str] | None = None,
) -> LocalNode:
    """Start anvil. With `state_path`, the chain is loaded from and saved to that file
    (on a clean stop and every few seconds), so it survives a restart."""
    port = port or free_port()
    argv = [str(_native_anvil(project_root)), "--port", str(port), "--chain-id", str(chain_id),
            "--accounts", str(accounts), "--mnemonic", mnemonic, "--gas-limit", str(gas_limit),
            "--balance", str(balance_ether), "--hardfork", "paris"]
    if base_fee is not None:
        argv += ["--block-base-fee-per-gas", str(base_fee)]
    if state_path is not None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--state", str(state_path), "--state-interval", "5"]
    if block_time is not None:
        argv += ["--block-time", str(block_time)]
    if no_mining:
        argv += ["--no-mining"]
    argv += extra_args or []
    return _launch(NodeKind.ANVIL, argv, port, chain_id, state_path, log_path, detached, timeout)


def start_ganache(
    *, port: int | None = None, chain_id: int = 1337, accounts: int = 10,
    mnemonic: str = DEV_MNEMONIC, state_path: Path | None = None, gas_limit: int = 30_000_000,
    balance_ether: int = 10_000, log_path: Path | None = None, detached: bool = False,
    timeout: float = 60.0, project_root: Path = PROJECT_ROOT, extra_args: list[str] | None = None,
) -> LocalNode:
    """Start Ganache 7 (hardfork merge: it has no Shanghai). With `state_path` (a folder) its
    database persists there."""
    port = port or free_port()
    argv = _ganache_cli(project_root) + [
        "--server.port", str(port), "--server.host", "127.0.0.1", "--chain.chainId", str(chain_id),
        "--chain.networkId", str(chain_id), "--hardfork", "merge",
        "--wallet.totalAccounts", str(accounts), "--wallet.mnemonic", mnemonic,
        "--wallet.defaultBalance", str(balance_ether), "--miner.blockGasLimit", str(gas_limit),
        "--chain.vmErrorsOnRPCResponse", "true", "--logging.quiet", "true"]
    if state_path is not None:
        state_path.mkdir(parents=True, exist_ok=True)
        argv += ["--database.dbPath", str(state_path)]
    argv += extra_args or []
    return _launch(NodeKind.GANACHE, argv, port, chain_id, state_path, log_path, detached, timeout)
