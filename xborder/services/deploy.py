"""Deploy the three contracts in order, wire them, and write the deployment manifest.

Idempotent and resumable: each deployed contract is recorded in the manifest as soon as its
receipt arrives, so a crash mid-way resumes where it stopped, and a complete manifest whose
addresses hold the expected code means there is nothing to do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.bindings.batch import Tx, one
from xborder.bindings.deployment import (
    CONTRACT_NAMES,
    DeployedContract,
    Deployment,
    manifest_path,
    save_deployment,
)
from xborder.bindings.reverts import ErrorDecoder
from xborder.build import Artifact, compile_project, load_compiler_config
from xborder.chain.rpc import Rpc

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DeployResult:
    deployment: Deployment
    manifest: Path
    deployed: list[str]  # contracts deployed by this run (empty: everything was already there)


def _constructor_args(name: str, regulator: str, done: dict[str, DeployedContract]) -> list[Any]:
    if name == "LoanLedger":
        return [regulator, done["InstitutionRegistry"].address, done["MacroPrudentialPolicy"].address]
    return [regulator]


def _init_code(artifact: Artifact, args: list[Any]) -> bytes:
    """Creation bytecode + ABI-encoded constructor arguments."""
    inputs: list[dict[str, Any]] = next(
        (item["inputs"] for item in artifact.abi if item.get("type") == "constructor"), [])
    return bytes.fromhex(artifact.bytecode.removeprefix("0x")) + abi_encode([i["type"] for i in inputs], args)


def _code_matches(w3: Web3, address: str, deployed_bytecode: str) -> bool:
    code = bytes.fromhex(str(Rpc(w3).call("eth_getCode", [Web3.to_checksum_address(address), "latest"]))[2:])
    expected = bytes.fromhex(deployed_bytecode)
    # Immutables (the ledger's registry/policy addresses, EIP-712 cache) differ per deployment;
    # compare length and the metadata trailer, which hashes the source.
    return len(code) == len(expected) and code[-53:] == expected[-53:]


def deploy(w3: Web3, deployer: LocalAccount, regulator: str, deployments_dir: Path,
           project_root: Path, progress: Progress | None = None) -> DeployResult:
    """Deploy (or verify) InstitutionRegistry, MacroPrudentialPolicy and LoanLedger.

    `regulator` receives DEFAULT_ADMIN_ROLE, REGULATOR_ROLE and PAUSER_ROLE through the
    constructors; the deployer keeps no role.
    """
    say = progress or (lambda message: log.info("%s", message))
    regulator = Web3.to_checksum_address(regulator)
    chain_id = Rpc(w3).chain_id()
    artifacts = compile_project(project_root)
    decoder = ErrorDecoder([artifacts[n].abi for n in CONTRACT_NAMES])
    config = load_compiler_config(project_root)
    path = manifest_path(deployments_dir, chain_id)

    done: dict[str, DeployedContract] = {}
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if previous:
        if previous.get("regulator", "").lower() != regulator.lower():
            say(f"existing manifest {path} names regulator {previous.get('regulator')}; "
                f"deploying afresh for {regulator}")
        else:
            for name in CONTRACT_NAMES:
                entry = previous.get("contracts", {}).get(name)
                if entry and _code_matches(w3, entry["address"], artifacts[name].deployed_bytecode):
                    done[name] = DeployedContract(**entry)
                else:
                    break  # later contracts depend on earlier ones: redeploy from here
            if len(done) < len(previous.get("contracts", {})):
                say(f"manifest {path} does not match this chain beyond {list(done) or 'nothing'}; "
                    "deploying the rest")

    deployed_now: list[str] = []
    abis = {name: artifacts[name].abi for name in CONTRACT_NAMES}
    for name in CONTRACT_NAMES:
        if name in done:
            say(f"{name} already deployed at {done[name].address}")
            continue
        artifact = artifacts[name]
        outcome = one(w3, decoder, Tx(deployer, None, _init_code(artifact, _constructor_args(name, regulator, done)),
                                      label=f"deploying {name}"), f"deploying {name}")
        assert outcome.contract_address is not None and outcome.block_number is not None
        done[name] = DeployedContract(name=name, address=Web3.to_checksum_address(outcome.contract_address),
                                      block_number=outcome.block_number, transaction_hash=str(outcome.tx_hash),
                                      abi_file=f"abi/{name}.json")
        deployed_now.append(name)
        say(f"{name} deployed at {done[name].address} (block {outcome.block_number}, gas {outcome.gas_used:,})")
        # Record progress at once: a crash after this line resumes instead of redeploying.
        save_deployment(deployments_dir, _manifest(chain_id, done, deployer, regulator, config),
                        {n: abis[n] for n in done})

    deployment = _manifest(chain_id, done, deployer, regulator, config,
                           deployed_at=previous.get("deployed_at") if not deployed_now else None)
    save_deployment(deployments_dir, deployment, abis)
    return DeployResult(deployment, path, deployed_now)


def _manifest(chain_id: int, done: dict[str, DeployedContract], deployer: LocalAccount,
              regulator: str, config: Any, deployed_at: str | None = None) -> Deployment:
    return Deployment(
        chain_id=chain_id, contracts=dict(done), deployer=deployer.address, regulator=regulator,
        compiler={"solc": config.version, "evm_version": config.evm_version,
                  "optimizer": {"enabled": config.optimizer_enabled, "runs": config.optimizer_runs}},
        deployed_at=deployed_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        extra={"complete": len(done) == len(CONTRACT_NAMES)},
    )
