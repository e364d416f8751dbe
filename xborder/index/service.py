"""Entry points of the indexer for the CLI (`xborder index run|status`), the HTTP API and the
Brownie script `scripts/index_events.py`: everything comes from `Settings`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from web3 import Web3

from xborder.chain.connect import web3_for
from xborder.config import Settings
from xborder.errors import ConfigurationError
from xborder.index.db import Database, open_database
from xborder.index.identity import IndexerError
from xborder.index.indexer import START_ATTEMPTS, IndexedContract, Indexer, IndexStats
from xborder.index.projection import XborderProjection
from xborder.index.rpc import RetryPolicy, RpcClient
from xborder.index.status import IndexStatus, deployment_contracts, index_status
from xborder.index.store import IndexStore
from xborder.wallets.encryption import KeyRing
from xborder.wallets.terms_reader import TermsReader

log = logging.getLogger(__name__)


def indexer_web3(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A Web3 for the indexer: the indexer does its own retries, so web3's are off."""
    return web3_for(rpc_url, timeout, retries=False)


def open_index(settings: Settings) -> Database:
    """The index database of `settings` (`index_url`), created and migrated if need be."""
    return open_database(settings.index_url)


def index_events(settings: Settings, *, w3: Web3 | None = None,
                 contracts: list[IndexedContract] | None = None, follow: bool = False,
                 poll_interval: float = 1.0, to_block: int | None = None,
                 stop: threading.Event | None = None, batch_blocks: int = 200,
                 retry: RetryPolicy | None = None,
                 on_batch: Callable[[IndexStats], None] | None = None,
                 decryption_keys: KeyRing | None = None) -> IndexStats:
    """Index the deployment of `settings` (manifest in `settings.deployments`) into
    `settings.index_url`; with `follow`, keep following the head until `stop` is set.

    `decryption_keys`: the operator's X25519 keys (`KeyRing`); every terms envelope is then opened
    where one of them is a recipient and recorded in `loan_terms` (docs/confidential-terms.md)."""
    if w3 is None:
        if settings.rpc_url is None:
            raise ConfigurationError("the indexer needs a node: pass --rpc-url (or start the embedded "
                                     "chain with `xborder chain start` and use its URL)")
        w3 = indexer_web3(settings.rpc_url)
    chain_id = RpcClient(w3).bounded(START_ATTEMPTS).chain_id()
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise IndexerError(f"{settings.rpc_url or 'the node'} serves chain {chain_id}, not chain {settings.chain_id} "
                           "(--chain-id)")
    if contracts is None:
        contracts = deployment_contracts(settings.deployments, chain_id)
    projection = None
    if decryption_keys is not None:
        projection = XborderProjection(terms_reader=TermsReader(decryption_keys, chain_id))
        log.info("indexing with %d decryption key(s) of institution(s) %s", len(decryption_keys),
                 sorted(decryption_keys.institutions()))
    db = open_index(settings)
    try:
        indexer = Indexer(db, w3, contracts, confirmations=settings.confirmations,
                          batch_blocks=batch_blocks, retry=retry, on_batch=on_batch, projection=projection,
                          expected_chain_id=settings.chain_id)
        return indexer.run(follow=follow, poll_interval=poll_interval, to_block=to_block, stop=stop)
    finally:
        db.close()


def index_status_of(settings: Settings) -> IndexStatus:
    """Checkpoint, contracts and row counts of the index database of `settings`."""
    db = open_index(settings)
    try:
        return index_status(db)
    finally:
        db.close()


def reproject_index(settings: Settings, *, decryption_keys: KeyRing | None = None,
                    on_progress: Callable[[int], None] | None = None) -> int:
    """Rebuild the projected tables of `settings`' index database from its raw logs alone (no node:
    the ABIs are in the database). Holds the writer lock; returns the number of logs replayed."""
    db = open_index(settings)
    try:
        with db.writer_lock():
            projection = XborderProjection()
            if decryption_keys is not None:
                row = db.query_one("SELECT chain_id FROM chain_identity WHERE id = 1")
                if row is None:
                    raise ConfigurationError(f"the index database {settings.index_url} is empty: run `xborder index run`")
                projection = XborderProjection(terms_reader=TermsReader(decryption_keys, int(row[0])))
            return IndexStore(db, projection).reproject(on_progress=on_progress)
    finally:
        db.close()
