"""`xborder.chain.pids.alive`: the one liveness check of the embedded chain (keeper, anvil) and of
the owners of anvil's past-state folders, on real processes."""

from __future__ import annotations

import os
import subprocess
import sys

from xborder.chain.pids import alive

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    proc = subprocess.Popen(SLEEPER)
    try:
        assert alive(proc.pid)
        assert alive(os.getpid())
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not alive(proc.pid)
    assert not alive(None) and not alive(0)


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        assert not alive(proc.pid)
    finally:
        proc.wait(timeout=10)


def test_with_a_command_a_process_running_something_else_is_not_ours() -> None:
    """A pid reused by another program is not our anvil (the past-state sweep's case)."""
    proc = subprocess.Popen(SLEEPER)
    try:
        assert alive(proc.pid, command=b"time.sleep")
        assert not alive(proc.pid, command=b"anvil")
    finally:
        proc.kill()
        proc.wait(timeout=10)
