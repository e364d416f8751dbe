"""The local consortium network: N geth (clique proof-of-authority) nodes on loopback."""

from xborder.chain.network.geth import (
    DEFAULT_CHAIN_ID,
    DEFAULT_GAS_LIMIT,
    DEFAULT_PERIOD,
    Network,
    NodeStatus,
    init_network,
    network_status,
    open_network,
    running_network,
    start_network,
    stop_network,
)
from xborder.chain.network.spec import NetworkSpec, NodeSpec

__all__ = [
    "DEFAULT_CHAIN_ID", "DEFAULT_GAS_LIMIT", "DEFAULT_PERIOD", "Network", "NetworkSpec", "NodeSpec", "NodeStatus",
    "init_network", "network_status", "open_network", "running_network", "start_network", "stop_network",
]
