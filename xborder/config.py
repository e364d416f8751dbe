"""The one configuration object.

Values come, in increasing priority, from the defaults below, `XBORDER_*` environment variables
and the command line. Nothing else in the package reads the environment for settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    """Where things live and which chain and database to talk to."""

    project_root: Path = PROJECT_ROOT
    #: Working folder of the embedded default: local chain state, index database, demo output.
    data_dir: Path = field(default_factory=lambda: Path(".xborder").resolve())
    #: JSON-RPC URL of the node; None means the embedded local anvil (started on demand).
    rpc_url: str | None = None
    #: Chain id the node must answer with; None accepts any.
    chain_id: int | None = None
    #: Folder of encrypted keystores (Web3 Secret Storage v3).
    keystore_dir: Path | None = None
    #: Folder of deployment manifests `<chain-id>.json`.
    deployments_dir: Path | None = None
    #: SQLAlchemy-style URL of the index database; None means SQLite in data_dir.
    database_url: str | None = None
    #: Blocks to wait before the indexer treats a block as final.
    confirmations: int = 0

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = os.environ
        base = cls(
            data_dir=_env_path("XBORDER_DATA_DIR", Path(".xborder").resolve()),
            rpc_url=env.get("XBORDER_RPC_URL") or None,
            chain_id=int(env["XBORDER_CHAIN_ID"]) if env.get("XBORDER_CHAIN_ID") else None,
            keystore_dir=_env_path("XBORDER_KEYSTORE_DIR", Path()) if env.get("XBORDER_KEYSTORE_DIR") else None,
            deployments_dir=_env_path("XBORDER_DEPLOYMENTS_DIR", Path()) if env.get("XBORDER_DEPLOYMENTS_DIR") else None,
            database_url=env.get("XBORDER_DATABASE_URL") or None,
            confirmations=int(env.get("XBORDER_CONFIRMATIONS", "0")),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **clean)

    @property
    def keystores(self) -> Path:
        return self.keystore_dir or self.data_dir / "keystores"

    @property
    def deployments(self) -> Path:
        return self.deployments_dir or self.data_dir.parent / "deployments"

    @property
    def chain_state_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def index_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'index.db'}"
