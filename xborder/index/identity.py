"""Which chain and which deployment an index database belongs to (issue #13 item 4).

At its first run the indexer records the chain id, the genesis block's hash, the first indexed
block (where the deployment starts) and its hash, and the contracts (addresses, start blocks, ABIs). Every later
run, `index status` and every report check them: a node serving another chain (another chain id,
or the same id with another genesis, e.g. a restarted dev chain), a `--chain-id` that differs, or
another deployment's contracts is refused with exit code 4 before anything is read or written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from xborder.errors import ChainError
from xborder.index.db import Database, redact
from xborder.index.rpc import RpcClient
from xborder.index.store import ZERO_HASH, IndexedContract


class IndexerError(ChainError):
    """The index database does not belong to this chain or deployment (exit code 4)."""


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis_hash: str
    first_block: int
    first_hash: str


def node_identity(rpc: RpcClient, first_block: int) -> ChainIdentity:
    """The node's chain id, genesis hash and the hash of `first_block` (ZERO_HASH when the node does
    not have that block yet)."""
    chain_id = rpc.chain_id()
    numbers = sorted({0, max(0, first_block)})
    headers = rpc.headers(numbers)
    genesis = headers.get(0)
    if genesis is None:
        raise ChainError("the node has no genesis block: is it a JSON-RPC node of an EVM chain?")
    first = headers.get(max(0, first_block))
    return ChainIdentity(chain_id, str(genesis["hash"]).lower(), first_block,
                         str(first["hash"]).lower() if first is not None else ZERO_HASH)


def stored_identity(db: Database) -> ChainIdentity | None:
    row = db.query_one("SELECT chain_id, genesis_hash, first_block, first_hash FROM chain_identity WHERE id = 1")
    return ChainIdentity(int(row[0]), str(row[1]), int(row[2]), str(row[3])) if row else None


def record_identity(db: Database, identity: ChainIdentity, contracts: Sequence[IndexedContract]) -> None:
    """Store the identity and the contracts (inside the caller's transaction)."""
    db.execute("INSERT INTO chain_identity (id, chain_id, genesis_hash, first_block, first_hash, recorded_at) "
               "VALUES (1, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
               (identity.chain_id, identity.genesis_hash, identity.first_block, identity.first_hash))
    db.executemany("INSERT INTO indexed_contracts (name, address, start_block, abi) VALUES (?, ?, ?, ?)",
                   [(c.name, c.address.lower(), c.start_block, json.dumps(c.abi, sort_keys=True))
                    for c in sorted(contracts, key=lambda c: c.name)])


def check_expected_chain(db: Database, expected_chain_id: int | None) -> None:
    """--chain-id against the database (no node needed)."""
    stored = stored_identity(db)
    if expected_chain_id is not None and stored is not None and stored.chain_id != expected_chain_id:
        raise IndexerError(f"the index database {redact(db.url)} holds chain {stored.chain_id}, not chain "
                           f"{expected_chain_id} (--chain-id): use the database of chain {expected_chain_id}")


def check_node(db: Database, node: ChainIdentity, *, expected_chain_id: int | None = None,
               rpc_url: str = "the node") -> None:
    """The node against --chain-id and against the database's recorded identity."""
    if expected_chain_id is not None and node.chain_id != expected_chain_id:
        raise IndexerError(f"{rpc_url} serves chain {node.chain_id}, not chain {expected_chain_id} (--chain-id)")
    stored = stored_identity(db)
    if stored is None:
        return
    where = f"the index database {redact(db.url)}"
    if stored.chain_id != node.chain_id:
        raise IndexerError(f"{where} holds chain {stored.chain_id}, {rpc_url} serves chain {node.chain_id}: use "
                           "another database (--database-url) for this chain")
    if stored.genesis_hash != node.genesis_hash:
        raise IndexerError(f"{where} was built from another chain with id {stored.chain_id} (genesis "
                           f"{stored.genesis_hash[:12]}..., {rpc_url} has {node.genesis_hash[:12]}...; a restarted "
                           "dev chain is a new chain): index it into a new database")
    if node.first_block == stored.first_block and stored.first_hash != node.first_hash:
        raise IndexerError(f"{where} was built from another chain with id {stored.chain_id} (its first indexed block "
                           f"{stored.first_block} is {stored.first_hash[:12]}..., {rpc_url} has "
                           f"{node.first_hash[:12]}...: another chain, or a deployment replaced by a reorg): index it "
                           "into a new database")


def check_contracts(db: Database, contracts: Sequence[IndexedContract]) -> None:
    """The deployment's contracts against those the database indexes."""
    known = sorted((str(r[0]), str(r[1]).lower(), int(r[2])) for r in db.query(
        "SELECT name, address, start_block FROM indexed_contracts"))
    wanted = sorted((c.name, c.address.lower(), c.start_block) for c in contracts)
    if known and known != wanted:
        raise IndexerError(
            f"the index database {redact(db.url)} indexes another deployment "
            f"({', '.join(f'{n} {a} from block {b}' for n, a, b in known)}) than "
            f"{', '.join(f'{n} {a} from block {b}' for n, a, b in wanted)}: use a new database for a new deployment")
