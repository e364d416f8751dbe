"""Command groups, each a thin face over one service."""

from __future__ import annotations

import click

from xborder.cli.commands.chain import chain

ALL: list[click.Command] = [chain]
