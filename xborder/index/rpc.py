"""Raw JSON-RPC for the indexer: no web3 formatters, retries with exponential backoff.

Every failure a node or the network can produce (timeout, refused or reset connection, HTTP 5xx,
429, a garbled body, a JSON-RPC error) is retried until it succeeds: the indexer never skips a
block and never dies of a flaky node. `eth_getLogs` over a block range is the exception: a range
the node refuses as too large (or that times out) raises `RangeTooLarge`, and the caller halves
the range instead of retrying the same request.

`logs(..., max_logs=N)` bounds the memory a reply can take: over HTTP the reply is read as a stream
and each log counted as it arrives (its `"blockNumber"` key); past N logs the reply is dropped and
`TooManyLogs` says in which block the budget ran out, so the caller asks for the blocks before it
(nodes return logs in block order). Neither the reply nor its parsed form ever holds more than N
logs, however many the range has.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from requests import Session
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from xborder.chain.connect import http_session
from xborder.errors import ChainError

log = logging.getLogger(__name__)

_RANGE_PATTERNS = re.compile(
    r"range too (large|wide|big)|too many (results|logs|blocks)|block range|query returned more than|"
    r"exceed(s|ed)? (max|the)?.*(range|results|logs|limit)|response (size|is too)|log response size|"
    r"limit exceeded|more than \d+ (results|logs)", re.IGNORECASE)
_RATE_PATTERNS = re.compile(r"rate.?limit|too many requests|capacity|throttl", re.IGNORECASE)


class RangeTooLarge(Exception):
    """The node refused (or could not finish) eth_getLogs over this range: ask for fewer blocks."""


class TooManyLogs(Exception):
    """eth_getLogs over [from_block, to_block] holds more than `budget` logs; the log after the first
    `budget` is in block `over` (from_block <= over <= to_block), so in block order the blocks before
    `over` hold at most `budget`."""

    def __init__(self, from_block: int, to_block: int, budget: int, over: int) -> None:
        super().__init__(f"eth_getLogs {from_block}..{to_block} holds more than {budget} logs "
                         f"(the budget runs out in block {over})")
        self.from_block, self.to_block, self.budget, self.over = from_block, to_block, budget, over


#: One per log in an eth_getLogs reply (hex data and topics cannot contain it; nor can the envelope).
_LOG_KEY = b'"blockNumber"'
_BLOCK_NUMBER = re.compile(rb'"blockNumber"\s*:\s*"(0x[0-9a-fA-F]+)"')
_STREAM_CHUNK = 1 << 20  # read calls hold the GIL: few and large (1 MiB), while this process parses


def _nth_block_number(body: bytes | bytearray, n: int) -> int | None:
    """The block number of the log after the first `n` of a (partial) eth_getLogs reply, None if
    the reply does not hold it whole yet."""
    for i, match in enumerate(_BLOCK_NUMBER.finditer(body)):
        if i == n:
            return int(match.group(1), 16)
    return None


#: A result reply names its "result" within its first bytes (`{"jsonrpc":"2.0","id":N,"result":[`).
_RESULT_WITHIN = 96
_UNBOUNDED = 1 << 62


@dataclass(frozen=True)
class LogsReply:
    """An eth_getLogs result: `count` logs, as the node sent them (`body`) or already parsed."""

    count: int
    body: bytes | bytearray | None = field(default=None, repr=False)
    parsed: list[dict[str, Any]] | None = field(default=None, repr=False)

    def entries(self) -> list[dict[str, Any]]:
        """The logs (ValueError if the body is not a JSON-RPC result list)."""
        if self.parsed is not None:
            return self.parsed
        result = RpcClient.result_of("eth_getLogs", json.loads(self.body or b"null"), list)
        return result  # type: ignore[no-any-return]


def _parsed_logs(reply: Any) -> Any:
    """A parsed eth_getLogs reply: its logs as a `LogsReply` when it is a result list, else the reply
    itself (an error, for `RpcClient.result_of` to raise)."""
    result = reply.get("result") if isinstance(reply, dict) and reply.get("error") is None else None
    return LogsReply(count=len(result), parsed=result) if isinstance(result, list) else reply


class RpcRequestFailed(ChainError):
    """A request failed and `RetryPolicy.max_attempts` ran out (only when a limit is set)."""


@dataclass(frozen=True)
class RetryPolicy:
    initial_delay: float = 0.2
    max_delay: float = 15.0
    multiplier: float = 2.0
    #: None = retry forever (the indexer's default: a node that comes back is picked up again).
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.initial_delay * self.multiplier ** max(0, attempt - 1)))


def classify(exc: BaseException) -> str:
    """A short name for the kind of failure, for logs and the `failures` counter."""
    text = str(exc)
    name = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 429 or _RATE_PATTERNS.search(text):
        return "rate-limited"
    if status is not None and status >= 500:
        return f"http-{status}"
    if status == 413 or _RANGE_PATTERNS.search(text):
        return "range-too-large"
    if "Timeout" in name or "timed out" in text.lower():
        return "timeout"
    if "Connection" in name or "reset" in text.lower() or "refused" in text.lower():
        return "connection"
    if isinstance(exc, ValueError):  # JSON decode errors (garbled body) and JSON-RPC errors
        return "bad-response"
    return name


class JsonRpcError(ValueError):
    def __init__(self, method: str, error: Any) -> None:
        message = error.get("message") if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        super().__init__(f"{method}: {message} (code {code})")
        self.code = code


@dataclass
class RpcClient:
    """Raw JSON-RPC through `w3.provider`, with retries and a tally of what went wrong."""

    w3: Web3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    failures: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    #: The session `logs(max_logs=...)` streams replies over (made at its first use).
    _stream_session: Session | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return str(getattr(self.w3.provider, "endpoint_uri", None) or "the RPC URL")

    def bounded(self, attempts: int = 3) -> RpcClient:
        """The same node with at most `attempts` tries per request: for the checks at start, where a
        node that does not answer must fail the command (exit 4) instead of being waited for."""
        return RpcClient(self.w3, RetryPolicy(initial_delay=0.2, max_delay=1.0, max_attempts=attempts),
                         sleep=self.sleep)

    def _once(self, method: str, params: list[Any], expect: type | None = None,
              max_logs: int | None = None) -> Any:
        self.requests += 1
        if max_logs is None:
            reply = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        else:
            reply = self._logs_reply(method, params, max_logs)
            if isinstance(reply, LogsReply):
                return reply
        return self.result_of(method, reply, expect)

    @staticmethod
    def result_of(method: str, reply: Any, expect: type | None) -> Any:
        """The result of a parsed JSON-RPC reply (JsonRpcError for an error reply, ValueError for
        anything but a result of type `expect`)."""
        if not isinstance(reply, dict):
            raise ValueError(f"{method}: malformed reply {str(reply)[:200]}")
        if reply.get("error") is not None:
            raise JsonRpcError(method, reply["error"])
        if "result" not in reply:
            raise ValueError(f"{method}: reply without result: {str(reply)[:200]}")
        if expect is not None and not isinstance(reply["result"], expect):
            raise ValueError(f"{method}: expected a {expect.__name__}, got {str(reply['result'])[:200]}")
        return reply["result"]

    def _logs_reply(self, method: str, params: list[Any], max_logs: int) -> Any:
        """The JSON-RPC reply of an eth_getLogs `params`, read as a stream over HTTP and dropped
        (TooManyLogs) at its `max_logs` + 1st log; a result comes back unparsed (`LogsReply`), an
        error reply parsed. Other providers give the whole reply, which is then counted."""
        spec = params[0]
        first, last = int(spec["fromBlock"], 16), int(spec["toBlock"], 16)
        provider = self.w3.provider
        if not isinstance(provider, HTTPProvider):
            reply = provider.make_request(method, params)  # type: ignore[arg-type]
            result = reply.get("result") if isinstance(reply, dict) else None
            if isinstance(result, list) and len(result) > max_logs:
                raise TooManyLogs(first, last, max_logs, int(result[max_logs]["blockNumber"], 16))
            return _parsed_logs(reply)
        kwargs = dict(provider.get_request_kwargs())
        if self._stream_session is None:
            self._stream_session = http_session(str(provider.endpoint_uri))
        session = self._stream_session
        body = bytearray()
        seen, scanned = 0, 0
        with session.post(provider.endpoint_uri, data=provider.encode_rpc_request(method, params),  # type: ignore[arg-type]
                          stream=True, **kwargs) as response:
            response.raise_for_status()
            for chunk in response.iter_content(_STREAM_CHUNK):
                body += chunk
                if seen <= max_logs:  # counted in C (a regex walk per log was 4 % of the indexer's time)
                    found = body.count(_LOG_KEY, scanned)
                    if found:
                        seen += found
                        scanned = body.rfind(_LOG_KEY, scanned) + len(_LOG_KEY)
                    scanned = max(scanned, len(body) - len(_LOG_KEY) + 1)
                if seen > max_logs:
                    over = _nth_block_number(body, max_logs)
                    if over is not None:  # else its value has not arrived yet
                        raise TooManyLogs(first, last, max_logs, over)
        if seen > max_logs:
            raise ValueError(f"{method}: a reply of over {max_logs} logs without their block numbers")
        if b'"result"' in body[:_RESULT_WITHIN]:
            return LogsReply(count=seen, body=body)
        return _parsed_logs(json.loads(body))  # an error, or a result behind other keys (a proxy's long id)

    def call(self, method: str, params: list[Any], *, range_request: bool = False,
             expect: type | None = None, max_logs: int | None = None) -> Any:
        """The result of `method`; retried with backoff on any failure. With `range_request`,
        "range too large" and timeouts raise RangeTooLarge at once instead. With `max_logs` (an
        eth_getLogs), a reply of more logs raises TooManyLogs at once."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, params, expect, max_logs)
            except TooManyLogs:
                raise
            except Exception as exc:  # every transport and node failure is retried
                kind = classify(exc)
                self.failures[kind] += 1
                if range_request and kind in ("range-too-large", "timeout"):
                    raise RangeTooLarge(f"{method} {params}: {exc}") from exc
                if self.retry.max_attempts is not None and attempt >= self.retry.max_attempts:
                    raise RpcRequestFailed(
                        f"{method} failed {attempt} times ({kind}: {str(exc)[:160]}); check that the node at "
                        f"{self.url} is up and reachable") from exc
                delay = self.retry.delay(attempt)
                log.warning("%s failed (%s: %s); retry %d in %.2fs", method, kind,
                            str(exc)[:200], attempt, delay)
                self.sleep(delay)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", [], expect=str), 16)

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", [], expect=str), 16)

    def header(self, number: int) -> dict[str, Any] | None:
        """The block at `number` (without transactions), None if the node has no such block."""
        result = self.call("eth_getBlockByNumber", [hex(number), False])
        return result if isinstance(result, dict) else None

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls` in one JSON-RPC batch (one request each where the provider cannot
        batch); retried whole on any failure. A call the node answers with an error raises it."""
        if len(calls) <= 1:
            return [self.call(method, params) for method, params in calls]
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests += 1
                replies = self.w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
                if not isinstance(replies, list) or len(replies) != len(calls):
                    raise ValueError(f"malformed batch reply: {str(replies)[:200]}")
                results = []
                for (method, params), reply in zip(calls, replies, strict=True):
                    if not isinstance(reply, dict) or "result" not in reply or reply.get("error") is not None:
                        raise JsonRpcError(f"{method} {str(params)[:80]}", reply.get("error") if isinstance(
                            reply, dict) else reply)
                    results.append(reply["result"])
                return results
            except (NotImplementedError, AttributeError):
                return [self.call(method, params) for method, params in calls]
            except Exception as exc:
                kind = classify(exc)
                self.failures[kind] += 1
                if self.retry.max_attempts is not None and attempt >= self.retry.max_attempts:
                    raise RpcRequestFailed(f"a batch of {len(calls)} requests to {self.url} failed {attempt} times "
                                           f"({kind}: {str(exc)[:160]})") from exc
                delay = self.retry.delay(attempt)
                log.warning("batch of %d failed (%s: %s); retry %d in %.2fs", len(calls), kind,
                            str(exc)[:200], attempt, delay)
                self.sleep(delay)

    def headers(self, numbers: list[int]) -> dict[int, dict[str, Any] | None]:
        """Several blocks (without transactions) in one JSON-RPC batch when the provider supports it."""
        unique = sorted(set(numbers))
        results = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in unique])
        return {n: r if isinstance(r, dict) else None for n, r in zip(unique, results, strict=True)}

    def blocks(self, numbers: list[int], chunk: int = 64) -> dict[int, tuple[str, str, int]]:
        """(hash, parent hash, timestamp) of each block, asked `chunk` headers per JSON-RPC batch.
        Only those three fields are kept: a header also lists every transaction hash of its block,
        which on a dense chain is most of the reply."""
        out: dict[int, tuple[str, str, int]] = {}
        unique = sorted(set(numbers))
        for i in range(0, len(unique), chunk):
            for number, header in self.headers(unique[i:i + chunk]).items():
                if header is not None:
                    out[number] = (str(header["hash"]).lower(), str(header["parentHash"]).lower(),
                                   int(header["timestamp"], 16))
        return out

    def logs(self, addresses: list[str], from_block: int, to_block: int, *,
             max_logs: int | None = None) -> list[dict[str, Any]]:
        """The logs of `addresses` in [from_block, to_block]; with `max_logs`, TooManyLogs instead
        of a reply of more (a reply is then never held whole: see the module's docstring)."""
        return self.fetch_logs(addresses, from_block, to_block, max_logs=max_logs).entries()

    def fetch_logs(self, addresses: list[str], from_block: int, to_block: int, *,
                   max_logs: int | None = None) -> LogsReply:
        """As `logs`, but the reply is parsed only by `LogsReply.entries()`: the indexer fetches the
        next part of a range in a thread (the socket releases the GIL) while it parses this one."""
        reply = self.call("eth_getLogs", [{"address": addresses, "fromBlock": hex(from_block),
                                           "toBlock": hex(to_block)}], range_request=True, expect=list,
                          max_logs=max_logs if max_logs is not None else _UNBOUNDED)
        assert isinstance(reply, LogsReply)
        return reply
