"""Brownie face of the indexer: `brownie run scripts/index_events.py [--network NAME]`.

Indexes the deployment of the connected chain (manifest `deployments/<chain-id>.json`) into the
index database of the settings (`XBORDER_DATABASE_URL`, default SQLite in `.xborder/index.db`).
`XBORDER_INDEX_FOLLOW=1` keeps following the head (Ctrl-C stops). All logic is in
xborder.index.service.index_events, which the CLI's `xborder index run` calls too.
"""

import os

from brownie import web3

from xborder.config import Settings
from xborder.index.service import index_events, indexer_web3


def main():
    url = web3.provider.endpoint_uri
    settings = Settings.from_env(rpc_url=url)
    follow = os.environ.get("XBORDER_INDEX_FOLLOW", "") not in ("", "0", "false")
    try:
        stats = index_events(settings, w3=indexer_web3(url), follow=follow)
    except KeyboardInterrupt:
        print("stopped")
        return
    print(f"indexed {stats.events} events in {stats.batches} batches up to block {stats.checkpoint} "
          f"({stats.events_per_second:,.0f} events/s, {stats.reorgs} reorgs, RPC failures retried: "
          f"{stats.failures or 'none'}) into {settings.index_url}")
