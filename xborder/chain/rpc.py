"""The one JSON-RPC client of the write side, with the one table from node errors to xborder errors.

`Rpc.call` / `Rpc.batch` send raw JSON-RPC (no web3 formatters) through the provider's public
`make_request` / `make_batch_request`. A transport failure (connection reset or refused, timeout,
a garbled reply) is retried a few times with backoff — every method we send is idempotent: reads
trivially, and `eth_sendRawTransaction` of the same signed bytes either lands once or is answered
"already known" — and then becomes one `ChainError` line. A JSON-RPC error object becomes the
xborder error its message maps to in `NODE_ERRORS` (the way httpx's `map_exceptions` maps
transport exceptions): a node hiccup in `make bench` on a loaded machine is survived, or reported
in one line, never a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from web3 import Web3
from web3.types import RPCEndpoint

from xborder.errors import (
    ChainError,
    InsufficientFunds,
    NonceConflict,
    TransactionRejected,
    XborderError,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 250


class AlreadyKnown(NonceConflict):
    """The node already holds this very transaction (a resend after a lost reply): not a failure."""


class Underpriced(TransactionRejected):
    """The node wants a higher fee (base fee moved, or a replacement needs a bump)."""


class StateUnavailable(ChainError):
    """The node no longer keeps the state of the block a call named (anvil keeps a few hundred
    recent blocks, a pruned geth 128): a call at an older block is the caller's problem, never a
    contract's refusal."""


#: Node error message fragment (lower case) -> the xborder error it means. The first match wins, so
#: the specific fragments come first. This is the only place that reads node error texts.
NODE_ERRORS: tuple[tuple[str, type[XborderError]], ...] = (
    ("blockoutofrange", StateUnavailable),  # anvil: "BlockOutOfRangeError: block height is 3311 but requested was 2605"
    ("missing trie node", StateUnavailable),  # geth
    ("historical state", StateUnavailable),  # geth: "historical state ... is not available"
    ("state not available", StateUnavailable),
    ("header not found", StateUnavailable),
    ("already known", AlreadyKnown),
    ("already imported", AlreadyKnown),
    ("known transaction", AlreadyKnown),
    ("insufficient funds", InsufficientFunds),
    ("enough funds", InsufficientFunds),
    ("nonce too low", NonceConflict),
    ("correct nonce", NonceConflict),
    ("replacement transaction underpriced", NonceConflict),
    ("nonce", NonceConflict),
    ("max fee per gas less than block base fee", Underpriced),
    ("fee cap less than block base fee", Underpriced),
    ("underpriced", Underpriced),
)

#: Transport failures that a retry may cure (then `ChainError`).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError, json.JSONDecodeError,
    requests.exceptions.ChunkedEncodingError,
)


def error_message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)


def revert_data(error: object) -> bytes | None:
    """Revert data in a JSON-RPC error: anvil/geth put a hex string in `data`; Ganache an
    object with `result` (or a `{hash: {return}}` map in older versions)."""
    if not isinstance(error, dict):
        return None
    data = error.get("data")
    candidates: list[object] = [data]
    if isinstance(data, dict):
        candidates += [data.get("result"), data.get("data"), data.get("return")]
        candidates += [v.get("return") for v in data.values() if isinstance(v, dict)]
    skip = data.get("hash") if isinstance(data, dict) else None  # Ganache: `result` may be the tx hash
    for value in candidates:
        if isinstance(value, str) and value.startswith("0x") and len(value) >= 10 and value != skip:
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                continue
    return None


def classify(error: object) -> type[XborderError]:
    """The xborder error class a node's JSON-RPC error object means (TransactionRejected if none)."""
    text = error_message(error).lower()
    for fragment, kind in NODE_ERRORS:
        if fragment in text:
            return kind
    return TransactionRejected


def node_error(error: object, context: str) -> XborderError:
    """The mapped exception for a JSON-RPC error object, its message prefixed by `context`."""
    kind = classify(error)
    message = f"{context}: {error_message(error)}"
    if kind is StateUnavailable:
        message += " (the node keeps only recent blocks' state: ask at a newer block)"
    if issubclass(kind, TransactionRejected):
        return kind(message, revert_data=revert_data(error))
    return kind(message)


def mined_anyway(error: object, tx_hash: str) -> bool:
    """Ganache (vmErrorsOnRPCResponse) answers eth_sendRawTransaction with an error when the
    transaction it just mined reverted; it is on chain with status 0, so it counts as sent."""
    data = error.get("data") if isinstance(error, dict) else None
    return isinstance(data, dict) and str(data.get("hash", "")).lower() == tx_hash.lower()


@dataclass
class Rpc:
    """Raw JSON-RPC over a web3 provider: single calls and batches, retried on transport failures."""

    w3: Web3
    retries: int = 4
    backoff: float = 0.25
    batch_size: int = DEFAULT_BATCH
    _can_batch: bool = field(default=True, init=False, repr=False)

    @property
    def url(self) -> str:
        return str(getattr(self.w3.provider, "endpoint_uri", None) or repr(self.w3.provider))

    def _transport(self, method: str, send: Any) -> Any:
        """Run `send()`, retrying transport failures; the last one becomes a ChainError."""
        for attempt in range(self.retries + 1):
            try:
                return send()
            except XborderError:
                raise
            except TRANSPORT_ERRORS as exc:
                if attempt == self.retries:
                    raise ChainError(
                        f"{method} to {self.url} failed {attempt + 1} times ({type(exc).__name__}: {exc}): is the "
                        "node running? Start one with `xborder chain start` or pass the right --rpc-url") from None
                log.info("%s to %s: %s; retrying", method, self.url, type(exc).__name__)
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, params: Sequence[Any] = (), *, context: str | None = None) -> Any:
        """One call; a JSON-RPC error becomes the mapped xborder error."""
        response = self._transport(method, lambda: self.w3.provider.make_request(RPCEndpoint(method), list(params)))
        if "error" in response:
            raise node_error(response["error"], context or f"{method} failed")
        return response.get("result")

    def try_call(self, method: str, params: Sequence[Any] = ()) -> Any | None:
        """One call; None if the node refuses it (a dev-only method on another node, say)."""
        try:
            return self.call(method, params)
        except TransactionRejected:
            return None

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], batch_size: int | None = None) -> list[dict[str, Any]]:
        """Many calls in HTTP batches; one response object (`result` or `error`) per call, in order."""
        size = batch_size or self.batch_size
        responses: list[dict[str, Any]] = []
        for start in range(0, len(calls), size):
            chunk = [(method, list(params)) for method, params in calls[start:start + size]]
            reply = self._transport(chunk[0][0], lambda chunk=chunk: self._send_chunk(chunk))
            if not isinstance(reply, list):  # the node refused the whole batch
                error = reply.get("error", reply) if isinstance(reply, dict) else reply
                raise ChainError(f"the node refused a batch of {len(chunk)} {chunk[0][0]} calls: {error}")
            if len(reply) != len(chunk):
                raise ChainError(f"the node answered {len(reply)} of {len(chunk)} batched {chunk[0][0]} calls")
            responses.extend(dict(r) for r in reply)
        return responses

    def _send_chunk(self, chunk: list[tuple[str, list[Any]]]) -> Any:
        make_batch = getattr(self.w3.provider, "make_batch_request", None) if self._can_batch else None
        if make_batch is not None:
            try:
                return make_batch(chunk)
            except NotImplementedError:
                self._can_batch = False
        return [self.w3.provider.make_request(RPCEndpoint(m), p) for m, p in chunk]

    def results(self, calls: Sequence[tuple[str, Sequence[Any]]], *, context: str) -> list[Any]:
        """`batch`, raising the first error (mapped) instead of returning it."""
        out = []
        for (method, _), response in zip(calls, self.batch(calls), strict=True):
            if "error" in response:
                raise node_error(response["error"], f"{context} ({method})")
            out.append(response.get("result"))
        return out

    # -- small conveniences used everywhere -------------------------------------------------------
    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def latest_block(self) -> dict[str, Any]:
        return dict(self.call("eth_getBlockByNumber", ["latest", False]) or {})

    def chain_time(self) -> int:
        return int(self.latest_block().get("timestamp", "0x0"), 16)

    def eth_call(self, to: str, data: bytes, block: str = "latest", sender: str | None = None) -> bytes:
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        return bytes.fromhex(str(self.call("eth_call", [tx, block]))[2:])


def rpc(w3: Web3, method: str, params: Sequence[Any] = ()) -> Any:
    """`Rpc(w3).call(method, params)`: one raw call, node errors mapped."""
    return Rpc(w3).call(method, params)


def rpc_batch(w3: Web3, calls: Sequence[tuple[str, Sequence[Any]]], batch_size: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
    """`Rpc(w3).batch(calls)`: one response object (`result` or `error`) per call, in order."""
    return Rpc(w3, batch_size=batch_size).batch(calls)
