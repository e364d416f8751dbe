"""The chain half of `report consistency`: read, at the index's checkpoint block, every borrower's
position (balance, loan count, drawdown freeze), limit and headroom from the ledger's views and the number of logs of every contract and
event (`eth_getLogs`), then let `xborder.index.consistency.compare` (database only) judge.

Read-only like the indexer (the other module of this package that talks to the node); the query
modules never do. The node is checked first (chain id, genesis) against the database, and a node
that does not answer fails the report (exit 4) instead of being waited for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.crypto import keccak
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.errors import ConfigurationError
from xborder.index.consistency import (
    BorrowerViews,
    ChainFigures,
    ConsistencyReport,
    checkpoint_block,
    compare,
)
from xborder.index.db import Database
from xborder.index.decode import EventDecoder, abi_type
from xborder.index.exposures import borrowers
from xborder.index.identity import check_node, node_identity, stored_identity
from xborder.index.rpc import RangeTooLarge, RetryPolicy, RpcClient, TooManyLogs
from xborder.index.store import IndexedContract, event_label, stored_contracts

#: The ledger's views per borrower: `borrowerPosition` answers (balance, loanCount, frozen) in three words.
VIEWS = ("borrowerPosition", "borrowingLimit", "headroom")
#: Tries per request: a report must fail (exit 4) on a dead node, not hang.
ATTEMPTS = 6
CALLS_PER_BATCH = 600


def _selector_and_types(abi: Sequence[dict[str, Any]], name: str) -> tuple[bytes, list[str]]:
    item = next((i for i in abi if i.get("type") == "function" and i.get("name") == name), None)
    if item is None:
        raise ConfigurationError(f"the ledger's ABI has no view {name}: is this an xborder LoanLedger?")
    types = [abi_type(p) for p in item.get("inputs", [])]
    return keccak(text=f"{name}({','.join(types)})")[:4], types


def ledger_views(rpc: RpcClient, ledger: IndexedContract, ids: Sequence[int], block: int) -> dict[int, BorrowerViews]:
    """The views of each borrower at `block`, in JSON-RPC batches."""
    encoders = [_selector_and_types(ledger.abi, view) for view in VIEWS]
    calls = [("eth_call", [{"to": ledger.address, "data": "0x" + (sel + abi_encode(types, [b])).hex()}, hex(block)])
             for b in ids for sel, types in encoders]
    results: list[Any] = []
    for i in range(0, len(calls), CALLS_PER_BATCH):
        results += rpc.batch(calls[i:i + CALLS_PER_BATCH])
    out = {}
    for n, borrower in enumerate(ids):
        position, limit, headroom = (bytes.fromhex(str(r)[2:]) for r in results[n * len(VIEWS):(n + 1) * len(VIEWS)])
        balance, loans, frozen = (int.from_bytes(position[i:i + 32], "big") for i in (0, 32, 64))
        out[borrower] = BorrowerViews(balance, int.from_bytes(limit, "big"), int.from_bytes(headroom, "big"), loans,
                                      bool(frozen))
    return out


def log_counts(rpc: RpcClient, contracts: Sequence[IndexedContract], block: int, *,
               target_logs: int = 10_000) -> dict[tuple[str, str], int]:
    """Logs per (contract, event label) from each contract's start block to `block`, with
    eth_getLogs ranges sized for about `target_logs` logs (halved when the node refuses; never more
    than 4 x `target_logs` held: a denser range is cut where that budget runs out)."""
    decoder = EventDecoder([(c.name, c.address, c.abi) for c in contracts])
    counts: dict[tuple[str, str], int] = {}
    for contract in contracts:
        address = contract.address.lower()
        start, span = contract.start_block, 1_000
        while start <= block:
            end = min(block, start + span - 1)
            try:
                logs = rpc.logs([address], start, end, max_logs=4 * target_logs if end > start else None)
            except TooManyLogs as exc:  # a dense stretch: the blocks before the one where the budget ran out
                span = max(1, exc.over - start)
                continue
            except RangeTooLarge:
                if span == 1:
                    raise
                span = max(1, span // 2)
                continue
            for entry in logs:
                topics = entry.get("topics") or []
                spec = decoder.spec_of(address, topics[0] if topics else None)
                key = (contract.name, event_label(spec.name if spec else None,
                                                  bytes.fromhex(topics[0][2:]) if topics else None))
                counts[key] = counts.get(key, 0) + 1
            start = end + 1
            span = max(1, min(100_000, span * 2 if len(logs) < target_logs // 2 else
                              span * target_logs // max(len(logs), 1)))
    return counts


def chain_figures(rpc: RpcClient, contracts: Sequence[IndexedContract], ids: Sequence[int], block: int) -> ChainFigures:
    ledger = next((c for c in contracts if c.name == "LoanLedger"), None)
    if ledger is None:
        raise ConfigurationError("the index database indexes no LoanLedger")
    return ChainFigures(block, ledger_views(rpc, ledger, ids, block), log_counts(rpc, contracts, block))


def consistency_report(db: Database, w3: Web3, *, expected_chain_id: int | None = None) -> ConsistencyReport:
    """The whole check: the node is verified to be this index's chain, then read at the checkpoint."""
    block = checkpoint_block(db)
    stored = stored_identity(db)
    rpc = RpcClient(w3, RetryPolicy(initial_delay=0.2, max_delay=2.0, max_attempts=ATTEMPTS))
    if stored is not None:
        check_node(db, node_identity(rpc, stored.first_block), expected_chain_id=expected_chain_id, rpc_url=rpc.url)
    return compare(db, chain_figures(rpc, stored_contracts(db), borrowers(db), block))


def check_consistency(db: Database, w3: Web3, ledger_address: str | None = None,
                      ledger_abi: list[dict[str, Any]] | None = None) -> ConsistencyReport:
    """`consistency_report` under the name and signature the demo used (the ledger's address and
    ABI now come from the database, which stores those it indexed)."""
    return consistency_report(db, w3)
