"""Talk to EVM nodes: the JSON-RPC client and its node-error table (`rpc`), signing (`signer`),
the sender (`sender`: nonces, fees, gas, pipelining) and receipts (`receipts`); node launchers."""

from xborder.chain.connect import connect
from xborder.chain.launcher import LocalNode, NodeKind, free_port, start_anvil, start_ganache
from xborder.chain.receipts import Receipt, check_receipts, wait_receipts
from xborder.chain.rpc import Rpc, rpc, rpc_batch
from xborder.chain.sender import SenderPool, TxSender, send_all, send_interleaved
from xborder.chain.signer import Call, Fees

__all__ = [
    "Call", "Fees", "LocalNode", "NodeKind", "Receipt", "Rpc", "SenderPool", "TxSender", "check_receipts",
    "connect", "free_port", "rpc", "rpc_batch", "send_all", "send_interleaved", "start_anvil", "start_ganache",
    "wait_receipts",
]
