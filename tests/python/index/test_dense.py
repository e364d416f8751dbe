"""Issue #14: ranges are sized by logs, not blocks. A chain of very dense blocks (many transactions
mined in one `evm_mine`, hundreds of logs each) indexed with a small log budget is split into
ranges that each hold at most the budget (a single block over it is read alone), and the index
equals the chain: the same logs as eth_getLogs, and the same tables as an index made in big ranges."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from xborder.index import Indexer, IndexStats, open_database
from xborder.index import rpc as rpc_module
from xborder.index.reader import READ_PARTS, spans
from xborder.index.rpc import RpcClient, TooManyLogs

from .helpers import Emitters, Workload, dump, one_row

TARGET, BUDGET = 50, 300
PER_TX = 10
LOAN = 1 << 32 | 777


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    reply = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in reply, reply
    return reply["result"]


def _dense_block(w3: Web3, emitters: Emitters, work: Workload, txs: int, drawn: int) -> int:
    """One block of `txs` transactions of PER_TX LoanDrawn logs each plus a few workload steps;
    returns the amount drawn so far."""
    for _ in range(txs):
        emitters.ledger.functions.drawMany(LOAN, 1, drawn, drawn, PER_TX).transact(
            {"from": w3.eth.accounts[0], "gas": 2_000_000})
        drawn += PER_TX
    work.run(5)
    _rpc(w3, "evm_mine", [])
    return drawn


@pytest.fixture
def dense_chain(w3: Web3, emitters: Emitters) -> tuple[Emitters, int]:
    """Sparse blocks, then dense blocks (80, 200, 400 and 1,200 LoanDrawn logs, one block of 2 txs),
    then sparse blocks again; returns the emitters and the head."""
    work = Workload(emitters, seed=5)
    work.setup()
    work.run(30)
    request = (1, 2, b"USD", 10**15, 1_700_000_000, 1_800_000_000, 1, b"\x01" * 32, b"\x02" * 32)
    emitters.send(emitters.ledger.functions.loanRecorded(LOAN, 2, 2, request, False, 0))
    _rpc(w3, "evm_setAutomine", [False])
    drawn = 0
    for txs in (8, 20, 2, 40, 120, 20):
        drawn = _dense_block(w3, emitters, work, txs, drawn)
    _rpc(w3, "evm_setAutomine", [True])
    work.run(30)
    return emitters, w3.eth.block_number


def _chain_logs(w3: Web3, emitters: Emitters, head: int) -> dict[str, int]:
    out = {}
    for c in emitters.contracts():
        logs = _rpc(w3, "eth_getLogs", [{"address": c.address, "fromBlock": hex(c.start_block), "toBlock": hex(head)}])
        out[c.name] = len(logs)
    return out


def test_dense_blocks_are_split_by_logs_and_the_index_equals_the_chain(
        w3: Web3, dense_chain: tuple[Emitters, int], tmp_path: Path) -> None:
    emitters, head = dense_chain
    densest = max(len(_rpc(w3, "eth_getLogs", [{"fromBlock": hex(n), "toBlock": hex(n)}]))
                  for n in range(emitters.start_block, head + 1))
    assert densest > BUDGET  # one block alone is over the budget: it is read whole, alone

    batches: list[tuple[int, int]] = []  # (blocks spanned, logs) of each batch
    last = [emitters.start_block - 1, 0]

    def on_batch(stats: IndexStats) -> None:
        batches.append((stats.checkpoint - last[0], stats.logs - last[1]))
        last[:] = [stats.checkpoint, stats.logs]

    db = open_database(f"sqlite:///{tmp_path / 'dense.db'}")
    # Ranges of up to 10,000 blocks (the chain has about 80): without the budget, a few batches of every log.
    indexer = Indexer(db, w3, emitters.contracts(), batch_blocks=10_000, target_events=TARGET, log_budget=BUDGET,
                      on_batch=on_batch)
    stats = indexer.run()
    assert stats.checkpoint == head

    chain = _chain_logs(w3, emitters, head)
    total = sum(chain.values())
    assert stats.logs == total > 5 * BUDGET
    assert stats.range_shrinks > 0 and stats.batches == len(batches) > total // BUDGET
    assert all(logs <= BUDGET or blocks == 1 for blocks, logs in batches), batches
    assert any(blocks == 1 and logs > BUDGET for blocks, logs in batches), batches
    assert {str(c): int(n) for c, n in db.query("SELECT contract, COUNT(*) FROM raw_logs GROUP BY contract")} == chain
    assert one_row(db, "SELECT SUM(logs) FROM log_counts")[0] == total
    drawn = one_row(db, "SELECT drawn FROM loans WHERE loan_id = ?", (LOAN,))[0]
    assert int(drawn) == PER_TX * (8 + 20 + 2 + 40 + 120 + 20)

    whole = open_database(f"sqlite:///{tmp_path / 'whole.db'}")
    one = Indexer(whole, w3, emitters.contracts(), batch_blocks=10_000, target_events=10**6).run()
    assert one.logs == total and one.batches < stats.batches and one.range_shrinks == 0
    assert dump(db) == dump(whole)


@pytest.mark.parametrize("chunk", [13, 1 << 20])
def test_logs_over_the_budget_name_the_block_where_it_runs_out(w3: Web3, dense_chain: tuple[Emitters, int],
                                                               chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in chunks of 13 bytes too: a log's `"blockNumber"` key or value cut by a chunk's end is
    counted once, and the block where the budget runs out is named once its value has arrived."""
    monkeypatch.setattr(rpc_module, "_STREAM_CHUNK", chunk)
    emitters, head = dense_chain
    rpc = RpcClient(w3)
    addresses = [c.address.lower() for c in emitters.contracts()]
    # the reference: web3's own request, not the stream under test
    every = _rpc(w3, "eth_getLogs", [{"address": addresses, "fromBlock": hex(emitters.start_block),
                                      "toBlock": hex(head)}])
    whole = rpc.fetch_logs(addresses, emitters.start_block, head, max_logs=len(every))
    assert whole.count == len(every) and whole.entries() == every
    for budget in (0, 1, 99, BUDGET, len(every) - 1):
        with pytest.raises(TooManyLogs) as caught:
            rpc.logs(addresses, emitters.start_block, head, max_logs=budget)
        assert caught.value.over == int(every[budget]["blockNumber"], 16), budget
        assert (caught.value.from_block, caught.value.to_block, caught.value.budget) == (
            emitters.start_block, head, budget)


@pytest.mark.parametrize(("start", "end"), [(5, 5), (5, 6), (1, 31), (10, 10_009), (7, 7 + READ_PARTS)])
def test_a_range_is_read_in_parts_that_cover_it_once_in_order(start: int, end: int) -> None:
    parts = spans(start, end, READ_PARTS)
    assert len(parts) == min(READ_PARTS, end - start + 1)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(lo <= hi for lo, hi in parts) and all(a[1] + 1 == b[0] for a, b in itertools.pairwise(parts))
    sizes = [hi - lo + 1 for lo, hi in parts]
    assert max(sizes) - min(sizes) <= 1


class _LongIdNode(ThreadingHTTPServer):
    """Answers every eth_getLogs with two logs, behind a long id (a proxy's, say)."""

    reply = json.dumps({"jsonrpc": "2.0", "id": "x" * 120, "result": [
        {"blockNumber": "0x5", "logIndex": "0x0"}, {"blockNumber": "0x7", "logIndex": "0x0"}]}).encode()


class _LongIdHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_LongIdNode.reply)))
        self.end_headers()
        self.wfile.write(_LongIdNode.reply)


def test_a_result_behind_other_keys_is_read_and_counted() -> None:
    server = _LongIdNode(("127.0.0.1", 0), _LongIdHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rpc = RpcClient(Web3(Web3.HTTPProvider(f"http://127.0.0.1:{server.server_address[1]}")))
        reply = rpc.fetch_logs(["0x" + "00" * 20], 1, 9, max_logs=5)
        assert reply.count == 2 and [e["blockNumber"] for e in reply.entries()] == ["0x5", "0x7"]
        with pytest.raises(TooManyLogs) as caught:
            rpc.fetch_logs(["0x" + "00" * 20], 1, 9, max_logs=1)
        assert caught.value.over == 7
    finally:
        server.shutdown()
        server.server_close()
