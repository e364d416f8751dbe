"""`xborder demo --network N`: a fresh local N-node network for the demo (the seam the demo sees
is `node_of`: institution index -> the RPC URL of that institution's own node)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace

import click

from xborder.chain import network as net
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.cli.context import App
from xborder.config import Settings

#: The demo's default workload (6,370 loans) needs ~60 dependent rounds of blocks; with 2 s
#: blocks on geth that is minutes of waiting, so a network demo runs a tenth unless told.
NETWORK_LOANS, NETWORK_ENTERPRISES = 640, 130
DEMO_NETWORK_PERIOD = 2
DEMO_NETWORK_GAS_LIMIT = 100_000_000


def demo_network(app: App, nodes: int, loans: int, enterprises: int) -> tuple[int, int, Settings, Callable[[int], str]]:
    """Start (afresh, detached: it keeps running after the demo) an N-node network in
    <data-dir>/network; the regulator uses the last node, institution k node k % (N-1) + 1."""
    from eth_account import Account

    ctx = click.get_current_context()
    if ctx.get_parameter_source("loans") == click.core.ParameterSource.DEFAULT:
        loans, enterprises = NETWORK_LOANS, NETWORK_ENTERPRISES
        app.note(f"network demo: a smaller workload ({loans:,} loans, {enterprises:,} enterprises) because "
                 f"{DEMO_NETWORK_PERIOD}s blocks make the full one long; pass --loans 6370 for the full one")
    root = app.settings.data_dir / "network"
    if net.NetworkSpec.exists(root):
        net.stop_network(root)
    shutil.rmtree(root, ignore_errors=True)
    Account.enable_unaudited_hdwallet_features()
    funder = Account.from_mnemonic(DEV_MNEMONIC)  # DEV-ONLY: the demo's public funding account
    app.note(f"starting a {nodes}-node geth network in {root} ...")
    spec = net.init_network(root, nodes=nodes, project_root=app.settings.project_root, period=DEMO_NETWORK_PERIOD,
                            gas_limit=DEMO_NETWORK_GAS_LIMIT, alloc={funder.address: 10**27})
    network = net.start_network(root, app.settings.project_root, detached=True)
    network.wait_synced(min_block=1)
    urls = network.urls
    for stale in (app.settings.data_dir / "index.db", app.settings.deployments / f"{spec.chain_id}.json"):
        stale.unlink(missing_ok=True)
    banks = urls[:-1]
    settings = replace(app.settings, rpc_url=urls[-1], chain_id=spec.chain_id)
    return loans, enterprises, settings, lambda index: banks[index % len(banks)]
