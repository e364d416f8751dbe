"""The regulator's read side: a reorg-safe event indexer into SQLite or PostgreSQL, and its queries."""

from xborder.index.db import Database, IndexBusy, IndexDatabaseError, open_database
from xborder.index.decode import DecodedEvent, EventDecoder
from xborder.index.indexer import IndexedContract, Indexer, IndexerError, IndexStats
from xborder.index.rpc import RetryPolicy
from xborder.index.service import index_events, index_status_of, indexer_web3, open_index, reproject_index
from xborder.index.status import IndexStatus, deployment_contracts, index_status
from xborder.index.store import IndexStore

__all__ = [
    "Database", "DecodedEvent", "EventDecoder", "IndexBusy", "IndexDatabaseError", "IndexStats", "IndexStatus",
    "IndexStore", "IndexedContract", "Indexer", "IndexerError", "RetryPolicy", "deployment_contracts", "index_events",
    "index_status", "index_status_of", "indexer_web3", "open_database", "open_index", "reproject_index",
]
