"""`xborder index ...`, `xborder report ...` and `xborder serve` against the indexed book (real
anvil, real contracts, SQLite): the figures, --json, --csv and the exit codes of bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import HOSTILE_PARENT, xborder
from loan_setup import BORROWER_X
from web3.types import RPCEndpoint

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
    (["api", "token", "issue", "--scope", "bank"], 2, "--scope: 'bank' is not a scope (regulator or institution:<id>"),
    (["api", "token", "issue", "--scope", "institution:0"], 2, "--scope: 'institution:0' is not a scope"),
    (["api", "token", "issue", "--scope", "institution:999"], 2, "--scope: institution 999 is not in the index"),
    (["api", "token", "issue", "--scope", "regulator", "--expires", "2001-01-01"], 2, "--expires: '2001-01-01' is in the past"),
    (["api", "token", "issue", "--scope", "regulator", "--expires", "soon"], 2, "--expires: 'soon' is not an expiry"),
    (["api", "token", "revoke", "abc"], 2, "token: 'abc' is not an issued token"),
])
def test_bad_input_exit_codes(env: dict[str, str], args: list[str], code: int, text: str) -> None:
    xborder("index", "run", env=env)
    run = xborder(*args, env=env)
    assert run.code == code, (run.out, run.err)
    assert text in run.err and run.err.startswith("xborder: error: ")


def _get(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_token_verbs_and_serve(env: dict[str, str]) -> None:
    xborder("index", "run", env=env)
    issued = xborder("api", "token", "issue", "--scope", "regulator", "--label", "ops", env=env)
    assert issued.code == 0, issued.err
    token = issued.out.strip()
    assert token.startswith("xbt_") and "\n" not in token and "shown only now" in issued.err
    inst = xborder("api", "token", "issue", "--scope", f"institution:{BORROWER_X}", "--expires", "30d", "--json",
                   env=env).json()
    assert inst["scope"] == f"institution:{BORROWER_X}" and inst["state"] == "active" and inst["expires_at"]
    listed = xborder("api", "token", "list", "--json", env=env).json()["tokens"]
    assert {t["token_id"] for t in listed} >= {inst["token_id"]} and all("token" not in t for t in listed)
    assert token not in xborder("api", "token", "list", env=env).out

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "xborder.cli.main", "serve", "--port", str(port)],
                            env={**__import__("os").environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, headers = _get(base + "/api/summary")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "xborder serve did not answer"
                time.sleep(0.2)
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="xborder"'
        status, body, _ = _get(base + "/api/summary", token)
        assert status == 200 and json.loads(body)["loans"] == 6
        status, body, _ = _get(base + "/api/summary", inst["token"])
        assert status == 403
        status, body, _ = _get(base + "/")
        assert status == 200 and b"dashboard.js" in body
        revoked = xborder("api", "token", "revoke", issued.err.split()[1], "--json", env=env)
        assert revoked.code == 0 and revoked.json()["state"] == "revoked"
        assert _get(base + "/api/summary", token)[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _start_follower(env: dict[str, str], *, hostile_parent: bool = False) -> subprocess.Popen[str]:
    import os

    launcher = [sys.executable, "-c", HOSTILE_PARENT] if hostile_parent else [sys.executable]
    return subprocess.Popen([*launcher, "-m", "xborder.cli.main", "index", "follow", "--poll-interval", "0.1"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen[str], env: dict[str, str], block: int) -> None:
    # A bound on a hang, not a timing check: it returns as soon as the follower is there. Each
    # probe is a CLI process (seconds to start on a loaded 2-core machine), so the bound is generous.
    deadline = time.monotonic() + 120
    while True:
        run = xborder("index", "status", "--json", env=env)
        if run.code == 0 and run.json()["checkpoint"] == block:
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"follow did not reach block {block}"
        time.sleep(0.1)


def _stop_follower(proc: subprocess.Popen[str], signum: int) -> str:
    """Its stderr once `signum` stopped it cleanly (exit 0, "stopped")."""
    proc.send_signal(signum)
    try:  # a bound on a hang: two concurrent `make test` runs once took longer than 15 s here
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"index follow did not stop within 90 s of signal {signum}; its output:\n{err}")
    assert proc.returncode == 0, err
    assert "following" in err and "stopped" in err
    return err


def test_index_follow_keeps_up_until_interrupted(book: Book, env: dict[str, str], tmp_path: Path) -> None:
    import signal

    follow_env = {**env, "XBORDER_DATABASE_URL": f"sqlite:///{tmp_path / 'follow.db'}"}
    proc = _start_follower(follow_env)
    try:
        _wait_for(proc, follow_env, book.w3.eth.block_number)
        for _ in range(3):
            book.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        _wait_for(proc, follow_env, book.w3.eth.block_number)
    finally:
        _stop_follower(proc, signal.SIGINT)


def test_the_hostile_parent_ignores_and_blocks_sigint_and_sigterm() -> None:
    """The launcher of the next test really starts its command as the whole-suite runs did."""
    status = subprocess.run([sys.executable, "-c", HOSTILE_PARENT, "-c", "print(open('/proc/self/status').read())"],
                            capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    stops = (1 << (2 - 1)) | (1 << (15 - 1))  # SIGINT 2, SIGTERM 15
    assert int(fields["SigIgn"], 16) & stops == stops and int(fields["SigBlk"], 16) & stops == stops, fields


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_index_follow_stops_on_a_signal_its_parent_ignored_and_blocked(book: Book, env: dict[str, str],
                                                                       tmp_path: Path, signame: str) -> None:
    """The cause of the hang of the whole-suite runs: started as a background job of a shell without
    job control, the follower inherited SIGINT ignored and slept through it."""
    import signal

    follow_env = {**env, "XBORDER_DATABASE_URL": f"sqlite:///{tmp_path / 'follow.db'}"}
    proc = _start_follower(follow_env, hostile_parent=True)
    try:
        _wait_for(proc, follow_env, book.w3.eth.block_number)
    finally:
        _stop_follower(proc, getattr(signal, signame))
