"""Run a local consortium network: N geth (clique) nodes on loopback, peered only with each other.

`init_network` writes the genesis, every node's keys and data folder and runs `geth init`;
`start_network` starts the nodes and waits until each answers and has peered with all the
others; `Network` (the handle) stops, kills, restarts, isolates and reconnects single nodes;
`network_status` and `stop_network` work from the data folder alone (for `xborder network`).

No orphans: a node runs under `xborder.chain.launcher.launch`: owned nodes (tests, the bench, the
demo) die with their owner (PR_SET_PDEATHSIG, atexit, context manager); detached nodes (`xborder
network up`) are found again by their data folder in /proc, so `down` stops every geth running on
this network's folders even if the `up` that started it was killed half way.

Ports: each node's HTTP, p2p and auth-RPC ports are chosen free at `init` and kept (so URLs stay
valid across `down`/`up`); a port taken by someone else meanwhile is replaced at the next start.
Only HTTP (eth, net, web3, txpool, clique) is served on 127.0.0.1; admin and miner stay on the
node's IPC socket (file mode of its owner), which `Network` uses to partition and reconnect.
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import tomli_w
from web3 import IPCProvider, Web3

from xborder.chain.launcher import LocalNode, NodeKind, free_port, launch, rpc_call
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


def _free_ports(count: int, taken: set[int]) -> list[int]:
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
        ports = _free_ports(3 * nodes, set())
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


def _port_free(port: int) -> bool:
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


def _cmdline(pid: int) -> list[str]:
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
        argv = _cmdline(int(entry.name))
        if argv and Path(argv[0]).name == "geth" and "--datadir" in argv:
            i = argv.index("--datadir")
            if i + 1 < len(argv) and argv[i + 1] == target:
                pids.append(int(entry.name))
    return pids


def _stop_pid(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _cmdline(pid):
            return
        time.sleep(0.1)
    log.warning("geth pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- the network -------------------------------------------------------------------------------

@dataclass
class Network:
    """A running (or partly running) local network."""

    root: Path
    spec: NetworkSpec
    binary: Path
    detached: bool = False
    start_timeout: float = 90.0
    nodes: dict[int, LocalNode] = field(default_factory=dict)

    # -- addresses
    @property
    def urls(self) -> list[str]:
        return [n.rpc_url for n in self.spec.nodes]

    def url(self, index: int) -> str:
        return self.spec.node(index).rpc_url

    def web3(self, index: int) -> Web3:
        from xborder.chain.connect import web3_for
        return web3_for(self.url(index))

    # -- processes
    def start_node(self, index: int, *, seal: bool = True) -> LocalNode:
        """Start one node; with `seal` (a validator), wait until it has peered with the running
        nodes and holds their chain, then let it seal."""
        node = self.spec.node(index)
        datadir = node.datadir(self.root)
        if running_pids(datadir):
            raise ChainError(f"{node.name} already runs (pid {running_pids(datadir)}): "
                             "`xborder network down` stops it")
        taken = {p for n in self.spec.nodes if n.index != index for p in (n.http_port, n.p2p_port, n.auth_port)}
        if not all(_port_free(p) for p in (node.http_port, node.p2p_port, node.auth_port)):
            http, p2p, auth = _free_ports(3, taken)
            log.warning("%s: a port of %s is taken; now HTTP %d, p2p %d", node.name,
                        (node.http_port, node.p2p_port, node.auth_port), http, p2p)
            node = replace(node, http_port=http, p2p_port=p2p, auth_port=auth)
            self.spec = self.spec.with_node(node)
            self.spec.save(self.root)
            write_p2p_config(self.spec, self.root)
        argv = geth_argv(self.spec, node, self.root, self.binary)
        process = launch(NodeKind.GETH, argv, port=node.http_port, chain_id=self.spec.chain_id,
                         log_path=datadir / "geth.log", detached=self.detached, timeout=self.start_timeout)
        self.nodes[index] = process
        if self.spec.free_gas:
            # geth 1.13 raises --miner.gasprice 0 to 1 gwei at start; at run time it takes 0
            # (pool and miner), so transactions with tip 0 are accepted and sealed everywhere.
            self.admin(index, "miner_setGasPrice", ["0x0"])
        if seal and node.validator:
            self.wait_peered()
            if len(self.nodes) > 1:  # hold the others' chain before sealing on it
                self.wait_synced(min_block=max(self.head(i)[0] for i in self.nodes if i != index))
            self.unlock(index)
            self.start_sealing([index])
        return process

    def unlock(self, index: int) -> None:
        """Unlock the node's sealer key (its keystore, with the password file) over IPC."""
        node = self.spec.node(index)
        password = (node.datadir(self.root) / "password.txt").read_text().strip()
        try:  # scrypt: a second on a quiet machine, much more on a loaded one
            self.admin(index, "personal_unlockAccount", [node.sealer, password, 0], timeout=300)
        except Exception as exc:  # never echo the request: it holds the password
            raise ChainError(f"{node.name} could not unlock its sealer key {node.sealer} "
                             f"({type(exc).__name__}: {str(exc)[:200]}): check "
                             f"{node.datadir(self.root) / 'keystore'} and its password file") from None

    def start_sealing(self, indexes: Sequence[int] | None = None) -> None:
        """miner_start on the validators among `indexes` (default: every running node)."""
        for index in sorted(self.nodes) if indexes is None else indexes:
            if self.spec.node(index).validator:
                self.admin(index, "miner_start")

    def _bootstrap_sealing(self) -> None:
        """Start sealing on a freshly started network without forking it.

        geth drops blocks propagated to a node that has not finished a sync or started its
        miner ("Syncing, discarded propagated block"); on a new network nobody syncs (no peer is
        ahead), so the first sealer's block 1 is lost on the others, each seals its own block 1,
        and clique deadlocks: every sealer "signed recently" on its own branch, none can extend
        another's. So every miner is started first with its key still locked (its seal attempts
        fail harmlessly, but the node now accepts propagated blocks), then the keys are unlocked
        and each miner restarted, one after the other."""
        validators = [i for i in sorted(self.nodes) if self.spec.node(i).validator]
        self.start_sealing(validators)
        for index in validators:
            self.unlock(index)
        self.ensure_sealing()

    def _kick(self, indexes: Sequence[int]) -> None:
        for index in indexes:
            self.admin(index, "miner_stop")
            self.admin(index, "miner_start")

    def ensure_sealing(self, timeout: float = 180.0) -> None:
        """(Re)start the validators' miners until the chain grows by one round of sealers.

        geth 1.13's miner does not retry a failed seal (a key still locked, a sync in progress)
        until a new head or a new transaction arrives; on a new network no head comes, so a miner
        that failed its first seal waits forever. Restarting it makes it build and seal anew."""
        validators = [i for i in sorted(self.nodes) if self.spec.node(i).validator]
        if not validators:
            return
        deadline = time.monotonic() + timeout
        round_wait = max(10.0, 4.0 * self.spec.period * len(validators))
        while True:
            self._kick(validators)
            start = max(self.head(i)[0] for i in self.nodes)
            until = time.monotonic() + round_wait
            while time.monotonic() < until:
                if min(self.head(i)[0] for i in self.nodes) >= start + len(validators):
                    return
                time.sleep(0.2)
            if time.monotonic() > deadline:
                heads = {i: self.head(i)[0] for i in self.nodes}
                raise ChainError(f"the network does not seal (heads {heads} after {timeout:.0f}s): see the "
                                 f"geth.log files in {self.root}")
            log.info("the chain did not grow by %d blocks in %.0fs; restarting the miners", len(validators), round_wait)

    def start(self) -> Network:
        """Start every node not yet running and wait until all are peered."""
        write_p2p_config(self.spec, self.root)
        try:
            for node in self.spec.nodes:
                if node.index not in self.nodes:
                    self.start_node(node.index, seal=False)
            self.wait_peered()
            self._bootstrap_sealing()
        except BaseException:
            self.stop()
            raise
        return self

    def stop_node(self, index: int, timeout: float = 30.0) -> None:
        """A clean stop (SIGTERM: geth writes its state and closes its database)."""
        process = self.nodes.pop(index, None)
        if process is not None:
            process.stop(timeout=timeout)
        for pid in running_pids(self.spec.node(index).datadir(self.root)):
            _stop_pid(pid, timeout)

    def kill_node(self, index: int) -> None:
        """SIGKILL, as a crash or a pulled plug: nothing is flushed."""
        process = self.nodes.pop(index, None)
        pids = running_pids(self.spec.node(index).datadir(self.root))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if process is not None and process.process is not None:
            process.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_cmdline(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for index in sorted({*self.nodes, *(n.index for n in self.spec.nodes)}, reverse=True):
            self.stop_node(index)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- admin over IPC
    def admin(self, index: int, method: str, params: Sequence[Any] = (), timeout: float = 60.0) -> Any:
        """A JSON-RPC call on node `index`'s IPC socket (admin, miner, personal live only there)."""
        provider = IPCProvider(str(ipc_path(self.spec.node(index).datadir(self.root))), timeout=int(timeout))
        reply = provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in reply:
            raise ChainError(f"{method} on node {index} failed: {reply['error']}")
        return reply.get("result")

    def peer_count(self, index: int) -> int:
        return int(str(rpc_call(self.url(index), "net_peerCount", timeout=10)), 16)

    def wait_peered(self, timeout: float = 60.0) -> None:
        """Until every running node is connected to every other running node."""
        running = sorted(self.nodes)
        want = len(running) - 1
        deadline = time.monotonic() + timeout
        counts: dict[int, int] = {}
        while time.monotonic() < deadline:
            counts = {i: self.peer_count(i) for i in running}
            if all(c >= want for c in counts.values()):
                return
            time.sleep(0.2)
        raise ChainError(f"the nodes did not all peer within {timeout:.0f}s (peers per node: {counts}, "
                         f"want {want}); see the geth.log files in {self.root}")

    def isolate(self, index: int, timeout: float = 30.0) -> None:
        """Cut node `index` off the others (both directions, no redial): a network partition."""
        me = self.spec.node(index)
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:  # a dial already in flight (a peer that was down) can land after a removal
            for other in self.spec.nodes:
                if other.index == index:
                    continue
                self.admin(index, "admin_removePeer", [other.enode])
                if other.index in self.nodes:
                    self.admin(other.index, "admin_removePeer", [me.enode])
            time.sleep(0.3)
            quiet = quiet + 1 if self.peer_count(index) == 0 else 0
            if time.monotonic() > deadline:
                raise ChainError(f"node {index} still has peers {timeout:.0f}s after being isolated")

    def reconnect(self, index: int, timeout: float = 60.0) -> None:
        """Undo `isolate`: static peering both ways again."""
        me = self.spec.node(index)
        for other in self.spec.nodes:
            if other.index == index or other.index not in self.nodes:
                continue
            self.admin(index, "admin_addPeer", [other.enode])
            self.admin(other.index, "admin_addPeer", [me.enode])
        self.wait_peered(timeout)

    # -- chain
    def head(self, index: int) -> tuple[int, str]:
        block = rpc_call(self.url(index), "eth_getBlockByNumber", ["latest", False], timeout=10)
        assert isinstance(block, dict)
        return int(block["number"], 16), str(block["hash"])

    def block_hash(self, index: int, number: int) -> str | None:
        block = rpc_call(self.url(index), "eth_getBlockByNumber", [hex(number), False], timeout=10)
        return str(block["hash"]) if isinstance(block, dict) else None

    def wait_synced(self, min_block: int = 0, timeout: float = 120.0) -> tuple[int, str]:
        """Until every running node holds the same block at the lowest head among them (and that
        head is at least `min_block`); returns (number, hash) of that common block."""
        deadline = time.monotonic() + timeout
        last: dict[int, tuple[int, str]] = {}
        while time.monotonic() < deadline:
            last = {i: self.head(i) for i in sorted(self.nodes)}
            low = min(n for n, _ in last.values())
            if low >= min_block:
                hashes = {self.block_hash(i, low) for i in last}
                if len(hashes) == 1:
                    only = hashes.pop()
                    assert only is not None
                    return low, only
            time.sleep(0.2)
        raise ChainError(f"the nodes did not agree on a common block >= {min_block} within {timeout:.0f}s "
                         f"(heads: {last})")


def open_network(root: Path, project_root: Path, *, detached: bool = False) -> Network:
    spec = NetworkSpec.load(root)
    return Network(root=root, spec=spec, binary=geth_binary(project_root), detached=detached)


def start_network(root: Path, project_root: Path, *, detached: bool = False) -> Network:
    """Start the network of `root` (every node) and wait until all nodes are peered."""
    return open_network(root, project_root, detached=detached).start()


@contextlib.contextmanager
def running_network(root: Path, project_root: Path) -> Iterator[Network]:
    """An owned network: stopped when the block ends, however it ends."""
    network = start_network(root, project_root)
    try:
        yield network
    finally:
        network.stop()


# -- status, from the data folder alone ---------------------------------------------------------

@dataclass(frozen=True)
class NodeStatus:
    index: int
    rpc_url: str
    enode: str
    sealer: str
    validator: bool
    pids: list[int]
    running: bool
    head: int | None = None
    head_hash: str | None = None
    peers: int | None = None
    mining: bool | None = None
    authorized: bool | None = None
    sealed_recent: int | None = None  # blocks it signed among the last clique_status window
    recent_window: int | None = None
    error: str | None = None


def network_status(root: Path) -> tuple[NetworkSpec, list[NodeStatus]]:
    spec = NetworkSpec.load(root)
    out = []
    for node in spec.nodes:
        pids = running_pids(node.datadir(root))
        base = NodeStatus(index=node.index, rpc_url=node.rpc_url, enode=node.enode, sealer=node.sealer,
                          validator=node.validator, pids=pids, running=bool(pids))
        if not pids:
            out.append(base)
            continue
        try:
            block = rpc_call(node.rpc_url, "eth_getBlockByNumber", ["latest", False], timeout=20)
            assert isinstance(block, dict)
            listed = rpc_call(node.rpc_url, "clique_getSigners", ["latest"], timeout=20)
            signers = [str(s).lower() for s in listed] if isinstance(listed, list) else []
            head = int(block["number"], 16)
            # clique_status divides by the blocks it looked at: at block 0 it fails ("NaN")
            clique = rpc_call(node.rpc_url, "clique_status", timeout=20) if head > 0 else {}
            activity = clique.get("sealerActivity", {}) if isinstance(clique, dict) else {}
            sealed = {str(k).lower(): int(v) for k, v in activity.items()}
            window = int(clique.get("numBlocks", 0)) if isinstance(clique, dict) else 0
            out.append(replace(
                base, head=head, head_hash=str(block["hash"]),
                peers=int(str(rpc_call(node.rpc_url, "net_peerCount", timeout=20)), 16),
                mining=bool(rpc_call(node.rpc_url, "eth_mining", timeout=20)),
                authorized=node.sealer.lower() in signers, sealed_recent=sealed.get(node.sealer.lower(), 0),
                recent_window=window if 0 < window <= head else 0))  # geth says 2^64-1 at block 0
        except Exception as exc:  # a node still starting, or stuck: say so, keep going
            out.append(replace(base, error=f"{type(exc).__name__}: {exc}"))
    return spec, out


def stop_network(root: Path, timeout: float = 30.0) -> list[int]:
    """Stop every geth running on this network's folders; returns the node numbers stopped."""
    spec = NetworkSpec.load(root)
    stopped = []
    for node in reversed(spec.nodes):
        pids = running_pids(node.datadir(root))
        for pid in pids:
            _stop_pid(pid, timeout)
        if pids:
            stopped.append(node.index)
    return sorted(stopped)
