"""The OpenAPI document says what the API really does: Schemathesis (all checks) generates requests
from /openapi.json, sends them to a real `xborder serve` over the indexed book, and checks every
answer against the document (status codes, media types, bodies, parameter rules, authentication).

Schemathesis lives in its own venv (.venv-schemathesis, requirements-schemathesis.txt, built by
`make deps`): eth-brownie pins hypothesis 6.27 in .venv and Schemathesis needs a newer one.
Without it the test is skipped on a workstation and FAILS under CI (`CI=true`).

`XBORDER_FUZZ_EXAMPLES` (cases per operation, default 20) and `XBORDER_FUZZ_SEED` (default 1)
tune a run; the report (and a reproducing curl for each failure) goes to reports/schemathesis/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loan_setup import BORROWER_X

from xborder.chain import free_port
from xborder.config import PROJECT_ROOT

from .conftest import Tokens
from .world import Book

pytestmark = pytest.mark.slow

SCHEMATHESIS = PROJECT_ROOT / ".venv-schemathesis" / "bin" / "schemathesis"
HOOKS = Path(__file__).resolve().parent / "schemathesis_hooks.py"
REPORTS = PROJECT_ROOT / "reports" / "schemathesis"


@pytest.fixture(scope="module")
def served(book: Book, tokens: Tokens) -> Iterator[str]:
    if not SCHEMATHESIS.exists():
        message = f"the fuzz test needs {SCHEMATHESIS} (run `make deps`)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    env = {**os.environ, "XBORDER_DATABASE_URL": book.settings.index_url, "XBORDER_RPC_URL": str(book.settings.rpc_url),
           "XBORDER_DEPLOYMENTS_DIR": str(book.settings.deployments)}
    # The server's log goes to a file, never to an unread pipe: uvicorn logs every request, and a full
    # pipe (64 KiB) blocked the server mid-run (read timeouts, then a server that would not stop).
    REPORTS.mkdir(parents=True, exist_ok=True)
    server_log = REPORTS / "serve.log"
    with server_log.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "xborder.cli.main", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=log_file, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/openapi.json", timeout=2).close()
            break
        except (OSError, urllib.error.URLError):
            assert proc.poll() is None, server_log.read_text()[-4000:]
            assert time.monotonic() < deadline, "xborder serve did not answer"
            time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _fuzz(base: str, token: str, name: str) -> subprocess.CompletedProcess[str]:
    REPORTS.mkdir(parents=True, exist_ok=True)
    args = [str(SCHEMATHESIS), "run", f"{base}/openapi.json", "--checks", "all",
            "--max-examples", os.environ.get("XBORDER_FUZZ_EXAMPLES", "20"),
            "--seed", os.environ.get("XBORDER_FUZZ_SEED", "1"), "--generation-database", "none",
            "--header", f"Authorization: Bearer {token}", "--request-timeout", "30",
            "--report", "junit", "--report-junit-path", str(REPORTS / f"{name}.xml")]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, cwd=REPORTS)
    (REPORTS / f"{name}.txt").write_text(run.stdout + run.stderr)
    return run


def test_the_document_holds_for_the_regulator(served: str, tokens: Tokens) -> None:
    run = _fuzz(served, tokens.regulator, "regulator")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " generated, " in run.stdout and " passed" in run.stdout


def test_the_document_holds_for_an_institution(served: str, tokens: Tokens) -> None:
    run = _fuzz(served, tokens.institutions[BORROWER_X], "institution")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
