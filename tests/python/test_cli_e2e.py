"""The operator's whole job through the `xborder` CLI against a real anvil AND a real Ganache:
create wallets (production keystores), deploy, import a roster (re-run: nothing twice), set the
policy and rates, manage an institution, and sign a registered institution's own call with
Foundry's `cast` from an xborder keystore. The chain is checked directly after each step."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import PASSWORD, Run, env_for, xborder
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain import LocalNode, start_anvil, start_ganache
from xborder.config import PROJECT_ROOT
from xborder.domain.identifiers import identifier_bytes

CAST = PROJECT_ROOT / "node_modules" / ".bin" / "cast"
ROSTER = PROJECT_ROOT / "examples" / "roster.csv"
ZHONGHUA = "91100000100005101J"  # Bank of Zhonghua, line 9 of the example roster


@pytest.fixture(params=["anvil", "ganache"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalNode]:
    start = start_anvil if request.param == "anvil" else start_ganache
    with start(log_path=tmp_path / f"{request.param}.log") as n:
        yield n


def ok(r: Run) -> Run:
    assert r.code == 0, f"exit {r.code}\nstdout:\n{r.out}\nstderr:\n{r.err}"
    return r


def _policy_and_rates(x: Callable[..., Run], client: XborderClient) -> None:
    ok(x("policy", "set", "adjustment-enterprise", "1.5", "--wallet", "regulator"))
    ok(x("policy", "fx", "set", "USD", "7.1234", "EUR", "7.8", "HKD", "0.91", "--wallet", "regulator"))
    ok(x("policy", "type", "set", "8", "GREEN_TRADE_LOAN", "0.5", "--wallet", "regulator"))
    assert client.policy.functions.parameter(4).call() == 15000
    assert client.policy.functions.referenceRate(b"USD").call()[0] == 712_340_000
    assert client.policy.functions.referenceRate(b"HKD").call()[0] == 91_000_000
    assert tuple(client.policy.functions.financingType(8).call()) == (5000, False, True)
    shown = ok(x("policy", "show", "--json")).json()
    assert [r["currency"] for r in shown["reference_rates"]] == ["CNY", "EUR", "HKD", "USD"]


def _own_wallets(x: Callable[..., Run], client: XborderClient, node: LocalNode, tmp_path: Path,
                 admin: dict[str, str], zh_id: int) -> tuple[str, str]:
    """The institution acts for itself: its admin adds wallets with xborder and with cast."""
    registry = client.registry.functions
    # the institution acts for itself: its admin adds a keystore wallet with xborder (which signs
    # the new wallet's proof of key possession)...
    teller = ok(x("wallet", "new", "teller", "--json")).json()["address"]
    ok(x("institution", "add-wallet", "2", "teller", "--wallet", "zhonghua-admin"))
    assert registry.institutionOf(teller).call() == zh_id
    # ...and an address nobody proved is refused before anything is sent
    stranger = Web3.to_checksum_address("0x" + "7e" * 20)
    refused = x("institution", "add-wallet", "2", stranger, "--wallet", "zhonghua-admin")
    assert refused.code == 2 and "--proof: binding " + stranger + " needs its proof" in refused.err
    # ...and with Foundry's cast, signing from the same xborder keystore file, with the proof the
    # cashier's wallet printed (`wallet prove`)
    password_file = tmp_path / "pw.txt"
    password_file.write_text(PASSWORD + "\n")
    cashier = ok(x("wallet", "new", "cashier", "--json")).json()["address"]
    proof = ok(x("wallet", "prove", "cashier", "--identifier", ZHONGHUA)).out.strip()
    deadline, signature = proof.split(":")
    result = subprocess.run(
        [str(CAST), "send", "--rpc-url", node.rpc_url, "--keystore", admin["path"], "--password-file",
         str(password_file), client.registry.address, "addWallet(uint32,address,(uint64,bytes))", str(zh_id), cashier,
         f"({deadline},{signature})", "--json"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"cast printed no receipt (exit 0); stderr: {result.stderr!r}"
    receipt = json.loads(result.stdout)
    assert int(receipt["status"], 16) == 1
    assert Web3.to_checksum_address(receipt["from"]) == admin["address"]
    assert registry.institutionOf(cashier).call() == zh_id
    return teller, cashier


def test_operator_journey(node: LocalNode, tmp_path: Path) -> None:
    env = env_for(node.rpc_url, tmp_path)

    def x(*args: str) -> Run:
        return xborder(*args, env=env)

    # wallets: the regulator's and the Bank of Zhonghua's admin wallet (production scrypt)
    regulator = ok(x("wallet", "new", "regulator", "--json")).json()["address"]
    zh_admin = ok(x("wallet", "new", "zhonghua-admin", "--json")).json()
    deployed = ok(x("deploy", "--regulator", "regulator", "--json")).json()
    assert deployed["regulator"] == regulator and len(deployed["deployed"]) == 3
    assert ok(x("wallet", "fund", "regulator", "--amount", "5", "--json")).json()[0]["sent_wei"] == 5 * 10**18
    w3 = Web3(Web3.HTTPProvider(node.rpc_url))
    client = XborderClient.load(w3, tmp_path / "deployments")

    # the example roster, with the Bank of Zhonghua administered by a keystore wallet name
    lines = ROSTER.read_text().splitlines()
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(
        line.rsplit(",", 1)[0] + ",zhonghua-admin" if ZHONGHUA in line else line for line in lines) + "\n")
    imported = ok(x("institution", "import", str(roster), "--wallet", "regulator", "--fund", "--json")).json()
    assert len(imported["registered"]) == 12 and imported["skipped"] == []
    assert all(f["sent_wei"] > 0 for f in imported["funded"])
    registry = client.registry.functions
    assert registry.institutionCount().call() == 12
    zh_id = registry.institutionByIdentifier(identifier_bytes(ZHONGHUA)).call()
    assert zh_id == 2 and registry.getInstitution(zh_id).call()[4] == zh_admin["address"]
    assert w3.eth.get_balance(zh_admin["address"]) >= 10**18

    # re-running registers nothing twice, and says so
    block = w3.eth.block_number
    again = ok(x("institution", "import", str(roster), "--wallet", "regulator"))
    assert "registered 0, skipped 12 already registered" in again.out
    assert "already registered as #2: skipped" in again.err
    assert w3.eth.block_number == block and registry.institutionCount().call() == 12

    _policy_and_rates(x, client)

    # views and status changes
    listed = ok(x("institution", "list", "--json")).json()
    assert [i["name"] for i in listed][:2] == ["SAFE Cross-border Financing Monitoring Node (observer)",
                                               "Bank of Zhonghua Co., Ltd."]
    ok(x("institution", "suspend", ZHONGHUA, "--wallet", "regulator"))
    assert client.core(zh_id).status == 2
    ok(x("institution", "reinstate", "2", "--wallet", "regulator"))
    assert client.core(zh_id).status == 1

    teller, cashier = _own_wallets(x, client, node, tmp_path, zh_admin, zh_id)
    detail = ok(x("institution", "show", "2", "--json")).json()
    assert detail["wallets"] == [zh_admin["address"], teller, cashier] and detail["wallet_count"] == 3
    ok(x("institution", "remove-wallet", "2", cashier, "--wallet", "zhonghua-admin"))
    assert registry.institutionOf(cashier).call() == 0
