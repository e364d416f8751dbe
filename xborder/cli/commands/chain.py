"""`xborder chain start|stop|status`: the embedded local anvil."""

from __future__ import annotations

import click

from xborder.chain import embedded
from xborder.chain.connect import connect
from xborder.cli.context import App, common_options


@click.group("chain")
def chain() -> None:
    """Start, stop or inspect the embedded local chain (anvil, state kept in the data folder)."""


@chain.command("start")
@click.option("--port", type=int, default=None, help="port to listen on [default: a free one]")
@common_options
def start(app: App, port: int | None) -> None:
    """Start the embedded chain (no-op if it already runs)."""
    status = embedded.start(app.settings, port=port)
    app.emit(embedded.describe(status), lambda: app.console.print(
        f"embedded chain running at {status.rpc_url} (pid {status.pid}, chain id {status.chain_id}, "
        f"block {status.block_number}); state in {status.state_path}"))


@chain.command("stop")
@common_options
def stop(app: App) -> None:
    """Stop the embedded chain; its state is saved and reloaded by the next start."""
    was_running = embedded.stop(app.settings)
    app.emit({"stopped": was_running}, lambda: app.console.print(
        "embedded chain stopped" if was_running else "embedded chain was not running"))


@chain.command("status")
@common_options
def status(app: App) -> None:
    """Show the chain every command talks to."""
    if app.settings.rpc_url:
        w3 = connect(app.settings.rpc_url, app.settings.chain_id)
        data = {"running": True, "rpc_url": app.settings.rpc_url, "chain_id": w3.eth.chain_id,
                "block_number": w3.eth.block_number, "embedded": False}
    else:
        data = {**embedded.describe(embedded.status(app.settings)), "embedded": True}
    app.emit(data, lambda: app.console.print(
        ("running" if data["running"] else "not running")
        + (f" at {data['rpc_url']}, chain id {data['chain_id']}, block {data['block_number']}"
           if data["running"] else " (start it with `xborder chain start`)")))
