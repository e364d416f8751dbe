"""python -m xborder.bench [--quick] [--only gas,ingest,index,query,api,network] [--out bench-results/]"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xborder.bench import api, gas, index, ingest, query
from xborder.bench import network as network_bench
from xborder.bench.results import Results, load, machine
from xborder.bench.world import World, build_world, mining_words
from xborder.interrupts import unwind_on_stop_signals

SECTIONS = ("gas", "ingest", "index", "query", "api", "network")
#: The sections that use the bench's own chain (`World`); the others build their own.
ON_CHAIN = ("gas", "ingest", "index")
FULL = {"loans": 10_000, "plain": 300, "borrowers": 1_000, "banks": 20, "creditors": 20, "query_loans": 1_000_000,
        "query_borrowers": 12_000, "api_seconds": 60}
QUICK = {"loans": 2_000, "plain": 100, "borrowers": 300, "banks": 10, "creditors": 10, "query_loans": 100_000,
         "query_borrowers": 2_000, "api_seconds": 15}


def main(argv: list[str] | None = None) -> int:
    # `kill` (SIGTERM) and Ctrl-C unwind, even when started with them ignored (a background job): the
    # work folder, the chain and the throwaway PostgreSQL cluster are cleaned up (a killed bench left
    # 3 GB and a running cluster behind). Then one line and exit 130, no traceback.
    try:
        with unwind_on_stop_signals():
            return _bench(argv)
    except KeyboardInterrupt as exc:
        why = f" ({exc})" if str(exc) else ""
        sys.stderr.write(f"xborder.bench: interrupted{why}; stopped what it had started\n")
        return 130


def _bench(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xborder.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--gas-limit", type=int, default=300_000_000, help="anvil block gas limit")
    parser.add_argument("--block-time", type=float, default=0.2,
                        help="the bench chain mines a waiting transaction within this many seconds (s)")
    parser.add_argument("--interval-mining", action="store_true",
                        help="anvil mines a block every --block-time instead (before #13; anvil's memory grows "
                             "without bound: 16.6 GB in the ingest section)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (anvil log, databases)")
    parser.add_argument("--query-loans", type=int, default=None, help="loans of the query section [default: 1,000,000]")
    parser.add_argument("--query-engines", default="sqlite,postgresql", help="index databases of the query section")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if "index" in only and "ingest" not in only:
        only.insert(only.index("index"), "ingest")  # the index section reads the chain ingest builds
    size = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 180))
    results = Results(info=machine() | {"quick": args.quick, "sizes": size, "gas_limit": args.gas_limit,
                                        "block_time": args.block_time,
                                        "mining": mining_words(args.block_time, args.interval_mining),
                                        "sections": only})
    workdir = Path(tempfile.mkdtemp(prefix="xborder-bench-"))
    started = time.perf_counter()
    world: World | None = None
    try:
        if any(s in only for s in ON_CHAIN):
            t = time.perf_counter()
            console.print(f"starting anvil ({results.info['mining']}), deploying, registering "
                          f"{size['banks'] + size['creditors'] + size['borrowers']:,} institutions ...")
            world = build_world(banks=size["banks"], creditors=size["creditors"], borrowers=size["borrowers"],
                                block_time=args.block_time, interval=args.interval_mining, gas_limit=args.gas_limit,
                                workdir=workdir)
            results.sections["setup"] = {"seconds": time.perf_counter() - t, "load_at_end": load()}
        on_chain = [s for s in only if s in ON_CHAIN]
        _run_sections(on_chain, world, results, size, workdir, console, args)
        if world is not None:  # its anvil and miner take memory and CPU: stop them before the other sections
            world.close()
            world = None
        _run_sections([s for s in only if s not in ON_CHAIN], None, results, size, workdir, console, args)
    finally:
        if world is not None:
            world.close()
        results.info["total_seconds"] = time.perf_counter() - started
        results.info["load_average_at_end"] = load()
        if args.keep:
            console.print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results.table(console)
    path = results.write(args.out)
    failed = [r for r in results.rows if r.passed is False]
    console.print(f"total {results.info['total_seconds']:.0f}s; results in {path} and {args.out / 'latest.json'}; "
                  f"{len(failed)} target(s) missed" + (": " + "; ".join(f"{r.section} {r.metric}" for r in failed)
                                                       if failed else ""))
    return _exit_status(results, console)


def _exit_status(results: Results, console: Console) -> int:
    """0, or 1 when a section could not run to the end: a target missed is a figure, a section that
    failed has none, so the run is not a success (the other sections still ran and are printed)."""
    errors = [name for name, section in results.sections.items() if "error" in section]
    if not errors:
        return 0
    console.print(f"[red]bench: {len(errors)} section(s) did not run to the end: {', '.join(errors)} "
                  "(the error is printed where it happened and kept in the results file)[/]")
    return 1


def _run_sections(only: list[str], world: World | None, results: Results, size: dict[str, int], workdir: Path,
                  console: Console, args: argparse.Namespace) -> None:
    broken = False
    for section in only:
        if broken and section == "index":
            console.print("[red]bench: index skipped: the ingest before it did not finish[/]")
            continue
        t = time.perf_counter()
        console.print(f"[bold]{section}[/] (load average {load()}) ...")
        try:
            _run_section(section, world, results, size, workdir, args, console)
        except Exception as exc:  # noqa: BLE001 - a node that gave up (or a baseline that stalled): one line, the rest runs
            console.print(f"[red]bench: error in {section}: {exc}[/]")
            results.sections.setdefault(section, {})["error"] = str(exc)
            broken = broken or section == "ingest"
        results.sections.setdefault(section, {}).update({"seconds": time.perf_counter() - t, "load_at_end": load()})


def _run_section(section: str, world: World | None, results: Results, size: dict[str, int], workdir: Path,
                 args: argparse.Namespace, console: Console) -> None:
    if section == "query":
        query.run(results, workdir, loans=args.query_loans or size["query_loans"], borrowers=size["query_borrowers"],
                  engines=tuple(e.strip() for e in args.query_engines.split(",") if e.strip()))
    elif section == "network":
        network_bench.run(results, quick=args.quick, say=console.print)
    elif section == "api":
        prebuilt = os.environ.get("XBORDER_BENCH_API_INDEX_URL")  # an index built before, to re-measure
        if prebuilt:
            api.measure(results, prebuilt, loans=size["query_loans"], seconds=size["api_seconds"])
        else:
            api.run(results, loans=size["query_loans"], seconds=size["api_seconds"])
    else:
        assert world is not None
        if section == "gas":
            gas.run(world, results)
        elif section == "ingest":
            ingest.run(world, results, loans=size["loans"], plain=size["plain"])
        elif section == "index":
            index.run(world, results)


if __name__ == "__main__":
    sys.exit(main())
