"""The indexer in its own process, so its peak memory is its own:
    python -m xborder.bench.index_child RPC_URL DB_URL CONTRACTS_JSON TO_BLOCK [FIRST_BATCH_BLOCKS]
Prints one JSON line: events, seconds, batches, max RSS (MiB)."""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path

from xborder.index import IndexedContract, Indexer, open_database
from xborder.index.service import indexer_web3


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    rpc_url, db_url, contracts_file, to_block, *first = argv
    contracts = [IndexedContract(**c) for c in json.loads(Path(contracts_file).read_text())]
    db = open_database(db_url)
    w3 = indexer_web3(rpc_url, timeout=120)
    indexer = Indexer(db, w3, contracts, batch_blocks=int(first[0])) if first else Indexer(db, w3, contracts)
    stats = indexer.run(to_block=int(to_block))
    db.close()
    print(json.dumps({"events": stats.events, "seconds": stats.seconds, "batches": stats.batches,
                      "blocks": stats.blocks, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
