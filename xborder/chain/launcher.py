"""Start a local anvil or Ganache on a free port, wait for it, and stop it without orphans.

A node started here is tied to the Python process that owns it three ways: the context manager
stops it on any exception (KeyboardInterrupt included), an `atexit` hook stops it on a normal
interpreter exit, and on Linux the kernel sends it SIGTERM if the owner dies (PR_SET_PDEATHSIG),
so even `kill -9` of the owner leaves nothing behind. `detached=True` is the exception: the
node outlives the command that started it.

An anvil started with `state_path` loads its chain from that file and `save_state()` writes it
back atomically (JSON-RPC `anvil_dumpState`, then write, fsync, rename): anvil's own dump
(`--state`, `--dump-state`) rewrites the file in place, so a reader or a crash in the middle of a
dump meets half a file. `stop()` saves before it stops the node.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import enum
import gzip
import json
import logging
import os
import platform
import re
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

from xborder.chain import scratch
from xborder.config import PROJECT_ROOT
from xborder.errors import ChainError
from xborder.files import write_atomically
from xborder.interrupts import stop_signals_to_default

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


def _detach() -> None:
    stop_signals_to_default()
    os.setsid()


def _die_with_parent() -> None:
    stop_signals_to_default()
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


def previous_state_path(state_path: Path) -> Path:
    """Where the snapshot before the current one stays (`state.json` -> `state.prev.json`)."""
    return state_path.with_name(f"{state_path.stem}.prev{state_path.suffix or '.json'}")


def dump_state(rpc_url: str, timeout: float = 300.0) -> bytes:
    """The chain of the anvil at `rpc_url` as the JSON `--load-state` reads (`anvil_dumpState`
    answers gzip; its CRC check means the bytes are whole)."""
    answer = str(rpc_call(rpc_url, "anvil_dumpState", timeout=timeout))
    try:
        content = gzip.decompress(bytes.fromhex(answer.removeprefix("0x")))
    except (ValueError, OSError, EOFError) as exc:
        raise ChainError(f"anvil_dumpState at {rpc_url} returned an unreadable dump: {exc}") from None
    if not (content.startswith(b"{") and content.rstrip().endswith(b"}")):
        raise ChainError(f"anvil_dumpState at {rpc_url} returned something other than a JSON state")
    return content


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
    #: anvil's folder of past states (`xborder.chain.scratch`), removed once the node is gone.
    cache_dir: Path | None = None
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

    def save_state(self, timeout: float = 300.0) -> int:
        """Write the chain to `state_path` atomically (anvil only); the size written.
        The snapshot it replaces stays as `previous_state_path(state_path)`."""
        if self.kind is not NodeKind.ANVIL or self.state_path is None:
            raise ChainError(f"{self.kind.value} on port {self.port} has no state file to save to")
        content = dump_state(self.rpc_url, timeout=timeout)
        write_atomically(self.state_path, content, keep_previous=previous_state_path(self.state_path))
        log.debug("saved %d bytes of chain state to %s", len(content), self.state_path)
        return len(content)

    def stop(self, timeout: float = 10.0, save_timeout: float = 300.0) -> None:
        """Stop the node: save its state (anvil with `state_path`), SIGTERM, then SIGKILL if it
        hangs. A failed save is logged; the previous snapshot stays in place."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._stop(timeout, save_timeout)
        finally:
            if not self.is_running():
                scratch.remove(self.cache_dir)

    def _stop(self, timeout: float, save_timeout: float) -> None:
        if not self.is_running():
            return
        if self.kind is NodeKind.ANVIL and self.state_path is not None:
            try:
                self.save_state(timeout=save_timeout)
            except (OSError, ChainError) as exc:
                log.error("could not save the state of anvil (pid %d) to %s before stopping it: %s",
                          self.pid, self.state_path, exc)
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


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE = re.compile(r"^(error|fatal|panic)\b|^\w*Error\b|panicked at", re.IGNORECASE)


def start_failure_reason(output: str, limit: int = 300) -> str:
    """The line of a node's output that says why it did not start: its first error line, else
    its last line; shortened to `limit` characters."""
    lines = [_ANSI.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "it printed nothing"
    reason = next((line for line in lines if _ERROR_LINE.search(line)), lines[-1])
    return reason if len(reason) <= limit else reason[:limit - 1] + "…"


def _output_since(path: Path | None, offset: int) -> str:
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(64_000).decode(errors="replace")


def _wait_until_ready(node: LocalNode, timeout: float, log_offset: int = 0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            where = f" (its output: {node.log_path})" if node.log_path else ""
            reason = start_failure_reason(_output_since(node.log_path, log_offset)) if node.log_path else \
                "no log kept"
            raise ChainError(f"{node.kind.value} exited with code {node.process.returncode} before "
                             f"answering on port {node.port}: {reason}{where}")
        try:
            rpc_call(node.rpc_url, "eth_chainId", timeout=1.0)
            return
        except (OSError, urllib.error.URLError, ChainError) as exc:
            last_error = exc
            time.sleep(0.05)
    node.stop()
    raise ChainError(f"{node.kind.value} did not answer on {node.rpc_url} within {timeout:.0f}s: {last_error}")


def _launch(kind: NodeKind, argv: list[str], port: int, chain_id: int, state_path: Path | None,
            log_path: Path | None, detached: bool, timeout: float,
            pass_fds: tuple[int, ...] = (), cache_dir: Path | None = None) -> LocalNode:
    log_offset = 0
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
        log_offset = out.tell()
    else:
        out = subprocess.DEVNULL  # type: ignore[assignment]
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, pass_fds=pass_fds,
            preexec_fn=_detach if detached else _die_with_parent,  # noqa: PLW1509
        )
    except BaseException:
        scratch.remove(cache_dir)
        raise
    finally:
        if log_path is not None:
            out.close()
    if cache_dir is not None:
        scratch.claim(cache_dir, process.pid)
    node = LocalNode(kind=kind, port=port, process=process, pid=process.pid, chain_id=chain_id,
                     state_path=state_path, log_path=log_path, cache_dir=cache_dir)
    if not detached:
        atexit.register(node.stop)
    try:
        _wait_until_ready(node, timeout, log_offset)
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
    exit_dump: Path | None = None, pass_fds: tuple[int, ...] = (), memory_states: int | None = None,
) -> LocalNode:
    """Start anvil. With `state_path`, the chain is loaded from that file if it exists, and
    `LocalNode.save_state()` / `stop()` write it back atomically, so it survives a restart.
    `exit_dump` is where anvil itself dumps the chain when it exits (in place: read it only
    once anvil is gone, and only if it is complete). `pass_fds` stay open in anvil. `memory_states`:
    keep only that many past blocks' states, in memory (`scratch.anvil_args`)."""
    port = port or free_port()
    argv = [str(_native_anvil(project_root)), "--port", str(port), "--chain-id", str(chain_id),
            "--accounts", str(accounts), "--mnemonic", mnemonic, "--gas-limit", str(gas_limit),
            "--balance", str(balance_ether), "--hardfork", "paris"]
    if base_fee is not None:
        argv += ["--block-base-fee-per-gas", str(base_fee)]
    if state_path is not None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        if state_path.exists():
            argv += ["--load-state", str(state_path)]
    if exit_dump is not None:
        # anvil also dumps every 60 s unless told otherwise: once a decade is as good as never.
        argv += ["--dump-state", str(exit_dump), "--state-interval", str(10 * 365 * 86400)]
    if block_time is not None:
        argv += ["--block-time", str(block_time)]
    if no_mining:
        argv += ["--no-mining"]
    argv += extra_args or []
    scratch.sweep()
    cache_dir = scratch.new_cache_dir()
    argv += scratch.anvil_args(cache_dir, memory_states)
    return _launch(NodeKind.ANVIL, argv, port, chain_id, state_path, log_path, detached, timeout, pass_fds,
                   cache_dir)


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
