"""`xborder index run|follow|status|reproject`: fill and inspect the regulator's index database.

Chain checks (exit 4): `run` and `follow` need the node (`--rpc-url`, else the embedded chain) and
refuse a node whose chain id differs from `--chain-id`, or whose chain (id, genesis) or deployment
differs from the one the database was built from. `status` reads the database and, when a node is
named (or the embedded chain runs), compares with it; an explicit `--rpc-url` must answer.
`reproject` rebuilds the projected tables from the raw logs and needs no node.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from xborder.chain.embedded import resolve_rpc_url
from xborder.cli.context import App, common_options
from xborder.cli.signing import keys_wallet_options
from xborder.config import Settings
from xborder.errors import ChainError
from xborder.index import IndexStats, index_events, index_status_of, reproject_index
from xborder.index.db import redact
from xborder.index.identity import check_expected_chain, check_node, node_identity, stored_identity
from xborder.index.rpc import RpcClient
from xborder.index.service import indexer_web3, open_index
from xborder.interrupts import unwind_on_stop_signals
from xborder.wallets.encryption import KeyRing


def _with_node(app: App, confirmations: int | None) -> Settings:
    settings = replace(app.settings, rpc_url=resolve_rpc_url(app.settings, autostart=False))
    return replace(settings, confirmations=confirmations) if confirmations is not None else settings


def _stats(stats: IndexStats) -> dict[str, Any]:
    data = asdict(stats)
    data["events_per_second"] = round(stats.events_per_second, 1)
    return data


def progress_fraction(stats: IndexStats) -> tuple[int, int]:
    """(completed, total) blocks of a run for a progress bar: from the checkpoint the run started
    at to the block it indexes to; never more completed than total, never negative."""
    start = stats.start_block
    total = max(1, stats.target - start)
    return min(total, max(0, stats.checkpoint - start)), total


confirmations_option = click.option(
    "--confirmations", type=click.IntRange(min=0), default=None,
    help="blocks to wait before a block counts as final [default: XBORDER_CONFIRMATIONS or 0]")


@click.group("index")
def index() -> None:
    """Index the contracts' logs into the regulator's database (SQLite or PostgreSQL)."""


@index.command("run")
@confirmations_option
@click.option("--to-block", type=click.IntRange(min=0), default=None, help="stop at this block [default: the head]")
@click.option("--batch-blocks", type=click.IntRange(min=1), default=2_000, show_default=True,
              help="blocks per eth_getLogs batch to start with (adapts to the node's limits)")
@common_options
@keys_wallet_options
def run(app: App, confirmations: int | None, to_block: int | None, batch_blocks: int, ring: KeyRing | None) -> None:
    """Backfill the index up to the head (minus confirmations), then exit. With --keys-wallet the
    confidential terms that key ring can open go to `loan_terms` (tampered ones are flagged)."""
    settings = _with_node(app, confirmations)
    app.note(f"indexing {settings.rpc_url} into {redact(settings.index_url)}")
    with Progress(TextColumn("[bold]indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("blocks"),
                  TextColumn("{task.fields[logs]:,} logs"), TimeElapsedColumn(),
                  console=app.err, transient=app.json_output) as progress:
        task = progress.add_task("index", total=None, logs=0)

        def on_batch(stats: IndexStats) -> None:
            completed, total = progress_fraction(stats)
            progress.update(task, total=total, completed=completed, logs=stats.logs)

        stats = index_events(settings, to_block=to_block, batch_blocks=batch_blocks, on_batch=on_batch,
                             decryption_keys=ring)
        completed, total = progress_fraction(stats)
        progress.update(task, total=total, completed=completed, logs=stats.logs)
    data = _stats(stats)
    app.emit(data, lambda: app.console.print(
        f"indexed to block {stats.checkpoint} (head {stats.head}): {stats.logs} logs ({stats.events} decoded) in "
        f"{stats.batches} batches, {stats.seconds:.1f} s" + (f", {stats.reorgs} reorgs handled" if stats.reorgs else "")))


@index.command("follow")
@confirmations_option
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="seconds between polls of the head")
@common_options
@keys_wallet_options
def follow(app: App, confirmations: int | None, poll_interval: float, ring: KeyRing | None) -> None:
    """Keep the index following the head (Ctrl-C stops it cleanly; every batch commits whole)."""
    settings = _with_node(app, confirmations)
    app.note(f"following {settings.rpc_url} into {redact(settings.index_url)} "
             f"({settings.confirmations} confirmations); Ctrl-C to stop")
    stop = threading.Event()
    seen = {"checkpoint": -1}

    def on_batch(stats: IndexStats) -> None:
        if stats.checkpoint != seen["checkpoint"]:
            seen["checkpoint"] = stats.checkpoint
            app.note(f"block {stats.checkpoint} (head {stats.head}): {stats.logs} logs so far"
                     + (f", {stats.reorgs} reorgs" if stats.reorgs else ""))

    # Ctrl-C and `kill` (SIGTERM: docker stop) stop it cleanly, even when it was started with SIGINT
    # ignored (a background job of a shell without job control: the whole-suite test runs) or blocked.
    try:
        with unwind_on_stop_signals():
            stats = index_events(settings, follow=True, poll_interval=poll_interval, stop=stop,
                                 on_batch=on_batch, decryption_keys=ring)
    except KeyboardInterrupt:
        stop.set()
        app.note("stopped")
        return
    app.emit(_stats(stats), lambda: app.console.print(f"stopped at block {stats.checkpoint}"))


def _compare_with_node(app: App, data: dict[str, Any]) -> None:
    """Head and lag from the node; the node must be the database's chain. An explicit --rpc-url
    must answer (exit 4); the embedded chain is compared only when it runs and is that chain."""
    explicit = app.settings.rpc_url is not None
    try:
        rpc_url = resolve_rpc_url(app.settings, autostart=False)
    except ChainError as exc:
        app.note(f"[dim]no node to compare with: {exc}[/dim]")
        return
    db = open_index(app.settings)
    try:
        stored = stored_identity(db)
        rpc = RpcClient(indexer_web3(rpc_url, timeout=5.0)).bounded(3 if explicit else 1)
        try:
            node = node_identity(rpc, stored.first_block if stored else 0)
            head = rpc.block_number()
            check_node(db, node, expected_chain_id=app.settings.chain_id, rpc_url=rpc_url)
        except ChainError as exc:
            if explicit:
                raise
            app.note(f"[dim]not compared with the embedded chain at {rpc_url}: {exc}[/dim]")
            return
    finally:
        db.close()
    data.update(rpc_url=rpc_url, head=head, lag=head - data["checkpoint"] if data["checkpoint"] is not None else None)


@index.command("status")
@common_options
def status(app: App) -> None:
    """Checkpoint, chain, row and log counts and (with a node) how far the index lags behind the head."""
    db = open_index(app.settings)
    try:
        check_expected_chain(db, app.settings.chain_id)
    finally:
        db.close()
    st = index_status_of(app.settings)
    data: dict[str, Any] = {
        "database": redact(app.settings.index_url), "chain_id": st.chain_id, "genesis_hash": st.genesis_hash,
        "checkpoint": st.checkpoint, "checkpoint_hash": st.checkpoint_hash, "schema_version": st.schema_version,
        "counts": st.counts, "log_counts": st.log_counts, "deferred_indexes": st.deferred_indexes,
        "contracts": [{"name": n, "address": a, "start_block": b} for n, a, b in st.contracts],
        "rpc_url": None, "head": None, "lag": None}
    _compare_with_node(app, data)

    def human() -> None:
        c = app.console
        if st.checkpoint is None:
            c.print(f"index {data['database']}: empty (run `xborder index run`)")
            return
        lag = f", head {data['head']}, lag {data['lag']} blocks" if data["head"] is not None else ""
        c.print(f"index {data['database']}: chain {st.chain_id}, block {st.checkpoint}{lag}")
        c.print("  " + ", ".join(f"{k} {v:,}" for k, v in st.counts.items()))
        if st.deferred_indexes:
            c.print(f"  backfill not caught up yet: {len(st.deferred_indexes)} secondary indexes are built when it "
                    "has (`xborder index run`); until then reports read the tables without them (slower)")
        for name, address, start in st.contracts:
            logs = st.log_counts.get(name, {})
            c.print(f"  {name:<22} {address}  from block {start}: {sum(logs.values()):,} logs")
            if logs:
                c.print("    " + ", ".join(f"{e} {n:,}" for e, n in sorted(logs.items())))

    app.emit(data, human)


@index.command("reproject")
@common_options
@keys_wallet_options
def reproject(app: App, ring: KeyRing | None) -> None:
    """Rebuild every projected table (loans, events, institutions, summaries ...) from the raw log
    table alone, in one transaction; needs no node. With --keys-wallet the readable terms too."""
    db = open_index(app.settings)
    try:
        check_expected_chain(db, app.settings.chain_id)
    finally:
        db.close()
    if app.settings.rpc_url:
        app.note("[dim]index reproject reads only the index database: the node is not contacted[/dim]")
    with Progress(TextColumn("[bold]reprojecting"), TextColumn("{task.completed:,} logs"), TimeElapsedColumn(),
                  console=app.err, transient=app.json_output) as progress:
        task = progress.add_task("reproject", total=None)
        logs = reproject_index(app.settings, decryption_keys=ring,
                               on_progress=lambda n: progress.update(task, completed=n))
    app.emit({"logs": logs}, lambda: app.console.print(f"reprojected {logs:,} raw logs into {redact(app.settings.index_url)}"))
