"""Indexing: a backfill of the benchmark chain (every registry, policy and ledger event the other
sections produced) into SQLite by the xborder indexer, in a subprocess (its peak RSS is read
there), against the plain web3.py path on the same chain: `contract.events.X.get_logs` for each
event type of the three contracts, one row inserted at a time."""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from xborder.bench.results import Results, Row
from xborder.bench.world import World
from xborder.index import deployment_contracts, open_database

SECTION = "index"


def plain_web3(world: World, db_path: Path, first: int, last: int) -> tuple[int, float]:
    w3 = Web3(Web3.HTTPProvider(world.node.rpc_url, request_kwargs={"timeout": 120}))
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE events (block_number, log_index, tx_hash, contract, event, loan_id, borrower, "
                 "institution_id, amount, args)")
    contracts = [w3.eth.contract(address=c.address, abi=c.abi) for c in
                 (world.client.registry, world.client.policy, world.client.ledger)]
    count = 0
    started = time.perf_counter()
    for contract in contracts:
        for item in contract.abi:
            if item.get("type") != "event":
                continue
            event = getattr(contract.events, str(item["name"]))  # type: ignore[typeddict-item]
            for log in event.get_logs(from_block=first, to_block=last):
                a = log["args"]
                conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                    log["blockNumber"], log["logIndex"], log["transactionHash"].hex(), log["address"],
                    log["event"], a.get("loanId"), a.get("borrower"), a.get("institutionId"),
                    None if a.get("amount") is None else str(a.get("amount")),
                    json.dumps({k: v.hex() if isinstance(v, bytes) else str(v) for k, v in a.items()})))
                count += 1
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return count, elapsed


def run(world: World, results: Results, *, plain_events: int = 15_000) -> dict[str, Any]:
    workdir = world.workdir
    contracts = deployment_contracts(workdir / "deployments", world.client.deployment.chain_id)
    spec = workdir / "contracts.json"
    spec.write_text(json.dumps([{"name": c.name, "address": c.address, "abi": c.abi, "start_block": c.start_block}
                                for c in contracts]))
    head = world.w3.eth.block_number
    db_path = workdir / "index.db"
    db_path.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    # The chain is mined on demand: few, dense blocks (hundreds of events each; 0.2 s interval blocks
    # spread them over ten times as many). The indexer runs with its defaults, as `xborder index run`:
    # its ranges are sized by logs (`Indexer.log_budget`), whatever the block density.
    done = subprocess.run([sys.executable, "-m", "xborder.bench.index_child", world.node.rpc_url,
                           f"sqlite:///{db_path}", str(spec), str(head)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"indexer subprocess failed:\n{done.stderr[-3000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rate = child["events"] / child["seconds"]
    db = open_database(f"sqlite:///{db_path}")
    counts = {t: int(db.query_one(f"SELECT COUNT(*) FROM {t}")[0])  # type: ignore[index]
              for t in ("loans", "loan_events", "institutions")}
    # plain web3.py path over the first blocks holding about `plain_events` of the events (it is
    # slow; rates are comparable), counted in the index, not guessed from the block numbers (on the
    # dense chain that guess was the setup's blocks alone)
    sample_end = db.query_one("SELECT block_number FROM raw_logs ORDER BY block_number, log_index LIMIT 1 OFFSET ?",
                              (plain_events - 1,)) if child["events"] > plain_events else None
    db.close()
    first = min(c.start_block for c in contracts)
    last = head if sample_end is None else int(sample_end[0])
    n, seconds = plain_web3(world, workdir / "plain.db", first, last)
    plain_rate = n / seconds
    results.add(Row(SECTION, "indexer backfill into SQLite", rate, "events/s", baseline=plain_rate,
                    target=">= 20000",
                    note=f"{child['events']:,} events, blocks {first}..{head} "
                         f"({child['events'] / max(1, head - first + 1):,.0f} a block; chain {world.mining}), "
                         f"{child['seconds']:.2f}s "
                         f"({wall:.2f}s with process start), {child['batches']} batches; {counts}"))
    results.add(Row(SECTION, "indexer / plain web3.py path", rate / plain_rate, "x", target=">= 10",
                    note=f"plain path: {n:,} events (blocks {first}..{last}) in {seconds:.2f}s"))
    results.add(Row(SECTION, "plain web3.py path (get_logs per type, row by row)", plain_rate, "events/s"))
    results.add(Row(SECTION, "indexer peak RSS", child["max_rss_mib"], "MiB", target="< 500",
                    note=f"self-reported; RUSAGE_CHILDREN max {children_rss / 1024:.0f} MiB "
                         f"(was {before / 1024:.0f} before)"))
    if child["events"] < 100_000:
        results.rows[-4].note += " (fewer than 100,000 events: --quick?)"
    return {"events": child["events"], "seconds": child["seconds"]}
