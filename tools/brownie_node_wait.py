"""pytest plugin for `brownie test` on a busy machine.

Brownie launches its development node (anvil, Ganache) and gives up if it does not answer within
about ten seconds (`Rpc.launch` polls 100 times, 0.1 s apart): "unable to connect". Under load a
node takes longer: Ganache 7 answered 33 s after launch here at a load average of ~20 on 2 cores.
Its JSON-RPC calls then wait at most 30 s (the `timeout` of Brownie's network registry, which a
project's brownie-config.yaml cannot change).

This plugin launches the node exactly as Brownie would (same backend, same command line, on the
port the contract suite's conftest picked), waits until it answers (up to NODE_START_TIMEOUT) and
raises the request timeout, for this run only; Brownie then attaches to the node instead of
launching one. Brownie never stops a node it attached to: this plugin stops the node's whole
process tree (npm's `anvil` is a Node wrapper around the native binary) when the run ends, or when
the interpreter exits — before, every `brownie test` left its anvil running (and writing states).

An anvil gets its own folder for the states of past blocks (`xborder.chain.scratch`): Brownie
stops its node with SIGKILL, and anvil's default folder (~/.foundry/anvil/tmp) is then never
cleaned.

Loaded by tools/run-tests.sh: `PYTHONPATH=tools brownie test ... -p brownie_node_wait`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import time
import urllib.request
from typing import Any

import psutil
import pytest

from xborder.chain import scratch

NODE_START_TIMEOUT = 300.0
REQUEST_TIMEOUT = 600


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}),
                                    timeout=2) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


_LAUNCHED: list[psutil.Process] = []


def _stop_launched() -> None:
    """Stop every node this plugin launched, children first-class: SIGTERM, then SIGKILL."""
    while _LAUNCHED:
        process = _LAUNCHED.pop()
        try:
            tree = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(tree, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_launched()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Runs before Brownie's own hook (a trylast hookwrapper), which connects to the network."""
    from brownie import network
    from brownie._config import CONFIG
    from brownie.network.rpc import LAUNCH_BACKENDS

    if not session.items or network.is_connected():
        return
    network_id = CONFIG.argv.get("network") or CONFIG.settings["networks"]["default"]
    active: dict[str, Any] = CONFIG.networks.get(network_id, {})
    cmd, cmd_settings = active.get("cmd"), active.get("cmd_settings")
    if not cmd or not isinstance(cmd_settings, dict) or "port" not in cmd_settings or "fork" in cmd_settings:
        return
    active["timeout"] = max(int(active.get("timeout", 30)), REQUEST_TIMEOUT)
    backend = next((module for key, module in LAUNCH_BACKENDS.items() if cmd.lower().startswith(key)), None)
    url = f"{active['host']}:{cmd_settings['port']}"
    if backend is None or _answers(url):
        return
    cache_dir = None
    if cmd.split(" ")[0].endswith("anvil"):
        scratch.sweep()
        cache_dir = scratch.new_cache_dir()
        cmd = " ".join([cmd, *scratch.anvil_args(cache_dir)])
        atexit.register(scratch.remove, cache_dir)
    process = backend.launch(cmd, **cmd_settings)
    _LAUNCHED.append(psutil.Process(process.pid))
    atexit.register(_stop_launched)  # also on an interrupted run (registered last: runs first)
    if cache_dir is not None:
        scratch.claim(cache_dir, process.pid)
    started = time.monotonic()
    while not _answers(url):
        if process.poll() is not None:
            raise pytest.UsageError(f"{cmd} exited with code {process.returncode} before answering on {url}")
        if time.monotonic() - started > NODE_START_TIMEOUT:
            process.kill()
            raise pytest.UsageError(f"{cmd} did not answer on {url} within {NODE_START_TIMEOUT:.0f}s: "
                                    "the machine is too busy")
        time.sleep(0.2)
    print(f"{cmd} answered on {url} after {time.monotonic() - started:.1f}s")
