"""`xborder index ...`, `xborder report ...` and `xborder serve` against the indexed book (real
anvil, real contracts, SQLite): the figures, --json, --csv and the exit codes of bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import xborder
from loan_setup import BORROWER_X

from xborder.chain import free_port

from .world import EXPECTED_BALANCE, EXPECTED_OUTSTANDING, Book


@pytest.fixture(scope="module")
def env(book: Book, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    return {"XBORDER_DATA_DIR": str(folder / ".xborder"), "XBORDER_DEPLOYMENTS_DIR": str(book.settings.deployments),
            "XBORDER_DATABASE_URL": f"sqlite:///{folder / 'cli.db'}", "XBORDER_RPC_URL": str(book.settings.rpc_url)}


def test_index_run_status_then_reports(book: Book, env: dict[str, str], tmp_path: Path) -> None:
    run = xborder("index", "run", "--json", env=env)
    assert run.code == 0, run.err
    assert run.json()["checkpoint"] == book.w3.eth.block_number and run.json()["events"] > 18
    status = xborder("index", "status", "--json", env=env).json()
    assert status["lag"] == 0 and status["counts"]["loans"] == 6

    summary = xborder("report", "summary", "--json", env=env).json()
    assert summary["outstanding"] == EXPECTED_OUTSTANDING
    human = xborder("report", "summary", env=env)
    assert "CNY 356,550,000.00" in human.out and "USD 30,000,000.00" in human.out

    one = xborder("report", "exposure", str(BORROWER_X), "--json", env=env).json()
    assert one["risk_weighted_balance"] == EXPECTED_BALANCE[BORROWER_X]
    assert "CNY 323,000,000.00" in xborder("report", "exposure", str(BORROWER_X), env=env).out
    ranked = xborder("report", "exposure", "--json", env=env).json()
    assert ranked["items"][0]["name"] == "BORROWER-X"

    target = tmp_path / "out" / "loans.csv"
    assert xborder("report", "loans", "--currency", "USD", "--csv", str(target), env=env).code == 0
    rows = list(csv.DictReader(target.open()))
    assert {int(r["loan_id"]) for r in rows} == {book.loans["x-usd"], book.loans["a-usd"]}
    to_stdout = xborder("report", "totals", "--by", "currency", "--csv", "-", env=env)
    assert {r["currency"]: int(r["outstanding"]) for r in csv.DictReader(io.StringIO(to_stdout.out))} == EXPECTED_OUTSTANDING
    volumes = xborder("report", "volumes", "--period", "month", "--json", env=env).json()
    assert sum(v["drawn_cny"] for v in volumes["items"] if v["currency"] == "USD") == 213_000_000_00
    assert xborder("report", "loans", "--status", "cancelled", "--json", env=env).json()["total"] == 1

    consistent = xborder("report", "consistency", "--json", env=env)
    assert consistent.code == 0 and consistent.json()["ok"]

    snapshot = xborder("report", "dashboard", "--out", str(tmp_path / "snap"), "--json", env=env)
    assert snapshot.code == 0 and "window.XBORDER_SNAPSHOT = {" in Path(snapshot.json()["path"]).read_text()


@pytest.mark.parametrize(("args", "code", "text"), [
    (["report", "loans", "--status", "open"], 2, "--status: 'open' is not a loan status"),
    (["report", "loans", "--currency", "DOLLAR"], 2, "--currency: 'DOLLAR' is not an ISO 4217"),
    (["report", "loans", "--from", "2025-13-01"], 2, "--from: '2025-13-01' is not a date"),
    (["report", "loans", "--borrower", "999"], 2, "--borrower: institution 999 is not in the index"),
    (["report", "loans", "--limit", "0"], 2, "--limit"),
    (["report", "exposure", "999"], 2, "borrower: institution 999 is not in the index"),
    (["report", "totals", "--by", "planet"], 2, "--by"),
    (["report", "volumes", "--period", "year"], 2, "--period"),
    (["serve", "--port", "8545"], 2, "8545 is reserved"),
])
def test_bad_input_exit_codes(env: dict[str, str], args: list[str], code: int, text: str) -> None:
    xborder("index", "run", env=env)
    run = xborder(*args, env=env)
    assert run.code == code, (run.out, run.err)
    assert text in run.err and run.err.startswith("xborder: error: ")


def test_serve_answers_http(env: dict[str, str]) -> None:
    xborder("index", "run", env=env)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "xborder.cli.main", "serve", "--port", str(port)],
                            env={**__import__("os").environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "xborder serve did not answer"
                time.sleep(0.2)
        assert body["loans"] == 6
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            assert b"dashboard.js" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_index_follow_keeps_up_until_interrupted(book: Book, env: dict[str, str], tmp_path: Path) -> None:
    import os
    import signal

    follow_env = {**env, "XBORDER_DATABASE_URL": f"sqlite:///{tmp_path / 'follow.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "xborder.cli.main", "index", "follow", "--poll-interval", "0.1"],
                            env={**os.environ, **follow_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def checkpoint() -> int | None:
            run = xborder("index", "status", "--json", env=follow_env)
            return run.json()["checkpoint"] if run.code == 0 else None

        def wait_for(block: int) -> None:
            deadline = time.monotonic() + 20
            while checkpoint() != block:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, f"follow did not reach block {block}"
                time.sleep(0.1)

        wait_for(book.w3.eth.block_number)
        for _ in range(3):
            book.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        wait_for(book.w3.eth.block_number)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "following" in err and "stopped" in err
