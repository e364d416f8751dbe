"""Connect to any JSON-RPC node and make sure it is the chain we expect.

Every Web3 of the package is built here (`web3_for`), because proof-of-authority chains need
one thing dev nodes do not: clique (geth) and QBFT/IBFT (Besu) put the sealers' signatures in the
block header's `extraData` (97 bytes and more on clique), and web3.py refuses any `extraData`
longer than the 32 bytes of Ethereum mainnet ("ExtraDataLengthError") in every formatted block
(`w3.eth.get_block`, used for fees and chain time). `ExtraDataToPOAMiddleware` moves it to
`proofOfAuthorityData`; it is harmless on anvil and Ganache, so it is always injected. Raw
`provider.make_request` calls (the sender, the indexer) bypass web3's formatters and need nothing.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.rpc import HTTPProvider

from xborder.errors import ChainError, ChainIdMismatch

log = logging.getLogger(__name__)

#: Hosts that are this machine: no proxy, .netrc or CA bundle from the environment applies to them.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def http_session(rpc_url: str) -> requests.Session:
    """The requests session for `rpc_url`: `loopback_session`'s for a node on this machine, else
    requests' defaults."""
    return loopback_session(rpc_url) or requests.Session()


def loopback_session(rpc_url: str) -> requests.Session | None:
    """For a node on this machine, a session that does not read the environment on every request.
    requests does by default (proxies, NO_PROXY, ~/.netrc, REQUESTS_CA_BUNDLE: a scan of os.environ
    and two stat calls per request), which was about a third of the scale demo's Python time. Other
    nodes keep requests' defaults (a proxy may be how they are reached)."""
    if urlsplit(rpc_url).hostname not in LOOPBACK:
        return None
    session = requests.Session()
    session.trust_env = False
    return session


def web3_for(rpc_url: str, timeout: float = 30.0, *, retries: bool = True) -> Web3:
    """A Web3 for `rpc_url` that reads proof-of-authority blocks; no round trip yet.

    `retries=False` turns web3's own retries off (the indexer retries by itself)."""
    if not rpc_url.startswith(("http://", "https://")):
        raise ChainError(f"RPC URL {rpc_url!r} must start with http:// or https://")
    session = loopback_session(rpc_url)
    if retries:
        provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=session)
    else:
        provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None,
                                session=session)
    w3 = Web3(provider)
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def connect(rpc_url: str, expected_chain_id: int | None = None, timeout: float = 30.0) -> Web3:
    """A Web3 for `rpc_url`; raises ChainError if nobody answers there, ChainIdMismatch if the
    node serves another chain than `expected_chain_id`."""
    w3 = web3_for(rpc_url, timeout)
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
