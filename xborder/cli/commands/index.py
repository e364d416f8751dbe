"""`xborder index run|follow|status`: fill and inspect the regulator's index database."""

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
from xborder.index import IndexStats, index_events, index_status_of
from xborder.index.db import redact
from xborder.index.service import indexer_web3
from xborder.wallets.encryption import KeyRing


def _with_node(app: App, confirmations: int | None) -> Settings:
    settings = replace(app.settings, rpc_url=resolve_rpc_url(app.settings, autostart=False))
    return replace(settings, confirmations=confirmations) if confirmations is not None else settings


def _stats(stats: IndexStats) -> dict[str, Any]:
    data = asdict(stats)
    data["events_per_second"] = round(stats.events_per_second, 1)
    return data


confirmations_option = click.option(
    "--confirmations", type=click.IntRange(min=0), default=None,
    help="blocks to wait before a block counts as final [default: XBORDER_CONFIRMATIONS or 0]")


@click.group("index")
def index() -> None:
    """Index the contracts' events into the regulator's database (SQLite or PostgreSQL)."""


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
                  TextColumn("{task.fields[events]} events"), TimeElapsedColumn(),
                  console=app.err, transient=app.json_output) as progress:
        task = progress.add_task("index", total=None, events=0)
        first: list[int] = []

        def on_batch(stats: IndexStats) -> None:
            if not first:
                first.append(stats.checkpoint - stats.blocks)
            start = first[0]
            target = to_block if to_block is not None else stats.head - settings.confirmations
            progress.update(task, total=max(1, target - start), completed=max(0, stats.checkpoint - start),
                            events=stats.events)

        stats = index_events(settings, to_block=to_block, batch_blocks=batch_blocks, on_batch=on_batch,
                             decryption_keys=ring)
        progress.update(task, total=progress.tasks[0].total or 1, completed=progress.tasks[0].total or 1)
    data = _stats(stats)
    app.emit(data, lambda: app.console.print(
        f"indexed to block {stats.checkpoint} (head {stats.head}): {stats.events} events in {stats.batches} "
        f"batches, {stats.seconds:.1f} s" + (f", {stats.reorgs} reorgs handled" if stats.reorgs else "")))


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
            app.note(f"block {stats.checkpoint} (head {stats.head}): {stats.events} events so far"
                     + (f", {stats.reorgs} reorgs" if stats.reorgs else ""))

    try:
        stats = index_events(settings, follow=True, poll_interval=poll_interval, stop=stop, on_batch=on_batch,
                             decryption_keys=ring)
    except KeyboardInterrupt:
        stop.set()
        app.note("stopped")
        return
    app.emit(_stats(stats), lambda: app.console.print(f"stopped at block {stats.checkpoint}"))


@index.command("status")
@common_options
def status(app: App) -> None:
    """Checkpoint, row counts and (with a node) how far the index lags behind the head."""
    st = index_status_of(app.settings)
    data: dict[str, Any] = {
        "database": redact(app.settings.index_url), "chain_id": st.chain_id, "checkpoint": st.checkpoint,
        "checkpoint_hash": st.checkpoint_hash, "schema_version": st.schema_version, "counts": st.counts,
        "contracts": [{"name": n, "address": a, "start_block": b} for n, a, b in st.contracts],
        "head": None, "lag": None}
    try:
        rpc_url = resolve_rpc_url(app.settings, autostart=False)
        head = int(indexer_web3(rpc_url, timeout=5.0).eth.block_number)
        data.update(head=head, lag=head - st.checkpoint if st.checkpoint is not None else None)
    except (ChainError, OSError, ValueError) as exc:
        app.note(f"[dim]no node to compare with: {exc}[/dim]")
    except Exception as exc:  # requests' errors: a down node must not break the status
        app.note(f"[dim]node unreachable: {type(exc).__name__}[/dim]")

    def human() -> None:
        c = app.console
        if st.checkpoint is None:
            c.print(f"index {data['database']}: empty (run `xborder index run`)")
            return
        lag = f", head {data['head']}, lag {data['lag']} blocks" if data["head"] is not None else ""
        c.print(f"index {data['database']}: chain {st.chain_id}, block {st.checkpoint}{lag}")
        c.print("  " + ", ".join(f"{k} {v:,}" for k, v in st.counts.items()))
        for name, address, start in st.contracts:
            c.print(f"  {name:<22} {address}  from block {start}")

    app.emit(data, human)
