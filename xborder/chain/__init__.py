"""Launch, connect to and talk to EVM nodes."""

from xborder.chain.launcher import LocalNode, NodeKind, free_port, start_anvil, start_ganache
from xborder.chain.connect import connect

__all__ = ["LocalNode", "NodeKind", "connect", "free_port", "start_anvil", "start_ganache"]
