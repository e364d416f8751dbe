"""One range of blocks read for the indexer: its logs fetched, checked against the chain, decoded.

`RangeReader.read(checkpoint, end, budget)` returns the `LogBatch` of the blocks after the checkpoint
up to `end`, or raises `ChainMoved` when the chain reorganised under the read (nothing of it is
used then). In order:

1. the hash of `end` is read; then `eth_getLogs` for all indexed addresses, in up to READ_PARTS
   parts of the range: the next part is fetched in the fetch thread (the socket releases the GIL)
   while this one is parsed and decoded here, so the node's time to build its replies overlaps
   this process's work. The parts share `budget` (`RpcClient.fetch_logs`, `TooManyLogs` over the
   whole range);
2. after each part, (hash, parent hash, time) of its blocks (queued behind the next part's fetch);
   after the last part's logs, `end` and the checkpoint again;
3. a log marked `removed`, a log's block hash that is not its block's, a checkpoint no longer
   canonical or an `end` that moved: `ChainMoved`. Every part's logs are fetched between the two
   reads of `end`, and a reorganisation under any part replaces `end` (or takes it away).

A read that fails part-way (a reorganisation, a refusal, too many logs) cancels what it had queued
in the fetch thread: the next read does not wait behind fetches nobody will use.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

from xborder.index.decode import DecodedEvent, EventDecoder
from xborder.index.rpc import LogsReply, RpcClient, TooManyLogs
from xborder.index.store import LogBatch, decode_logs, gc_paused

__all__ = ["READ_PARTS", "ChainMoved", "RangeReader"]

_T = TypeVar("_T")

#: A range is read in up to this many parts (of nearly equal blocks), the next fetched while one is
#: parsed and decoded. On the bench chain (31,697 logs in 31 blocks) 2 or 4 parts index in ~5 % less
#: time than 1 (the node spends ~0.2 s building the replies); 8 parts no better than 4.
READ_PARTS = 4


class ChainMoved(Exception):
    """The chain reorganised while a range was being read; read it again."""


def spans(start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """[start, end] cut into at most `parts` consecutive ranges of (nearly) equal blocks."""
    blocks = end - start + 1
    parts = max(1, min(parts, blocks))
    edges = [start + blocks * i // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(parts)]


@dataclass
class RangeReader:
    """Reads ranges of `addresses`' logs through `rpc`; `fetcher` (set while the indexer syncs) is
    the thread that fetches the next part of a range; without it the parts are one, fetched in turn."""

    rpc: RpcClient
    addresses: list[str]
    decoder: EventDecoder
    contract_of: dict[str, str]
    fetcher: ThreadPoolExecutor | None = None

    def read(self, checkpoint: tuple[int, str], end: int, budget: int) -> tuple[LogBatch, str]:
        """The logs of (checkpoint, end], checked against the node's chain and decoded (GC paused),
        and the hash of `end`; TooManyLogs if the range (of more than one block) holds more than
        `budget` logs, ChainMoved if the chain moved under the read."""
        with gc_paused():
            return self._read_checked(checkpoint, end, budget)

    def _read_checked(self, checkpoint: tuple[int, str], end: int, budget: int) -> tuple[LogBatch, str]:
        start = checkpoint[0] + 1
        first = self.rpc.header(end)
        if first is None:
            raise ChainMoved()
        rows: list[tuple[Any, ...]] = []
        events: list[DecodedEvent] = []
        headers: list[Future[dict[int, tuple[str, str, int]]]] = []
        try:
            with closing(self._logs_in_parts(start, end, budget)) as in_parts:  # closed at once on a failure
                for entries in in_parts:
                    if any(entry.get("removed") for entry in entries):
                        raise ChainMoved()
                    part_rows, part_events = decode_logs(entries, self.decoder, self.contract_of)
                    del entries
                    rows += part_rows  # the parts are in block order, and each part's rows too
                    events += part_events
                    headers.append(self._fetch(self.rpc.blocks, sorted({row[0] for row in part_rows})))
            blocks = self.rpc.blocks(sorted({end} | ({checkpoint[0]} if checkpoint[0] >= 0 else set())))
            for part in headers:
                blocks.update(part.result())
        finally:
            for part in headers:
                part.cancel()  # a no-op once done; drops the queued ones after a failure
        numbers = {row[0] for row in rows}
        end_block = blocks.get(end)
        if end_block is None or end_block[0] != str(first["hash"]).lower():
            raise ChainMoved()
        if checkpoint[0] >= 0:
            cp = blocks.get(checkpoint[0])
            if cp is None or cp[0] != checkpoint[1]:
                raise ChainMoved()
        for number, block_hash in {(row[0], row[2]) for row in rows}:  # a row: block number, log index, block hash
            block = blocks.get(number)
            if block is None or block[0] != block_hash:
                raise ChainMoved()
        return LogBatch(rows, events, {n: blocks[n] for n in numbers}), end_block[0]

    def _logs_in_parts(self, start: int, end: int, budget: int) -> Generator[list[dict[str, Any]], None, None]:
        """The logs of [start, end] in up to READ_PARTS parts, in block order. Each part may hold
        what the parts before it left of `budget`, so the range holds at most `budget` (TooManyLogs
        names the block where it ran out, over the whole range); a range of one block is read whole."""
        left = budget

        def fetch(lo: int, hi: int, cap: int | None) -> LogsReply:
            return self.rpc.fetch_logs(self.addresses, lo, hi, max_logs=cap)

        parts = spans(start, end, READ_PARTS if self.fetcher is not None else 1)
        pending = self._fetch(fetch, *parts[0], left if end > start else None)
        try:
            for i in range(len(parts)):
                try:
                    reply = pending.result()
                except TooManyLogs as exc:
                    raise TooManyLogs(start, end, budget, exc.over) from None
                left -= reply.count
                if i + 1 < len(parts):
                    pending = self._fetch(fetch, *parts[i + 1], left)
                entries = reply.entries()
                del reply  # its bytes, while the entries are decoded
                yield entries
        finally:
            pending.cancel()  # the next part, when the read stopped before it (a no-op once done)

    def _fetch(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """`fn(*args)` in the fetch thread, in the order asked (at once, here, without one)."""
        if self.fetcher is not None:
            return self.fetcher.submit(fn, *args)
        done: Future[_T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result, as a thread would
            done.set_exception(exc)
        return done
