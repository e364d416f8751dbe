"""`xborder network init|up|down|status` from the command line, existing commands against the
nodes with --rpc-url, no orphans, and the sender on a free-gas network."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import xborder
from eth_account import Account

from xborder.bindings.client import XborderClient
from xborder.chain.connect import connect
from xborder.chain.network import init_network, running_network
from xborder.chain.network.node import running_pids
from xborder.chain.network.spec import NetworkSpec
from xborder.chain.rpc import rpc
from xborder.chain.sender import TxSender
from xborder.chain.signer import Call
from xborder.config import PROJECT_ROOT
from xborder.services import onboarding
from xborder.services.roster import COLUMNS

from .chains import NETWORK_CHAIN_ID, dev_account

pytestmark = pytest.mark.network
XBORDER = str(PROJECT_ROOT / ".venv" / "bin" / "xborder")
PASSWORD = "network test password"


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([XBORDER, "--data-dir", str(data_dir), "--deployments-dir", str(data_dir / "deployments"),
                             *args], capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "XBORDER_PASSWORD": PASSWORD})
    if check and result.returncode != 0:
        raise AssertionError(f"xborder {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def geth_processes(root: Path) -> list[int]:
    spec = NetworkSpec.load(root)
    return [pid for node in spec.nodes for pid in running_pids(node.datadir(root))]


@pytest.fixture
def cli_network(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "x"
    yield data
    if NetworkSpec.exists(data / "network"):
        run(data, "network", "down", check=False)
        assert geth_processes(data / "network") == []


def _roster_with_proofs(data: Path, rpc_url: str) -> Path:
    """The example roster with an admin_proof column: each admin (accounts 10..21 of the public
    development mnemonic, DEV-ONLY) proves its wallet, as `xborder wallet prove` would; the
    network's chain id is not a dev chain's, so xborder does not sign them itself."""
    client = XborderClient.load(connect(rpc_url), data / "deployments")
    admins = {str(a.address): a for a in (dev_account(i) for i in range(10, 22))}
    entries = onboarding.read_roster(PROJECT_ROOT / "examples" / "roster.csv", None)
    out = data.parent / "roster-with-proofs.csv"
    lines = [",".join(COLUMNS) + ",admin_proof"]
    for e in entries:
        proof = onboarding.format_wallet_proof(onboarding.prove_wallet(client, admins[e.admin], e.identifier))
        lines.append(f'{e.kind.slug},"{e.name}",{e.identifier},{e.jurisdiction},{e.capital_base // 100}.{e.capital_base % 100:02d},'
                     f"{e.admin},{proof}")
    out.write_text("\n".join(lines) + "\n")
    return out


def test_cli_init_up_commands_down_up(cli_network: Path) -> None:
    data = cli_network
    pw = data.parent / "pw.txt"
    pw.write_text(PASSWORD)
    run(data, "wallet", "new", "regulator", "--password-file", str(pw))
    init = run(data, "network", "init", "--nodes", "2", "--period", "1", "--fund", "regulator=1000", "--json")
    spec = json.loads(init.stdout)
    assert spec["chain_id"] == NETWORK_CHAIN_ID and len(spec["nodes"]) == 2 and spec["geth"].startswith("1.13.15")
    root = data / "network"
    # Keys: files of mode 0600, never printed.
    for node in ("node-1", "node-2"):
        secrets = [root / node / "geth" / "nodekey", root / node / "password.txt", *(root / node / "keystore").iterdir()]
        for path in secrets:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            secret = path.read_text().strip()
            assert secret not in init.stdout + init.stderr
        assert stat.S_IMODE((root / node).stat().st_mode) == 0o700
    keystore = json.loads(next((root / "node-1" / "keystore").iterdir()).read_text())
    assert keystore["crypto"]["kdf"] == "scrypt"  # an encrypted keystore, production strength
    genesis = json.loads((root / "genesis.json").read_text())
    assert genesis["config"]["clique"] == {"period": 1, "epoch": 30000} and genesis["config"]["londonBlock"] == 0
    assert "shanghaiTime" not in genesis["config"]

    up = run(data, "network", "up", "--json")
    nodes = json.loads(up.stdout)["nodes"]
    assert all(n["running"] and n["peers"] == 1 for n in nodes), json.dumps(nodes, indent=1)
    url1, url2 = nodes[0]["rpc_url"], nodes[1]["rpc_url"]

    # Existing commands against the nodes: deploy and onboard through node 1, read through node 2.
    run(data, "deploy", "--wallet", "regulator", "--rpc-url", url1)
    run(data, "institution", "import", str(_roster_with_proofs(data, url1)), "--wallet", "regulator",
        "--rpc-url", url1)
    w3_1, w3_2 = connect(url1), connect(url2)
    _wait(lambda: w3_2.eth.block_number >= w3_1.eth.block_number, "node 2 to catch up")
    listed = json.loads(run(data, "institution", "list", "--rpc-url", url2, "--json").stdout)
    assert len(listed) == 12, listed
    status = json.loads(run(data, "chain", "status", "--rpc-url", url2, "--json").stdout)
    assert status["chain_id"] == NETWORK_CHAIN_ID
    run(data, "index", "run", "--rpc-url", url2)
    run(data, "report", "consistency", "--rpc-url", url1)  # the index checked against another node

    # Sealing on both; then down, up: the chain resumes where it was.
    status = json.loads(run(data, "network", "status", "--json").stdout)
    assert all(n["mining"] and n["authorized"] for n in status["nodes"])
    head = w3_1.eth.block_number
    head_hash = w3_1.eth.get_block(head)["hash"]
    down = run(data, "network", "down", "--json")
    assert json.loads(down.stdout)["stopped"] == [1, 2]
    assert geth_processes(root) == []
    run(data, "network", "up")
    url1 = json.loads(run(data, "network", "status", "--json").stdout)["nodes"][0]["rpc_url"]
    w3_1 = connect(url1)
    assert w3_1.eth.get_block(head)["hash"] == head_hash
    _wait(lambda: w3_1.eth.block_number > head, "the chain to seal again after up")
    assert len(json.loads(run(data, "institution", "list", "--rpc-url", url1, "--json").stdout)) == 12


def test_cli_bad_inputs(tmp_path: Path) -> None:
    """Each bad input fails with the line docs/bad-inputs.md shows (section "Network") and writes nothing."""
    data = tmp_path / "x"
    doc = (PROJECT_ROOT / "docs" / "bad-inputs.md").read_text()

    def cli(*args: str) -> str:
        run = xborder("--data-dir", str(data), "network", *args, env={})
        assert run.code == 2, run.err
        line = run.err.strip().splitlines()[-1].replace(str(data), "…")
        assert f"| {line} | 2 |" in doc, f"add to docs/bad-inputs.md: {line}"
        return line

    assert "[3] do not exist" in cli("init", "--nodes", "2", "--validators", "1,3")
    cli("init", "--nodes", "2", "--chain-id", "1")
    cli("init", "--nodes", "2", "--period", "0")
    cli("init", "--nodes", "2", "--fund", "0x12=abc")
    cli("status")
    assert not (data / "network").exists()
    init_network(data / "network", nodes=1, project_root=PROJECT_ROOT, period=1)
    nodekey = (data / "network" / "node-1" / "geth" / "nodekey").read_text()
    cli("init", "--nodes", "2")
    assert (data / "network" / "node-1" / "geth" / "nodekey").read_text() == nodekey
    (tmp_path / "consortium").mkdir()
    (tmp_path / "consortium" / "genesis.json").write_text("{}")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        cli("besu", "--validators", "4", "--out", "consortium")
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def free_gas_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("free") / "network"
    init_network(root, nodes=2, project_root=PROJECT_ROOT, period=1, free_gas=True, chain_id=NETWORK_CHAIN_ID,
                 alloc={dev_account(0).address: 10**24})
    return root


def test_free_gas_network_and_the_sender(free_gas_root: Path) -> None:
    """Base fee 0 and sealers that take tip 0: a wallet with no ETH at all sends through node 2
    (tip 0, max fee 0); a funded wallet sends with the sender's defaults through node 1."""
    with running_network(free_gas_root, PROJECT_ROOT) as network:
        w3_1, w3_2 = network.web3(1), network.web3(2)
        assert int(rpc(w3_1, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16) == 0
        penniless = Account.create()
        free = TxSender(w3_2, penniless, name="penniless", tip=0, default_gas=21_000)
        receipt = free.transact(Call(to=dev_account(5).address, value=0))
        assert receipt.status == 1 and w3_2.eth.get_balance(penniless.address) == 0
        paying = TxSender(w3_1, dev_account(0), name="funded", default_gas=21_000)
        assert paying.fees().eip1559 and paying.fees().cap > 0
        assert paying.transact(Call(to=dev_account(6).address, value=1)).status == 1
        network.wait_synced(min_block=receipt.block_number)


def test_no_orphans_when_the_owner_dies(free_gas_root: Path) -> None:
    """An exception inside the block, and SIGKILL of a process owning a network: no geth is left."""
    with pytest.raises(RuntimeError, match="boom"), running_network(free_gas_root, PROJECT_ROOT):
        assert len(geth_processes(free_gas_root)) == 2
        raise RuntimeError("boom")
    assert geth_processes(free_gas_root) == []

    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from xborder.chain.network import running_network
        from xborder.config import PROJECT_ROOT
        with running_network(Path({str(free_gas_root)!r}), PROJECT_ROOT):
            print("up", flush=True)
            time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
        pids = geth_processes(free_gas_root)
        assert len(pids) == 2
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        _wait(lambda: geth_processes(free_gas_root) == [], "the owner's geth nodes to exit (PR_SET_PDEATHSIG)", 60)
    finally:
        if owner.poll() is None:
            owner.kill()
        for pid in geth_processes(free_gas_root):
            os.kill(pid, signal.SIGKILL)


def _wait(condition: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)
