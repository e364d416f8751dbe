"""`python -m xborder.bench` stopped in its work (SIGTERM, as `kill`, docker stop or CI send it): one
line on stderr, no traceback, exit 130, and nothing it started left running or on disk (its anvil,
the pool miner's chain, the work folder, anvil's past-state folder)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from xborder.chain.pids import alive
from xborder.config import PROJECT_ROOT


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | _descendants(child)
    return found


def _wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> list[str]:
    """stdout lines up to the first that starts with `prefix` (the bench prints one per section)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                continue
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(prefix):
                return lines
    raise AssertionError(f"the bench never printed a line starting {prefix!r} in {timeout:.0f}s "
                         f"(exit {process.poll()}): {''.join(lines)[-2000:]}")


def test_sigterm_in_the_ingest_section_exits_130_with_one_line(tmp_path: Path) -> None:
    env = os.environ | {"TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "xborder.bench", "--quick", "--only", "gas,ingest", "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        _wait_for_line(process, "ingest", timeout=600)
        time.sleep(2.0)  # in the ingest section's work: its chain mined on demand, loans streaming
        children = _descendants(process.pid)
        assert any(alive(pid, command=b"anvil") for pid in children), "no anvil running under the bench"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, f"exit {process.returncode}; stderr: {err[-3000:]}"
    lines = err.strip().splitlines()
    assert "Traceback" not in err and "Traceback" not in out
    assert len(lines) == 1 and lines[0].startswith("xborder.bench: interrupted"), err
    assert "SIGTERM" in lines[0]
    assert [pid for pid in children if alive(pid)] == [], "processes the bench started are still running"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("xborder-bench-", "xborder-anvil-"))) \
        == [], "the bench left its work folder or anvil's past-state folder behind"
