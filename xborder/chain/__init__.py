"""Launch, connect to and talk to EVM nodes."""

from xborder.chain.connect import connect
from xborder.chain.launcher import LocalNode, NodeKind, free_port, start_anvil, start_ganache
from xborder.chain.sender import (
    Call,
    Fees,
    Receipt,
    TxSender,
    check_receipts,
    send_all,
    send_interleaved,
    wait_receipts,
)

__all__ = [
    "Call", "Fees", "LocalNode", "NodeKind", "Receipt", "TxSender", "check_receipts", "connect",
    "free_port", "send_all", "send_interleaved", "start_anvil", "start_ganache", "wait_receipts",
]
