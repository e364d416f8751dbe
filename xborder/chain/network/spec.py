"""What a local network is: `network.json` in the network folder (no secret in it).

    <data-dir>/network/
        network.json        this spec: chain id, period, gas limit, nodes, their ports and sealers
        genesis.json        the clique genesis every node was initialised with
        node-1/             geth data dir: geth/nodekey (0600), keystore/ (0600), password.txt (0600),
                            config.toml (static peers, rewritten at each start), geth.log
        node-2/ ...
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from xborder.errors import ConfigurationError

SPEC_FILE = "network.json"
GENESIS_FILE = "genesis.json"
SPEC_VERSION = 1


@dataclass(frozen=True)
class NodeSpec:
    index: int  # 1-based
    sealer: str  # checksummed address of the node's sealer key
    validator: bool  # in the genesis signer list, runs with --mine
    enode_id: str  # 128 hex digits
    http_port: int
    p2p_port: int
    auth_port: int

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def enode(self) -> str:
        return f"enode://{self.enode_id}@127.0.0.1:{self.p2p_port}"

    def datadir(self, root: Path) -> Path:
        return root / self.name


@dataclass(frozen=True)
class NetworkSpec:
    chain_id: int
    period: int
    gas_limit: int
    free_gas: bool
    epoch: int
    geth_version: str
    nodes: tuple[NodeSpec, ...]

    @property
    def validators(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.validator]

    def node(self, index: int) -> NodeSpec:
        for n in self.nodes:
            if n.index == index:
                return n
        raise ConfigurationError(f"this network has nodes 1 to {len(self.nodes)}, not node {index}")

    def with_node(self, node: NodeSpec) -> NetworkSpec:
        return replace(self, nodes=tuple(node if n.index == node.index else n for n in self.nodes))

    def save(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        path = root / SPEC_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": SPEC_VERSION, **asdict(self)}, indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, root: Path) -> NetworkSpec:
        path = root / SPEC_FILE
        if not path.exists():
            raise ConfigurationError(f"no network in {root}: create one with `xborder network init --nodes 4`")
        data: dict[str, Any] = json.loads(path.read_text())
        if data.pop("version", None) != SPEC_VERSION:
            raise ConfigurationError(f"{path} was written by another version of xborder (spec version "
                                     f"{SPEC_VERSION} expected)")
        nodes = tuple(NodeSpec(**n) for n in data.pop("nodes"))
        return cls(nodes=nodes, **data)

    @staticmethod
    def exists(root: Path) -> bool:
        return (root / SPEC_FILE).exists()
