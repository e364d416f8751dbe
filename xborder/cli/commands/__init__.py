"""Command groups, each a thin face over one service."""

from __future__ import annotations

import click

from xborder.cli.commands.api import api, serve
from xborder.cli.commands.chain import chain
from xborder.cli.commands.deploy import deploy
from xborder.cli.commands.index import index
from xborder.cli.commands.institution import institution
from xborder.cli.commands.loan import loan
from xborder.cli.commands.policy import policy
from xborder.cli.commands.report import report
from xborder.cli.commands.wallet import wallet

ALL: list[click.Command] = [chain, wallet, deploy]
ALL += [institution, policy]
ALL += [index, report, serve, api]
ALL += [loan]

from xborder.cli.commands.demo import demo  # noqa: E402

ALL += [demo]

from xborder.cli.commands.network import network  # noqa: E402

ALL += [network]
