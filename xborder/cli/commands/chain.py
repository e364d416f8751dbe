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
@click.option("--timeout", type=click.FloatRange(min=1), default=embedded.STOP_TIMEOUT, show_default=True,
              help="seconds to wait for the last snapshot and the node's exit")
@click.option("--force", is_flag=True, default=False,
              help="kill the node if it has not stopped in time (what happened after its last snapshot is lost)")
@common_options
def stop(app: App, timeout: float, force: bool) -> None:
    """Stop the embedded chain; its state is saved and reloaded by the next start.

    A node stopped with SIGSTOP is continued first, so that it can save its state."""
    was_running = embedded.stop(app.settings, timeout=timeout, force=force)
    app.emit({"stopped": was_running}, lambda: app.console.print(
        "embedded chain stopped" if was_running else "embedded chain was not running"))


@chain.command("status")
@common_options
def status(app: App) -> None:
    """Show the chain every command talks to."""
    if app.settings.rpc_url:
        w3 = connect(app.settings.rpc_url, app.settings.chain_id)
        data = {"running": True, "answering": True, "rpc_url": app.settings.rpc_url,
                "chain_id": w3.eth.chain_id, "block_number": w3.eth.block_number, "embedded": False}
    else:
        data = {**embedded.describe(embedded.status(app.settings)), "embedded": True}

    def human() -> None:
        if not data["running"]:
            app.console.print("not running (start it with `xborder chain start`)")
        elif data["answering"] or not data["embedded"]:
            app.console.print(f"running at {data['rpc_url']}, chain id {data['chain_id']}, "
                              f"block {data['block_number']}")
        elif data["pid"] is None:
            app.console.print("starting (another command is starting it)")
        else:
            app.console.print(f"running (pid {data['pid']}) at {data['rpc_url']} but not answering: the "
                              "machine may be busy or the process stopped; no second node will be started "
                              "on its state (docs/embedded-chain.md)")

    app.emit(data, human)
