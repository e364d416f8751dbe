"""anvil's states of past blocks go to a folder of the node's own, bounded, and removed when the
node is gone, even after SIGKILL (73 GB of `~/.foundry/anvil/tmp/anvil-state-*` were left behind by
killed anvils on one machine and filled its disk)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from xborder.chain import scratch
from xborder.chain.launcher import LocalNode, rpc_call, start_anvil


def _files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _mine_past_memory(node: LocalNode) -> None:
    """Enough blocks that anvil moves states out of memory (it keeps a few hundred there)."""
    for _ in range(4):
        rpc_call(node.rpc_url, "anvil_mine", [hex(250)], timeout=60)


def test_past_states_go_to_the_nodes_own_folder_bounded_and_removed_on_stop() -> None:
    node = start_anvil()
    assert node.cache_dir is not None and node.cache_dir.name.startswith(scratch.PREFIX)
    try:
        _mine_past_memory(node)
        written = _files(node.cache_dir) - 1  # owner.pid
        # past states land in the node's folder (not in ~/.foundry/anvil/tmp), at most the bound
        assert written > 0, "anvil wrote no past state to its own folder"
        assert written <= scratch.MAX_PERSISTED_STATES
    finally:
        node.stop()
    assert not node.cache_dir.exists()


def test_the_folder_of_a_killed_anvil_is_swept_at_the_next_start() -> None:
    node = start_anvil()
    folder = node.cache_dir
    assert folder is not None
    try:
        _mine_past_memory(node)
        os.kill(node.pid, signal.SIGKILL)  # as a test teardown or PR_SET_PDEATHSIG leaves it
        assert node.process is not None
        node.process.wait(timeout=10)
        assert folder.exists(), "the folder should outlive a killed anvil until the next sweep"
        live = start_anvil()  # sweeps before it starts
        try:
            assert not folder.exists(), f"{folder} of the killed anvil was not swept"
            assert live.cache_dir is not None and live.cache_dir.exists(), "the sweep removed a live node's folder"
            assert scratch.sweep() == 0 and live.cache_dir.exists()
        finally:
            live.stop()
    finally:
        node.stop()


def test_an_unclaimed_folder_is_kept_for_a_grace_period(tmp_path: Path) -> None:
    fresh = scratch.new_cache_dir(tmp_path)
    old = scratch.new_cache_dir(tmp_path)
    past = time.time() - scratch.UNCLAIMED_GRACE_S - 60
    os.utime(old, (past, past))
    dead = scratch.new_cache_dir(tmp_path)
    scratch.claim(dead, 2**22 + 12345)  # no such process (above the default pid_max)
    assert scratch.sweep(tmp_path) == 2
    assert fresh.exists() and not old.exists() and not dead.exists()


def test_a_call_at_a_block_the_node_no_longer_keeps_is_a_node_error_not_a_refusal() -> None:
    """With the bound, old blocks' state is gone: the node's answer maps to StateUnavailable (a
    ChainError, exit 4), never to a contract refusal (the bench once counted 10,000 loans as
    "refused: BlockOutOfRangeError" when its preflight pinned a block for too long)."""
    from web3 import Web3

    from xborder.chain.rpc import Rpc, StateUnavailable, classify, node_error
    from xborder.errors import ChainError

    node = start_anvil()
    try:
        _mine_past_memory(node)
        _mine_past_memory(node)
        rpc = Rpc(Web3(Web3.HTTPProvider(node.rpc_url)))
        [answer] = rpc.batch([("eth_getBalance", ["0x" + "00" * 20, "0x1"])])
        assert "error" in answer, answer
        assert classify(answer["error"]) is StateUnavailable
        error = node_error(answer["error"], "eth_getBalance at block 0x1")
        assert isinstance(error, ChainError) and "ask at a newer block" in str(error)
        [recent] = rpc.batch([("eth_getBalance", ["0x" + "00" * 20, "latest"])])
        assert "result" in recent
    finally:
        node.stop()


def test_a_bulk_loading_anvil_keeps_its_few_past_states_in_memory_only() -> None:
    """`memory_states` (the scale demo's chain): no past state is written to disk, calls at the
    last few blocks still answer, older ones are a node error (StateUnavailable)."""
    from web3 import Web3

    from xborder.chain.rpc import Rpc, StateUnavailable, classify

    node = start_anvil(memory_states=8)
    assert node.cache_dir is not None
    try:
        argv = Path(f"/proc/{node.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--prune-history" in argv and b"--max-persisted-states" not in argv
        _mine_past_memory(node)
        assert _files(node.cache_dir) - 1 == 0, "a bulk-loading anvil wrote past states to disk"
        rpc = Rpc(Web3(Web3.HTTPProvider(node.rpc_url)))
        head = rpc.block_number()
        [recent, old] = rpc.batch([("eth_getBalance", ["0x" + "00" * 20, hex(head - 4)]),
                                   ("eth_getBalance", ["0x" + "00" * 20, hex(head - 100)])])
        assert "result" in recent, recent
        assert "error" in old and classify(old["error"]) is StateUnavailable, old
    finally:
        node.stop()
    assert not node.cache_dir.exists()


def test_memory_states_must_keep_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_states: 0 is not allowed"):
        scratch.anvil_args(tmp_path, 0)
