"""What an index holds, read in constant time (`index status`, the API's status page), and the
contracts a deployment's manifest names for indexing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xborder.bindings.deployment import CONTRACT_NAMES as INDEXED_CONTRACT_NAMES
from xborder.bindings.deployment import load_deployment
from xborder.errors import DeploymentNotFound
from xborder.index import deferred
from xborder.index.db import Database
from xborder.index.identity import stored_identity
from xborder.index.store import IndexedContract

__all__ = ["IndexStatus", "deployment_contracts", "index_status"]


@dataclass
class IndexStatus:
    chain_id: int | None
    checkpoint: int | None
    checkpoint_hash: str | None
    contracts: list[tuple[str, str, int]]
    counts: dict[str, int]
    schema_version: int
    genesis_hash: str | None = None
    log_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Secondary indexes a first backfill that has not caught up yet still has to build.
    deferred_indexes: list[str] = field(default_factory=list)


def index_status(db: Database) -> IndexStatus:
    """Checkpoint, identity, contracts, row counts and log counts: read from the checkpoint and the
    summary tables (constant time at any size)."""
    checkpoint = db.query_one("SELECT chain_id, block_number, block_hash FROM checkpoint WHERE id = 1")
    identity = stored_identity(db) if db.table_exists("chain_identity") else None
    log_counts: dict[str, dict[str, int]] = {}
    if db.table_exists("log_counts"):
        for contract, event, n in db.query("SELECT contract, event, logs FROM log_counts ORDER BY contract, event"):
            log_counts.setdefault(str(contract), {})[str(event)] = int(n)
    ledger = log_counts.get("LoanLedger", {})
    counts = {table: int(db.query_one(f"SELECT COUNT(*) FROM {table}")[0])  # type: ignore[index]
              for table in ("institutions", "wallets", "parameter_changes", "reference_rate_changes",
                            "financing_type_changes")}
    loans = db.query_one("SELECT SUM(loans) FROM loan_totals WHERE dimension = 'currency'") \
        if db.table_exists("loan_totals") else None
    counts["loans"] = int(loans[0]) if loans and loans[0] is not None else 0
    counts["loan_events"] = sum(n for e, n in ledger.items() if e.startswith("Loan"))
    counts["raw_logs"] = sum(sum(c.values()) for c in log_counts.values())
    return IndexStatus(
        chain_id=int(checkpoint[0]) if checkpoint else None,
        checkpoint=int(checkpoint[1]) if checkpoint else None,
        checkpoint_hash=str(checkpoint[2]) if checkpoint else None,
        contracts=[(str(r[0]), str(r[1]), int(r[2])) for r in db.query(
            "SELECT name, address, start_block FROM indexed_contracts ORDER BY name")],
        counts=counts, schema_version=db.schema_version(),
        genesis_hash=identity.genesis_hash if identity else None, log_counts=log_counts,
        deferred_indexes=deferred.pending(db) if db.table_exists("deferred_indexes") else [])


def deployment_contracts(deployments_dir: Path, chain_id: int) -> list[IndexedContract]:
    """The indexed contracts of the deploy service's manifest `deployments/<chain-id>.json`."""
    deployment = load_deployment(deployments_dir, chain_id)
    missing = [n for n in INDEXED_CONTRACT_NAMES if n not in deployment.contracts]
    if missing:
        raise DeploymentNotFound(f"the deployment of chain {chain_id} in {deployments_dir} lacks "
                                 f"{', '.join(missing)}: finish it with `xborder deploy`")
    return [IndexedContract(name=name, address=deployment.address(name),
                            abi=deployment.abi(name, deployments_dir),
                            start_block=deployment.contracts[name].block_number)
            for name in INDEXED_CONTRACT_NAMES]
