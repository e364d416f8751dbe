"""One geth node of the local network: the binary, `init_network` (keys, genesis, `geth init` of
every node), each node's command line and p2p config, and its processes found by data folder in
/proc (`running_pids`, so a detached node is found again even if the `up` that started it died).

`xborder.chain.network.geth.Network` runs them together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomli_w

from xborder.chain.launcher import free_port
from xborder.chain.network.genesis import clique_genesis
from xborder.chain.network.keys import new_node_key, new_sealer
from xborder.chain.network.spec import GENESIS_FILE, NetworkSpec, NodeSpec
from xborder.errors import ChainError, ConfigurationError, ValidationError

log = logging.getLogger(__name__)

GETH_VERSION = "1.13.15"
DEFAULT_CHAIN_ID = 20190
DEFAULT_PERIOD = 2
DEFAULT_GAS_LIMIT = 30_000_000
HTTP_APIS = "eth,net,web3,txpool,clique"
#: unix sockets hold at most 107 bytes of path
_MAX_IPC_PATH = 100


def geth_binary(project_root: Path) -> Path:
    binary = project_root / ".tools" / "bin" / "geth"
    if not binary.exists():
        raise ChainError(f"geth not found at {binary}: run `make deps` in {project_root} "
                         f"(it builds geth {GETH_VERSION} with Go)")
    return binary


def geth_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise ChainError(f"`{binary} version` printed no version: {out[:200]!r}")


# -- init --------------------------------------------------------------------------------------

def _parse_validators(nodes: int, validators: Sequence[int] | None) -> set[int]:
    chosen = set(validators) if validators else set(range(1, nodes + 1))
    bad = sorted(v for v in chosen if not 1 <= v <= nodes)
    if bad:
        raise ValidationError(f"--validators: node(s) {bad} do not exist in a {nodes}-node network",
                              field="--validators", value=sorted(chosen), allowed=f"node numbers 1 to {nodes}")
    return chosen


def free_ports(count: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in taken and port not in ports:
            ports.append(port)
    return ports


def init_network(root: Path, *, nodes: int, project_root: Path, validators: Sequence[int] | None = None,
                 chain_id: int = DEFAULT_CHAIN_ID, period: int = DEFAULT_PERIOD,
                 gas_limit: int = DEFAULT_GAS_LIMIT, free_gas: bool = False,
                 alloc: Mapping[str, int] | None = None) -> NetworkSpec:
    """Create the network in `root`: keys, genesis, `geth init` of every node. Refuses an
    existing network (its keys are never replaced)."""
    if not 1 <= nodes <= 64:
        raise ValidationError(f"--nodes: {nodes} is out of range", field="--nodes", value=nodes,
                              allowed="1 to 64 nodes")
    if NetworkSpec.exists(root):
        raise ConfigurationError(f"a network already exists in {root}: `xborder network status` shows it; "
                                 "remove the folder (after `xborder network down`) to create another")
    chosen = _parse_validators(nodes, validators)
    binary = geth_binary(project_root)
    version = geth_version(binary)
    # Validate every parameter before writing anything.
    clique_genesis(chain_id=chain_id, signers=["0x" + "11" * 20], period=period, gas_limit=gas_limit,
                   free_gas=free_gas, alloc=alloc or {})
    if root.exists() and any(root.iterdir()):
        raise ConfigurationError(f"{root} is not empty but holds no network.json: choose another --data-dir")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        ports = free_ports(3 * nodes, set())
        specs = []
        for i in range(1, nodes + 1):
            datadir = root / f"node-{i}"
            datadir.mkdir(mode=0o700)
            enode = new_node_key(datadir)
            sealer = new_sealer(datadir)
            http, p2p, auth = ports[3 * (i - 1):3 * i]
            specs.append(NodeSpec(index=i, sealer=sealer, validator=i in chosen, enode_id=enode,
                                  http_port=http, p2p_port=p2p, auth_port=auth))
        genesis = clique_genesis(chain_id=chain_id, signers=[n.sealer for n in specs if n.validator],
                                 period=period, gas_limit=gas_limit, free_gas=free_gas, alloc=alloc or {})
        (root / GENESIS_FILE).write_text(json.dumps(genesis, indent=2) + "\n")
        for node in specs:
            result = subprocess.run([str(binary), "--datadir", str(node.datadir(root)), "--verbosity", "2",
                                     "init", str(root / GENESIS_FILE)],
                                    capture_output=True, text=True, timeout=120, check=False)
            if result.returncode != 0:
                raise ChainError(f"`geth init` of {node.name} failed: {(result.stderr or result.stdout)[-1000:]}")
        spec = NetworkSpec(chain_id=chain_id, period=period, gas_limit=gas_limit, free_gas=free_gas,
                           epoch=int(genesis["config"]["clique"]["epoch"]), geth_version=version, nodes=tuple(specs))
        spec.save(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # nothing half made stays behind
        raise
    log.info("network of %d nodes (chain id %d) initialised in %s", nodes, chain_id, root)
    return spec


# -- one node ----------------------------------------------------------------------------------

def ipc_path(datadir: Path) -> Path:
    """geth's IPC socket: in the data folder, or (a long path) in a private folder under /tmp."""
    path = datadir / "geth.ipc"
    if len(str(path)) <= _MAX_IPC_PATH:
        return path
    digest = hashlib.sha256(str(datadir.resolve()).encode()).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"xborder-ipc-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "geth.ipc"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as geth binds: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_p2p_config(spec: NetworkSpec, root: Path) -> None:
    """Each node's config.toml: listen on loopback, static peers = every other node, no bootnodes."""
    for node in spec.nodes:
        config = {"Node": {"P2P": {
            "ListenAddr": f"127.0.0.1:{node.p2p_port}",
            "NoDiscovery": True,
            "DiscoveryV4": False,
            "BootstrapNodes": [],
            "BootstrapNodesV5": [],
            "StaticNodes": [other.enode for other in spec.nodes if other.index != node.index],
            "MaxPeers": max(len(spec.nodes) + 4, 25),
        }}}
        path = node.datadir(root) / "config.toml"
        path.write_text(tomli_w.dumps(config))


def geth_argv(spec: NetworkSpec, node: NodeSpec, root: Path, binary: Path) -> list[str]:
    datadir = node.datadir(root)
    argv = [str(binary), "--datadir", str(datadir), "--config", str(datadir / "config.toml"),
            "--networkid", str(spec.chain_id), "--syncmode", "full", "--gcmode", "archive",
            "--nat", "none", "--netrestrict", "127.0.0.0/8",
            "--http", "--http.addr", "127.0.0.1", "--http.port", str(node.http_port), "--http.api", HTTP_APIS,
            "--authrpc.addr", "127.0.0.1", "--authrpc.port", str(node.auth_port),
            "--ipcpath", str(ipc_path(datadir)), "--cache", "128", "--verbosity", "3",
            "--miner.gaslimit", str(spec.gas_limit)]
    if node.validator:
        # No --mine and no --unlock: the sealer key is unlocked over IPC and sealing starts only
        # once every node is peered and "synced" (see Network.start); the personal namespace is
        # served on the IPC socket only (not in HTTP_APIS).
        argv += ["--miner.etherbase", node.sealer, "--rpc.enabledeprecatedpersonal", "--allow-insecure-unlock"]
    return argv


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def running_pids(datadir: Path) -> list[int]:
    """Pids of geth processes serving `datadir` (found in /proc: survives a lost pid file)."""
    target = str(datadir)
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = cmdline(int(entry.name))
        if argv and Path(argv[0]).name == "geth" and "--datadir" in argv:
            i = argv.index("--datadir")
            if i + 1 < len(argv) and argv[i + 1] == target:
                pids.append(int(entry.name))
    return pids


def stop_pid(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not cmdline(pid):
            return
        time.sleep(0.1)
    log.warning("geth pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
