"""The deployment manifest `deployments/<chain-id>.json`: where the contracts live on a chain."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xborder.errors import DeploymentNotFound

CONTRACT_NAMES = ("InstitutionRegistry", "MacroPrudentialPolicy", "LoanLedger")


@dataclass(frozen=True)
class DeployedContract:
    name: str
    address: str
    block_number: int
    transaction_hash: str
    abi_file: str


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    contracts: dict[str, DeployedContract]
    deployer: str
    regulator: str
    compiler: dict[str, Any]
    deployed_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def start_block(self) -> int:
        return min(c.block_number for c in self.contracts.values())

    def address(self, name: str) -> str:
        return self.contracts[name].address

    def abi(self, name: str, manifest_dir: Path) -> list[dict[str, Any]]:
        abi: list[dict[str, Any]] = json.loads((manifest_dir / self.contracts[name].abi_file).read_text())
        return abi

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        contracts = {name: DeployedContract(**c) for name, c in data["contracts"].items()}
        return cls(chain_id=int(data["chain_id"]), contracts=contracts, deployer=data["deployer"],
                   regulator=data["regulator"], compiler=data["compiler"],
                   deployed_at=data["deployed_at"], extra=data.get("extra", {}))


def manifest_path(deployments_dir: Path, chain_id: int) -> Path:
    return deployments_dir / f"{chain_id}.json"


def load_deployment(deployments_dir: Path, chain_id: int) -> Deployment:
    path = manifest_path(deployments_dir, chain_id)
    if not path.exists():
        raise DeploymentNotFound(
            f"no deployment for chain id {chain_id} in {deployments_dir}: run `xborder deploy` first "
            "(or pass --deployments-dir)")
    return Deployment.from_json(json.loads(path.read_text()))


def save_deployment(deployments_dir: Path, deployment: Deployment,
                    abis: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ABI files and then the manifest, each atomically (manifest last: it is the commit)."""
    deployments_dir.mkdir(parents=True, exist_ok=True)
    for name, abi in abis.items():
        target = deployments_dir / deployment.contracts[name].abi_file
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(abi, indent=1))
        tmp.replace(target)
    path = manifest_path(deployments_dir, deployment.chain_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(deployment.to_json(), indent=2))
    tmp.replace(path)
    return path
