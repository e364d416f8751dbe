"""Command groups whose verbs live in more than one module of `xborder.cli.commands` (the command
modules do not import each other: they share the group object from here)."""

from __future__ import annotations

import click


@click.group("loan")
def loan() -> None:
    """Record cross-border loans and follow them through consent, drawdown, repayment and closing."""
