"""`xborder demo --scale 2022` at a tiny fraction, end to end on the embedded anvil: the calendar's
changes land on their dates, refusals are counted by parameter period, the index agrees with the
chain for every borrower; and a run interrupted in the middle of sending a batch of loans, then
resumed, ends exactly where an uninterrupted run ends, with nothing recorded twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cli_helpers import HOSTILE_PARENT

from xborder.chain import embedded
from xborder.chain.connect import connect
from xborder.config import PROJECT_ROOT, Settings
from xborder.demo.result import DemoResult, scale_lines
from xborder.demo.scale import CHECKPOINT, ScaleConfig, run_scale
from xborder.errors import ChainError
from xborder.index.service import open_index
from xborder.services.calendar_replay import plan_segments
from xborder.services.workload import generate

FRACTION = 0.002  # 170 loans, 24 enterprises, 3 banks


def _settings(root: Path) -> Settings:
    return Settings(project_root=PROJECT_ROOT, data_dir=root / ".xborder", deployments_dir=root / "deployments")


class Interrupting:
    """A reporter that interrupts the run (as Ctrl-C would) once `after` loans were sent."""

    def __init__(self, after: int) -> None:
        self.after = after

    def phase(self, title: str, total: int) -> Callable[[int, int], None]:
        def advance(done: int, _total: int) -> None:
            if title.startswith("recording loans") and done >= self.after:
                raise KeyboardInterrupt
        return advance

    def say(self, message: str) -> None:
        pass


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, DemoResult]]:
    settings = _settings(tmp_path_factory.mktemp("scale"))
    try:
        yield settings, run_scale(settings, ScaleConfig(fraction=FRACTION))
    finally:
        embedded.stop(settings)


def _landed(result: DemoResult) -> dict[str, int]:
    return dict(result.policy["transactions"])


def test_tiny_scale_run(straight: tuple[Settings, DemoResult]) -> None:
    settings, result = straight
    tx = _landed(result)
    assert result.loans_recorded == result.chain_loan_count == result.indexed_loan_count == tx["records"] > 100
    assert tx["total"] == sum(v for k, v in tx.items() if k != "total") and tx["repayments"] and tx["extensions"]
    assert result.consistency_ok and result.consistency_borrowers > 0
    # the regulator followed the calendar: enterprises and financial institutions back at 1.0 at the end
    assert result.policy["in_force"] == {"adjustment-enterprise": 1.0, "adjustment-financial": 1.0}
    assert set(result.policy["by_period"]) <= {
        "from 2017-01-22: enterprises 1, financial institutions 1",
        "from 2020-03-11: enterprises 1.25, financial institutions 1.25",
        "from 2020-12-11: enterprises 1.25, financial institutions 1",
        "from 2021-01-07: enterprises 1, financial institutions 1"}
    assert sum(sum(v.values()) for v in result.policy["by_period"].values()) == sum(result.refusals.values())
    printed = "\n".join(scale_lines(result))
    assert f"loan transactions landed: {tx['total']:,}" in printed and "refusals by parameter period" in printed
    # the parameter changes are on chain on their dates (the ParameterUpdated events' blocks)
    db = open_index(settings)
    try:
        documents = db.query_one("SELECT COUNT(*), COUNT(DISTINCT document_hash) FROM loans")
    finally:
        db.close()
    assert documents is not None and documents[0] == result.loans_recorded


def test_segments_cut_at_the_change_dates() -> None:
    workload = generate(seed=3, enterprises=10, banks=3, foreign_branches=1, nbfis=1, creditors=3, loans=300,
                        total_usd=1e8, start_ts=1_551_398_400, adjustment=1.0, span_days=1095, lifecycle=True)
    segments = plan_segments(workload.loans, 2019, 3)
    starts = {s.start for s in segments}
    for moment in (1_583_888_400, 1_607_648_400, 1_609_981_200):  # 11 Mar 2020, 11 Dec 2020, 7 Jan 2021 01:00 UTC
        assert moment in starts
    assert sorted(ln.number for s in segments for ln in s.loans) == sorted(ln.number for ln in workload.loans)
    for before, after in zip(segments, segments[1:], strict=False):
        if after.start % 86_400 == 3600:  # a change date: loans valued from that day on come after it
            assert all(ln.value_date < after.start - 3600 for ln in before.loans)
            assert all(ln.value_date >= after.start - 3600 for ln in after.loans)


def test_interrupted_then_resumed_ends_as_the_straight_run(straight: tuple[Settings, DemoResult],
                                                           tmp_path: Path) -> None:
    _, expected = straight
    settings = _settings(tmp_path)
    config = ScaleConfig(fraction=FRACTION)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_scale(settings, config, Interrupting(after=expected.loans_attempted // 2))
        resumed = run_scale(settings, replace(config, resume=True))
    finally:
        embedded.stop(settings)
    assert _landed(resumed) == _landed(expected)
    assert resumed.refusals == expected.refusals
    assert resumed.loans_recorded == resumed.chain_loan_count == resumed.indexed_loan_count == expected.loans_recorded
    assert resumed.consistency_ok and resumed.policy["by_period"] == expected.policy["by_period"]


def test_killed_in_the_background_then_resumed_ends_as_the_straight_run(straight: tuple[Settings, DemoResult],
                                                                        tmp_path: Path) -> None:
    """`kill` (SIGTERM) stops a scale demo started as a background job (SIGINT and SIGTERM ignored
    and blocked, as `nohup` or a script's `&` leaves them) with exit 130 after its `finally` blocks
    ran, and `--resume` then ends where the straight run ends, nothing recorded twice."""
    import json
    import os
    import signal
    import time

    _, expected = straight
    settings = _settings(tmp_path)
    env = {**os.environ, "XBORDER_DATA_DIR": str(settings.data_dir), "XBORDER_DEPLOYMENTS_DIR": str(settings.deployments)}
    proc = subprocess.Popen([sys.executable, "-c", HOSTILE_PARENT, "-m", "xborder.cli.main", "demo", "--scale", "2022",
                             "--fraction", str(FRACTION)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = settings.data_dir / CHECKPOINT
    try:
        deadline = time.monotonic() + 600  # a bound on a hang, not a timing check
        while not (checkpoint.exists() and json.loads(checkpoint.read_text())["position"][0] >= 3):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the scale demo did not reach its fourth segment"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "interrupted" in err, err
        resumed = run_scale(settings, ScaleConfig(fraction=FRACTION, resume=True))
    finally:
        if proc.poll() is None:
            proc.kill()
        embedded.stop(settings)
    assert _landed(resumed) == _landed(expected) and resumed.refusals == expected.refusals
    assert resumed.loans_recorded == resumed.chain_loan_count == resumed.indexed_loan_count == expected.loans_recorded
    assert resumed.consistency_ok


def test_cli_rejects_fraction_without_scale(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "xborder.cli.main", "--data-dir", str(tmp_path), "demo", "--fraction",
                           "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--fraction: goes with --scale 2022" in done.stderr, done.stderr
    assert not (tmp_path / "chain").exists()


def test_resume_refuses_a_chain_behind_its_checkpoint(straight: tuple[Settings, DemoResult], tmp_path: Path) -> None:
    """A node killed outright comes back at its last snapshot, which may be older than the
    checkpoint: resuming would skip steps whose transactions are gone. `--resume` refuses (exit 4,
    both blocks named) and sends nothing. Here the checkpoint is moved ahead of the chain, as a lost
    snapshot interval leaves it."""
    import json

    _, expected = straight
    settings = _settings(tmp_path)
    config = ScaleConfig(fraction=FRACTION)
    checkpoint = settings.data_dir / CHECKPOINT
    try:
        with pytest.raises(KeyboardInterrupt):
            run_scale(settings, config, Interrupting(after=expected.loans_attempted // 2))
        state = json.loads(checkpoint.read_text())
        w3 = connect(embedded.status(settings).rpc_url or "", settings.chain_id)
        head = w3.eth.block_number
        state["started_at"] = head + 500
        checkpoint.write_text(json.dumps(state))
        with pytest.raises(ChainError) as refused:
            run_scale(settings, replace(config, resume=True))
        assert refused.value.exit_code == 4
        assert f"head is block {head}," in str(refused.value) and f"at block {head + 500}" in str(refused.value)
        assert "Start afresh without --resume" in str(refused.value)
        assert w3.eth.block_number == head, "the refused resume sent transactions"
    finally:
        embedded.stop(settings)
