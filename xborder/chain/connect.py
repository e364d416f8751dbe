"""Connect to any JSON-RPC node and make sure it is the chain we expect."""

from __future__ import annotations

import logging

from web3 import Web3
from web3.providers.rpc import HTTPProvider

from xborder.errors import ChainError, ChainIdMismatch

log = logging.getLogger(__name__)


def connect(rpc_url: str, expected_chain_id: int | None = None, timeout: float = 30.0) -> Web3:
    """A Web3 for `rpc_url`; raises ChainError if nobody answers there, ChainIdMismatch if the
    node serves another chain than `expected_chain_id`."""
    if not rpc_url.startswith(("http://", "https://")):
        raise ChainError(f"RPC URL {rpc_url!r} must start with http:// or https://")
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # requests/urllib errors vary by failure; all mean "not reachable"
        raise ChainError(
            f"no Ethereum node answers at {rpc_url} ({type(exc).__name__}): start one with "
            "`xborder chain start` or pass the right --rpc-url"
        ) from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(
            f"the node at {rpc_url} serves chain id {chain_id}, expected {expected_chain_id}: "
            "check --rpc-url or --chain-id"
        )
    log.debug("connected to %s (chain id %d)", rpc_url, chain_id)
    return w3
