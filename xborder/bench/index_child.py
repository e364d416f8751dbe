"""The indexer in its own process, so its peak memory is its own:
    python -m xborder.bench.index_child RPC_URL DB_URL CONTRACTS_JSON TO_BLOCK
Prints one JSON line: events, seconds, batches, max RSS (MiB)."""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path

from xborder.index import IndexedContract, Indexer, open_database
from xborder.index.service import indexer_web3
from xborder.interrupts import unwind_on_stop_signals


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    rpc_url, db_url, contracts_file, to_block = argv
    contracts = [IndexedContract(**c) for c in json.loads(Path(contracts_file).read_text())]
    db = open_database(db_url)
    # Ctrl-C (and `kill`) unwind it even when it inherited SIGINT ignored: `make bench` run as a
    # background job of a shell without job control.
    with unwind_on_stop_signals():
        stats = Indexer(db, indexer_web3(rpc_url, timeout=120), contracts).run(to_block=int(to_block))
    db.close()
    print(json.dumps({"events": stats.events, "seconds": stats.seconds, "batches": stats.batches,
                      "blocks": stats.blocks, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
