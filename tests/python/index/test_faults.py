"""A flaky node: a local HTTP proxy in front of anvil drops, delays and fails requests (timeouts,
connection resets, 500, 429, garbled bodies, "range too large"); the index still comes out
identical to one made over a clean connection."""

from __future__ import annotations

import json
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from web3 import Web3

from xborder.chain import LocalNode, free_port
from xborder.index import Indexer, RetryPolicy, open_database
from xborder.index.reader import READ_PARTS
from xborder.index.service import indexer_web3

from .helpers import Emitters, Workload, dump

CLIENT_TIMEOUT = 0.5
#: Less than a quarter of the first range (64 blocks), which the indexer reads in READ_PARTS parts.
MAX_LOG_RANGE = 8


class FaultyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, seed: int, fault_rate: float) -> None:
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.fault_rate = fault_rate
        self.injected: Counter[str] = Counter()
        #: Methods answered 502 every time (a node whose log queries fail for good).
        self.failing: set[str] = set()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hung up on a delayed reply: that is the point of the fault

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def pick(self) -> str:
        with self.lock:
            if self.rng.random() >= self.fault_rate:
                return "pass"
            return self.rng.choice(["drop", "reset", "delay", "500", "502", "429", "garbage", "rpc-error"])


class _Handler(BaseHTTPRequestHandler):
    server: FaultyProxy

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = json.loads(body)
        fault = self.server.pick()
        # Like many providers: eth_getLogs over more than MAX_LOG_RANGE blocks is refused.
        if isinstance(request, dict) and request.get("method") == "eth_getLogs":
            spec = request["params"][0]
            if int(spec["toBlock"], 16) - int(spec["fromBlock"], 16) + 1 > MAX_LOG_RANGE:
                fault = "range"
        if isinstance(request, dict) and request.get("method") in self.server.failing:
            fault = "502"
        self.server.injected[fault] += 1
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault == "delay":
            time.sleep(CLIENT_TIMEOUT * 2)
        if fault in ("500", "502"):
            return self._reply(int(fault), b"upstream exploded")
        if fault == "429":
            return self._reply(429, b'{"error": "Too Many Requests"}')
        if fault == "garbage":
            return self._reply(200, b'{"jsonrpc": "2.0", "id": 1, "res')
        rid = request.get("id", 1) if isinstance(request, dict) else 1
        if fault == "rpc-error":
            return self._reply(200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32603, "message": "internal error: header not found"}}).encode())
        if fault == "range":
            return self._reply(200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32005, "message": f"query exceeds max block range {MAX_LOG_RANGE}"}}).encode())
        upstream = urllib.request.Request(self.server.upstream, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(upstream, timeout=30) as response:
            self._reply(200, response.read())


@pytest.fixture
def proxy(anvil: LocalNode) -> Iterator[FaultyProxy]:
    server = FaultyProxy(anvil.rpc_url, seed=13, fault_rate=0.3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_faults_are_retried_and_the_index_is_identical(db_url: str, w3: Web3, emitters: Emitters,
                                                       proxy: FaultyProxy, tmp_path: Path) -> None:
    work = Workload(emitters, seed=21)
    work.setup()
    work.run(120)
    target = w3.eth.block_number

    flaky = open_database(db_url)
    indexer = Indexer(flaky, indexer_web3(proxy.url, timeout=CLIENT_TIMEOUT), emitters.contracts(),
                      batch_blocks=64, retry=RetryPolicy(initial_delay=0.01, max_delay=0.1))
    stats = indexer.run(to_block=target)

    clean = open_database(f"sqlite:///{tmp_path / 'clean.db'}")
    Indexer(clean, w3, emitters.contracts()).run(to_block=target)
    assert stats.checkpoint == target
    assert dump(flaky) == dump(clean)
    # Every kind of fault was met, reported, and survived; the range adapted to the node's limit.
    for kind in ("drop", "reset", "delay", "500", "429", "garbage", "rpc-error", "range"):
        assert proxy.injected[kind] > 0, proxy.injected
    # A range is read in READ_PARTS parts, and a part over the limit is refused: after the node's last
    # refusal the range is at most READ_PARTS x the limit; each accepted batch doubles it, and a range
    # above that is refused again, except a last batch cut short by the target: so at most 4x that.
    assert stats.range_shrinks > 0 and indexer.batch_blocks <= 4 * READ_PARTS * MAX_LOG_RANGE
    assert {"rate-limited", "http-500", "range-too-large", "timeout"} <= set(stats.failures), stats.failures


def test_an_indexer_stuck_on_a_failing_node_stops_at_once_on_ctrl_c(
        w3: Web3, emitters: Emitters, proxy: FaultyProxy, tmp_path: Path) -> None:
    """eth_getLogs fails for good: the indexer retries it for ever in its fetch thread, the main thread
    waits for the reply. SIGINT must still end the process within seconds (the retry in the thread
    gives up while the run unwinds), not leave it retrying a dead node behind an exiting interpreter —
    also when the suite runs as a background job that inherited SIGINT ignored (the child unwinds on
    it all the same: `unwind_on_stop_signals`)."""
    Workload(emitters, seed=4).setup()
    proxy.fault_rate = 0.0
    proxy.failing.add("eth_getLogs")
    spec = tmp_path / "contracts.json"
    spec.write_text(json.dumps([{"name": c.name, "address": c.address, "abi": c.abi, "start_block": c.start_block}
                                for c in emitters.contracts()]))
    child = subprocess.Popen([sys.executable, "-m", "xborder.bench.index_child", proxy.url,
                              f"sqlite:///{tmp_path / 'stuck.db'}", str(spec), str(w3.eth.block_number)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while proxy.injected["502"] < 3:  # retried at least twice: stuck in the fetch thread's retries
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)
        stopped_at = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=20)
        assert time.monotonic() - stopped_at < 10, err
        assert child.returncode != 0 and "KeyboardInterrupt" in err, err
    finally:
        child.kill()
        child.wait()
