"""The production bundle, on paper: a Hyperledger Besu QBFT network (Besu is in none of the
package registries this project may use, so it is generated and validated here, not run).

QBFT keeps its validators in the genesis `extraData`, an RLP list
`[32-byte vanity, [validator addresses], vote, round, [committed seals]]`; in a genesis the vote
is empty (an empty list), the round 0 and there are no seals. Validators are identified by the
address of their node key. The encoding uses the `rlp` package (pyrlp); tests hold it to a
vector from Besu's own test suite.

`write_bundle` writes, under OUT:
    genesis.json                 QBFT config, extraData, BFT mixHash, allocations
    permissions_config.toml      accounts allowlist (wallets of Active institutions + regulator),
                                 nodes allowlist (the validators)
    static-nodes.json            every validator's enode (fixed IPs of the compose network)
    bootnodes.txt                the same, one per line, for --bootnodes
    validator-N/key              node private key (0600), validator-N/key.pub, validator-N/config.toml
    docker-compose.yml           the validators, PostgreSQL, the regulator's indexer and the API
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve
import rlp
import tomli_w
import yaml
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from xborder.chain.network.genesis import check_parameters
from xborder.chain.network.keys import write_secret
from xborder.errors import ConfigurationError, ValidationError

#: Besu requires this mixHash in IBFT 2.0 / QBFT genesis files ("ctical byzantine fault tolerance").
BFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
VOTE_ADD, VOTE_DROP = 0xFF, 0x00
BESU_IMAGE = "hyperledger/besu:24.12.2"
POSTGRES_IMAGE = "postgres:16"
SUBNET = "172.28.0.0/16"
P2P_PORT = 30303
RPC_PORT = 8545


def qbft_extra_data(validators: Sequence[str], *, vanity: bytes = bytes(32), vote: tuple[str, bool] | None = None,
                    round_number: int = 0, seals: Sequence[bytes] = ()) -> bytes:
    """RLP([vanity, [validators], vote, round, [seals]]); `vote` = (address, add?) or none."""
    if len(vanity) != 32:
        raise ValidationError(f"the QBFT vanity is 32 bytes, not {len(vanity)}", field="vanity")
    addresses = [bytes.fromhex(v.removeprefix("0x").rjust(40, "0")) for v in validators]
    encoded_vote: list[bytes] = [] if vote is None else [
        bytes.fromhex(vote[0].removeprefix("0x").rjust(40, "0")), bytes([VOTE_ADD if vote[1] else VOTE_DROP])]
    return bytes(rlp.encode([vanity, addresses, encoded_vote, round_number, list(seals)]))


def qbft_validators(extra_data: bytes) -> list[str]:
    """The validator list of a QBFT extraData (decoded with pyrlp)."""
    items = rlp.decode(extra_data)
    return [to_checksum_address(a) for a in items[1]]


def node_address(private_key: bytes) -> str:
    """The account address of a node key (what QBFT calls the validator's address)."""
    public = coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return to_checksum_address(keccak(public)[-20:])


def qbft_genesis(*, chain_id: int, validators: Sequence[str], period: int, gas_limit: int, free_gas: bool,
                 alloc: Mapping[str, int]) -> dict[str, Any]:
    check_parameters(chain_id=chain_id, period=period, gas_limit=gas_limit)
    config: dict[str, Any] = {"chainId": chain_id, "berlinBlock": 0, "londonBlock": 0,
                              "qbft": {"blockperiodseconds": period, "epochlength": 30_000,
                                       "requesttimeoutseconds": max(10, 2 * period)}}
    if free_gas:
        config["zeroBaseFee"] = True  # Besu: base fee pinned at 0 (run with --min-gas-price=0)
    return {
        "config": config, "nonce": "0x0", "timestamp": "0x0", "gasLimit": hex(gas_limit), "difficulty": "0x1",
        "mixHash": BFT_MIX_HASH, "coinbase": "0x" + "00" * 20,
        "extraData": "0x" + qbft_extra_data(validators).hex(),
        "alloc": {a.removeprefix("0x").lower(): {"balance": hex(w)} for a, w in alloc.items()},
    }


def permissions_config(accounts: Sequence[str], nodes: Sequence[str]) -> str:
    """Besu's local permissioning file (`--permissions-accounts-config-file`, `...-nodes-...`)."""
    return tomli_w.dumps({"accounts-allowlist": [to_checksum_address(a) for a in accounts],
                          "nodes-allowlist": list(nodes)})


@dataclass(frozen=True)
class Validator:
    index: int
    address: str
    public_key: str  # 128 hex
    ip: str

    @property
    def name(self) -> str:
        return f"validator-{self.index}"

    @property
    def enode(self) -> str:
        return f"enode://{self.public_key}@{self.ip}:{P2P_PORT}"


def _compose(validators: Sequence[Validator], chain_id: int) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for v in validators:
        services[v.name] = {
            "image": BESU_IMAGE,
            "command": ["--config-file=/config/config.toml"],
            "volumes": [f"./{v.name}:/config:ro", "./genesis.json:/genesis.json:ro",
                        "./permissions_config.toml:/permissions/permissions_config.toml:ro",
                        f"{v.name}-data:/data"],
            "networks": {"consortium": {"ipv4_address": v.ip}},
            "restart": "unless-stopped",
        }
    regulator_node = validators[-1]
    database = "postgresql://xborder:${XBORDER_DB_PASSWORD:?set XBORDER_DB_PASSWORD}@postgres:5432/xborder"
    services["postgres"] = {
        "image": POSTGRES_IMAGE,
        "environment": {"POSTGRES_USER": "xborder", "POSTGRES_DB": "xborder",
                        "POSTGRES_PASSWORD": "${XBORDER_DB_PASSWORD:?set XBORDER_DB_PASSWORD}"},
        "volumes": ["postgres-data:/var/lib/postgresql/data"],
        "networks": ["consortium"],
        "healthcheck": {"test": ["CMD", "pg_isready", "-U", "xborder"], "interval": "5s", "retries": 20},
        "restart": "unless-stopped",
    }
    xborder_env = {"XBORDER_DATABASE_URL": database, "XBORDER_RPC_URL": f"http://{regulator_node.ip}:{RPC_PORT}",
                   "XBORDER_CHAIN_ID": str(chain_id), "XBORDER_DEPLOYMENTS_DIR": "/deployments"}
    services["indexer"] = {
        "build": {"context": "${XBORDER_SOURCE:-.}"},
        "command": ["xborder", "index", "follow", "--confirmations", "2"],
        "environment": xborder_env,
        "volumes": ["./deployments:/deployments:ro"],
        "depends_on": {"postgres": {"condition": "service_healthy"}, regulator_node.name: {"condition": "service_started"}},
        "networks": ["consortium"],
        "restart": "unless-stopped",
    }
    services["api"] = {
        "build": {"context": "${XBORDER_SOURCE:-.}"},
        "command": ["xborder", "serve", "--host", "0.0.0.0", "--port", "8000"],
        "environment": xborder_env,
        "volumes": ["./deployments:/deployments:ro"],
        "ports": ["127.0.0.1:8000:8000"],
        "depends_on": {"postgres": {"condition": "service_healthy"}, "indexer": {"condition": "service_started"}},
        "networks": ["consortium"],
        "restart": "unless-stopped",
    }
    return {
        "name": "xborder-consortium",
        "services": services,
        "networks": {"consortium": {"ipam": {"config": [{"subnet": SUBNET}]}}},
        "volumes": {**{f"{v.name}-data": {} for v in validators}, "postgres-data": {}},
    }


def _validator_config(v: Validator, bootnodes: Sequence[str], free_gas: bool) -> dict[str, Any]:
    return {
        "data-path": "/data", "genesis-file": "/genesis.json", "node-private-key-file": "/config/key",
        "p2p-host": v.ip, "p2p-port": P2P_PORT, "bootnodes": [b for b in bootnodes if v.public_key not in b],
        "discovery-enabled": False, "static-nodes-file": "/config/static-nodes.json",
        "rpc-http-enabled": True, "rpc-http-host": "0.0.0.0", "rpc-http-port": RPC_PORT,
        "rpc-http-api": ["ETH", "NET", "WEB3", "QBFT", "TXPOOL"], "host-allowlist": ["*"],
        "permissions-accounts-config-file-enabled": True,
        "permissions-accounts-config-file": "/permissions/permissions_config.toml",
        "permissions-nodes-config-file-enabled": True,
        "permissions-nodes-config-file": "/permissions/permissions_config.toml",
        "min-gas-price": 0 if free_gas else 1_000_000_000,
        "sync-mode": "FULL", "data-storage-format": "BONSAI",
    }


def write_bundle(out: Path, *, validators: int, chain_id: int, period: int = 2, gas_limit: int = 30_000_000,
                 free_gas: bool = True, accounts: Sequence[str] = (), alloc: Mapping[str, int] | None = None) -> list[Validator]:
    """Write the Besu QBFT bundle for `validators` new validators into `out` (must be empty)."""
    if not 1 <= validators <= 64:
        raise ValidationError(f"--validators: {validators} is out of range", field="--validators",
                              value=validators, allowed="1 to 64 (QBFT tolerates f faulty of 3f+1)")
    if out.exists() and any(out.iterdir()):
        raise ConfigurationError(f"{out} is not empty: choose a new --out folder (keys are never overwritten)")
    check_parameters(chain_id=chain_id, period=period, gas_limit=gas_limit)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    made: list[Validator] = []
    for i in range(1, validators + 1):
        key = coincurve.PrivateKey()
        public = key.public_key.format(compressed=False)[1:].hex()
        v = Validator(i, node_address(key.secret), public, f"172.28.0.{10 + i}")
        write_secret(out / v.name / "key", ("0x" + key.secret.hex()).encode())
        (out / v.name / "key.pub").write_text("0x" + public + "\n")
        made.append(v)
    enodes = [v.enode for v in made]
    genesis = qbft_genesis(chain_id=chain_id, validators=[v.address for v in made], period=period,
                           gas_limit=gas_limit, free_gas=free_gas, alloc=alloc or {})
    (out / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    (out / "permissions_config.toml").write_text(permissions_config(accounts, enodes))
    (out / "static-nodes.json").write_text(json.dumps(enodes, indent=2) + "\n")
    (out / "bootnodes.txt").write_text("\n".join(enodes) + "\n")
    for v in made:
        (out / v.name / "config.toml").write_text(tomli_w.dumps(_validator_config(v, enodes, free_gas)))
        (out / v.name / "static-nodes.json").write_text(json.dumps([e for e in enodes if v.public_key not in e]) + "\n")
    (out / "docker-compose.yml").write_text(
        "# xborder consortium: Besu QBFT validators, PostgreSQL, the regulator's indexer and the API.\n"
        "# Generated by `xborder network besu`; see docs/operations.md.\n"
        + yaml.safe_dump(_compose(made, chain_id), sort_keys=False))
    (out / "deployments").mkdir(exist_ok=True)
    os.chmod(out / "deployments", 0o755)
    return made
