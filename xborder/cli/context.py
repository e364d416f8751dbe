"""What every command gets: settings, output mode, and lazily opened chain/deployment."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console

from xborder.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    settings: Settings
    json_output: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=False, highlight=False, soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True))

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """JSON on stdout (and nothing else there) with --json, else the human rendering."""
        if self.json_output:
            sys.stdout.write(json.dumps(data, default=_json_default, indent=2) + "\n")
        elif human is not None:
            human()
        else:
            self.console.print_json(json.dumps(data, default=_json_default))

    def note(self, message: str) -> None:
        """Progress and hints: stderr, so stdout stays machine-readable."""
        self.err.print(message)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def common_options(func: F) -> F:
    """--rpc-url, --chain-id and --json on every command (also accepted before the verb)."""

    @click.option("--rpc-url", envvar="XBORDER_RPC_URL", default=None,
                  help="JSON-RPC URL of the node [default: the embedded local chain]")
    @click.option("--chain-id", type=int, default=None, help="refuse a node serving another chain id")
    @click.option("--json", "json_output", is_flag=True, default=False,
                  help="machine-readable output on stdout")
    @click.pass_context  # type: ignore[arg-type]
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args: Any, rpc_url: str | None, chain_id: int | None,
                json_output: bool, **kwargs: Any) -> Any:
        app: App = ctx.obj
        overrides: dict[str, Any] = {}
        if rpc_url:
            overrides["rpc_url"] = rpc_url
        if chain_id is not None:
            overrides["chain_id"] = chain_id
        if overrides:
            app.settings = replace(app.settings, **overrides)
        if json_output:
            app.json_output = True
        return func(app, *args, **kwargs)

    return cast(F, wrapper)
