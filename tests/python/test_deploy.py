"""`xborder deploy` is idempotent and resumable: twice on one chain deploys once; a partial
manifest resumes; a manifest left over from another (reset) chain redeploys everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import env_for, xborder
from web3 import Web3

from xborder.chain import LocalNode, start_anvil
from xborder.services.funding import dev_funder


def _deploy(rpc_url: str, root: Path) -> dict[str, Any]:
    r = xborder("deploy", "--json", env=env_for(rpc_url, root))
    assert r.code == 0, r.err
    data: dict[str, Any] = r.json()
    return data


def test_deploy_twice_does_not_redeploy(anvil: LocalNode, tmp_path: Path) -> None:
    first = _deploy(anvil.rpc_url, tmp_path)
    assert first["deployed"] == ["InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger"]
    assert first["regulator"] == dev_funder().address
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    block = w3.eth.block_number
    second = _deploy(anvil.rpc_url, tmp_path)
    assert second["deployed"] == [] and second["contracts"] == first["contracts"]
    assert w3.eth.block_number == block  # nothing sent
    human = xborder("deploy", env=env_for(anvil.rpc_url, tmp_path))
    assert "already deployed (nothing to do)" in human.out


def test_partial_manifest_resumes(anvil: LocalNode, tmp_path: Path) -> None:
    first = _deploy(anvil.rpc_url, tmp_path)
    manifest = tmp_path / "deployments" / "31337.json"
    data = json.loads(manifest.read_text())
    del data["contracts"]["LoanLedger"]  # as if the run died after the policy's receipt
    data["extra"]["complete"] = False
    manifest.write_text(json.dumps(data))
    # the other commands refuse an incomplete deployment, saying what to do
    r = xborder("institution", "list", env=env_for(anvil.rpc_url, tmp_path))
    assert r.code == 5 and "incomplete" in r.err and "xborder deploy" in r.err
    resumed = _deploy(anvil.rpc_url, tmp_path)
    assert resumed["deployed"] == ["LoanLedger"]
    contracts = resumed["contracts"]
    assert isinstance(contracts, dict) and isinstance(first["contracts"], dict)
    assert contracts["InstitutionRegistry"] == first["contracts"]["InstitutionRegistry"]
    assert json.loads(manifest.read_text())["extra"]["complete"] is True
    assert xborder("institution", "list", "--json", env=env_for(anvil.rpc_url, tmp_path)).json() == []


def test_stale_manifest_on_fresh_chain_redeploys(anvil: LocalNode, tmp_path: Path) -> None:
    first = _deploy(anvil.rpc_url, tmp_path)
    with start_anvil(log_path=tmp_path / "fresh.log") as fresh:  # same chain id, no code
        fresh_w3 = Web3(Web3.HTTPProvider(fresh.rpc_url))
        r = xborder("institution", "list", env=env_for(fresh.rpc_url, tmp_path))
        assert r.code == 5 and "no code there" in r.err
        again = _deploy(fresh.rpc_url, tmp_path)
        assert again["deployed"] == ["InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger"]
        for name, contract in again["contracts"].items():
            assert len(fresh_w3.eth.get_code(contract["address"])) > 0, name
        assert first["chain_id"] == again["chain_id"] == 31337
