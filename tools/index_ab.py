"""The indexer of two checkouts, each on its own bench chain, alternated back to back (issue #12's
"performance holds", measured in one run before and after):

    git worktree add ../xborder-v1 6c116be && ln -s "$PWD/node_modules" ../xborder-v1/node_modules
    .venv/bin/python tools/index_ab.py ../xborder-v1 . --rounds 12

For each checkout a `--quick` bench chain is built by that checkout's own code (its world and its
ingest section, as `make bench` builds it) and kept running; then `xborder.bench.index_child` of each
checkout indexes its own chain into a fresh SQLite file, in turns (the order flips every round), and
the events/s of each round, the medians and after/before are printed beside the load average. Both
run in this interpreter (one environment: `requirements.lock`)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: Run in a checkout's own code (PYTHONPATH): build its --quick bench chain, print where it is, wait.
_CHAIN = """
import inspect, json, sys, time, logging
from pathlib import Path
from xborder.bench.__main__ import QUICK
from xborder.bench.world import build_world
from xborder.bench.results import Results
from xborder.bench import ingest
try:
    from xborder.index import deployment_contracts
except ImportError:  # v1
    from xborder.index.indexer import deployment_contracts
logging.basicConfig(level=logging.WARNING)
out = Path(sys.argv[1])
kw = dict(banks=QUICK["banks"], creditors=QUICK["creditors"], borrowers=QUICK["borrowers"], block_time=0.2,
          gas_limit=300_000_000, workdir=out)
if "interval" in inspect.signature(build_world).parameters:
    kw["interval"] = False
world = build_world(**kw)
ingest.run(world, Results(info={}), loans=QUICK["loans"], plain=QUICK["plain"])
contracts = deployment_contracts(out / "deployments", world.client.deployment.chain_id)
(out / "contracts.json").write_text(json.dumps([{"name": c.name, "address": c.address, "abi": c.abi,
                                                 "start_block": c.start_block} for c in contracts]))
print("READY", world.node.rpc_url, world.w3.eth.block_number, flush=True)
sys.stdin.read()  # until the parent closes it
world.close()
"""


def _start_chain(tree: Path, workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHAIN, str(workdir)], cwd=tree, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(tree)})


def _ready(tree: Path, proc: subprocess.Popen[str]) -> tuple[subprocess.Popen[str], str, str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            _, url, head = line.split()
            return proc, url, head
    raise SystemExit(f"{tree}: the bench chain was not built (exit {proc.wait()})")


def _index(tree: Path, url: str, head: str, contracts: Path, db: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "xborder.bench.index_child", url, f"sqlite:///{db}",
                           str(contracts), head], cwd=tree, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the indexer failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    arms = {"before": args.before.resolve(), "after": args.after.resolve()}
    rates: dict[str, list[float]] = {name: [] for name in arms}
    with tempfile.TemporaryDirectory(prefix="xborder-index-ab-") as tmp:
        started = {name: _start_chain(tree, Path(tmp) / name) for name, tree in arms.items()}  # built side by side
        chains = {name: _ready(arms[name], proc) for name, proc in started.items()}
        try:
            for r in range(args.rounds):
                line = []
                for name in (list(arms) if r % 2 == 0 else list(arms)[::-1]):
                    _, url, head = chains[name]
                    out = _index(arms[name], url, head, Path(tmp) / name / "contracts.json", Path(tmp) / f"{name}.db")
                    rates[name].append(out["events"] / out["seconds"])
                    line.append(f"{name} {rates[name][-1]:8,.0f} ev/s ({out['events']:,.0f} events, "
                                f"{out['seconds']:.2f} s, RSS {out['max_rss_mib']:.0f} MiB)")
                print(f"round {r + 1:2d}: " + " | ".join(line) + f" | load {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            for proc, _, _ in chains.values():
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=60)
    before, after = (statistics.median(rates[n]) for n in arms)
    per_round = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
    print(f"median events/s: before {before:,.0f}, after {after:,.0f}; after/before {after / before:.3f} "
          f"(per round {min(per_round):.2f}-{max(per_round):.2f}, median {statistics.median(per_round):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
