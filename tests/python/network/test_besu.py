"""The Besu QBFT bundle (on paper: Besu cannot run here): extraData against Besu's own test vector,
the accounts allowlist from a real registry (anvil), and the bundle's files and compose file."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import rlp
import yaml
from cli_helpers import xborder
from eth_account import Account
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain import LocalNode
from xborder.chain.network.besu import BFT_MIX_HASH, node_address, qbft_extra_data, qbft_validators
from xborder.config import PROJECT_ROOT
from xborder.services import onboarding
from xborder.services.deploy import deploy
from xborder.services.permissions import accounts_allowlist

from .chains import dev_account

# Source: hyperledger/besu, consensus/qbft/src/test/java/org/hyperledger/besu/consensus/qbft/
# QbftExtraDataCodecTest.java, RAW_HEX_ENCODING_STRING (test `encodingMatchesKnownRawHexString`):
# vanity 0x01..0x20, validators 0x..01 and 0x..02, an "add" vote for 0x..01, round 0xFEDCBA, and two
# committed seals (r=1, s=10, v=0) and (r=10, s=1, v=0).
BESU_VECTOR = (
    "0xf8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
    "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
    "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
    "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
    "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
    "00000000000000000000000000000000000000000000000100"
)


def _seal(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def test_extra_data_matches_besus_vector() -> None:
    encoded = qbft_extra_data(["0x1", "0x2"], vanity=bytes(range(1, 33)), vote=("0x1", True),
                              round_number=0xFEDCBA, seals=[_seal(1, 10, 0), _seal(10, 1, 0)])
    assert "0x" + encoded.hex() == BESU_VECTOR
    assert qbft_validators(encoded) == ["0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"]


def test_genesis_extra_data_has_no_vote_round_zero_no_seals() -> None:
    validators = [Web3.to_checksum_address(f"0x{i:040x}") for i in (0xAA, 0xBB, 0xCC, 0xDD)]
    encoded = qbft_extra_data(validators)
    vanity, listed, vote, round_number, seals = rlp.decode(encoded)
    assert vanity == bytes(32) and [Web3.to_checksum_address(a) for a in listed] == validators
    assert vote == [] and round_number == b"" and seals == []
    # 4 validators: list of 122 bytes = vanity (33) + validators (2 + 84) + vote (1) + round (1) + seals (1)
    assert encoded[:2] == bytes.fromhex("f87a") and encoded[-3:] == bytes.fromhex("c080c0")


def test_bundle_files_and_compose(tmp_path: Path) -> None:
    out = tmp_path / "besu"
    run = xborder("network", "besu", "--validators", "4", "--out", str(out), "--json", env={})
    assert run.code == 0, run.err
    made = json.loads(run.out)["validators"]
    genesis = json.loads((out / "genesis.json").read_text())
    assert genesis["config"]["qbft"]["blockperiodseconds"] == 2 and genesis["config"]["zeroBaseFee"] is True
    assert genesis["mixHash"] == BFT_MIX_HASH
    keys = [bytes.fromhex((out / f"validator-{i}" / "key").read_text().strip()[2:]) for i in range(1, 5)]
    for i in range(1, 5):
        assert stat.S_IMODE((out / f"validator-{i}" / "key").stat().st_mode) == 0o600
    assert qbft_validators(bytes.fromhex(genesis["extraData"][2:])) == [node_address(k) for k in keys] == \
        [v["address"] for v in made]
    for key in keys:
        assert key.hex() not in run.out + run.err  # never printed
    enodes = json.loads((out / "static-nodes.json").read_text())
    assert enodes == [v["enode"] for v in made] and len(set(enodes)) == 4
    assert (out / "bootnodes.txt").read_text().split() == enodes
    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    assert permissions == {"accounts-allowlist": [], "nodes-allowlist": enodes}
    config = tomllib.loads((out / "validator-1" / "config.toml").read_text())
    assert config["permissions-accounts-config-file-enabled"] is True and config["min-gas-price"] == 0
    assert len(config["bootnodes"]) == 3 and made[0]["enode"] not in config["bootnodes"]

    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"validator-1", "validator-2", "validator-3", "validator-4", "postgres", "indexer", "api"}
    ips = {services[f"validator-{i}"]["networks"]["consortium"]["ipv4_address"] for i in range(1, 5)}
    assert ips == {e.rsplit("@", 1)[1].split(":")[0] for e in enodes}
    for name in ("validator-1", "indexer", "api"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (out / source[2:]).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"
    assert services["indexer"]["command"][:3] == ["xborder", "index", "follow"]
    assert services["indexer"]["environment"]["XBORDER_DATABASE_URL"].startswith("postgresql://")
    assert services["indexer"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    again = xborder("network", "besu", "--validators", "4", "--out", str(out), env={})
    assert again.code == 2 and "is not empty" in again.err


def test_allowlist_from_the_registry(anvil: LocalNode, tmp_path: Path) -> None:
    """Active institutions' wallets only (+ the regulator); a suspended and a revoked institution
    are left out; the file is regenerated when the registry changes."""
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    regulator = dev_account(0)
    deployments = tmp_path / "deployments"
    deploy(w3, regulator, regulator.address, deployments, PROJECT_ROOT)
    client = XborderClient.load(w3, deployments)
    admins = {name: dev_account(i) for i, name in enumerate(["bank", "suspended", "revoked", "firm"], start=1)}
    rows = [("domestic-bank", "Bank", "91100000100005101J", "CN", "1,000,000,000.00", admins["bank"].address),
            ("enterprise", "Suspended Co", "91330000MA2AY5Q83K", "CN", "1,000,000.00", admins["suspended"].address),
            ("enterprise", "Revoked Co", "91100000100003962T", "CN", "1,000,000.00", admins["revoked"].address),
            ("enterprise", "Firm Co", "9131000013221158XC", "CN", "1,000,000.00", admins["firm"].address)]
    problems: list[onboarding.Problem] = []
    entries = onboarding.validate_rows([(f"row {i}", dict(zip(onboarding.COLUMNS, r, strict=True)))
                                        for i, r in enumerate(rows, 1)], None, problems)
    assert not problems
    ids = {e.name: i for e, i in onboarding.apply(client, regulator, onboarding.plan(client, entries)).registered}
    second, gone = Account.create(), Account.create()
    onboarding.add_wallet(client, admins["bank"], ids["Bank"], second.address)
    onboarding.add_wallet(client, admins["firm"], ids["Firm Co"], gone.address)
    onboarding.remove_wallet(client, admins["firm"], ids["Firm Co"], gone.address)
    onboarding.change_status(client, regulator, ids["Suspended Co"], "suspend")
    onboarding.change_status(client, regulator, ids["Revoked Co"], "revoke")

    result = accounts_allowlist(client)
    assert set(result.accounts) == {regulator.address, admins["bank"].address, second.address, admins["firm"].address}
    assert result.excluded == {ids["Suspended Co"]: "suspended", ids["Revoked Co"]: "revoked"}

    # The CLI rewrites the file (keeping its nodes allowlist) each time the registry changes.
    path = tmp_path / "permissions_config.toml"
    path.write_text('accounts-allowlist = []\nnodes-allowlist = ["enode://ab@172.28.0.11:30303"]\n')
    env = {"XBORDER_DEPLOYMENTS_DIR": str(deployments)}
    run = xborder("network", "allowlist", "--out", str(path), "--rpc-url", anvil.rpc_url, env=env)
    assert run.code == 0, run.err
    written = tomllib.loads(path.read_text())
    assert set(written["accounts-allowlist"]) == set(result.accounts)
    assert written["nodes-allowlist"] == ["enode://ab@172.28.0.11:30303"]
    onboarding.change_status(client, regulator, ids["Suspended Co"], "reinstate")
    assert xborder("network", "allowlist", "--out", str(path), "--rpc-url", anvil.rpc_url, env=env).code == 0
    assert admins["suspended"].address in tomllib.loads(path.read_text())["accounts-allowlist"]
    assert admins["revoked"].address not in tomllib.loads(path.read_text())["accounts-allowlist"]
