"""The demo on a multi-node network (`xborder demo --network N`).

The seam the demo sees is `node_of`: institution index -> the RPC URL of that institution's own
node. `start_network` starts a fresh local N-node geth (clique) network and returns it with the
settings of the regulator's node (the last one); `NodeRouter` is the player's `Route` there: each
wallet's transactions go through its institution's node, everything else (funding, the regulator)
through the regulator's node. Chain time cannot be moved on such a network, so the 2019 calendar is
compressed into the present.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from xborder.bindings.batch import Outcome, Tx
from xborder.bindings.client import XborderClient
from xborder.chain import network as net
from xborder.chain.connect import connect
from xborder.config import Settings
from xborder.services.funding import dev_funder
from xborder.services.loan_batch import LoanBatch, LoanItem, LoanOutcome
from xborder.services.replay import Bar

#: The demo's default workload (6,370 loans) needs ~60 dependent rounds of blocks; with 2 s
#: blocks on geth that is minutes of waiting, so a network demo runs a tenth unless told.
NETWORK_LOANS, NETWORK_ENTERPRISES = 640, 130
DEMO_NETWORK_PERIOD = 2
DEMO_NETWORK_GAS_LIMIT = 100_000_000
#: How long a batch waits for its node to hold the blocks earlier batches landed in.
SYNC_TIMEOUT = 120.0

NodeOf = Callable[[int], str]


def start_network(settings: Settings, nodes: int) -> tuple[Settings, NodeOf]:
    """Start (afresh, detached: it keeps running after the demo) an N-node network in
    <data-dir>/network, the demo's DEV-ONLY funding account holding the ether; the regulator uses
    the last node, institution k node k % (N-1) + 1. Returns the regulator's settings and `node_of`."""
    root = settings.data_dir / "network"
    if net.NetworkSpec.exists(root):
        net.stop_network(root)
    shutil.rmtree(root, ignore_errors=True)
    spec = net.init_network(root, nodes=nodes, project_root=settings.project_root, period=DEMO_NETWORK_PERIOD,
                            gas_limit=DEMO_NETWORK_GAS_LIMIT, alloc={dev_funder().address: 10**27})
    network = net.start_network(root, settings.project_root, detached=True)
    network.wait_synced(min_block=1)
    urls = network.urls
    for stale in (settings.data_dir / "index.db", settings.data_dir / "index.db-wal",
                  settings.data_dir / "index.db-shm", settings.deployments / f"{spec.chain_id}.json"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(settings.data_dir / "dashboard", ignore_errors=True)
    banks = urls[:-1]
    return replace(settings, rpc_url=urls[-1], chain_id=spec.chain_id), lambda index: banks[index % len(banks)]


@dataclass
class NodeRouter:
    """Each wallet in `url_of` sends through its own node; any other wallet through `client`'s
    (the regulator's). Read-your-writes across nodes: before a batch, its node waits until it holds
    the blocks the batches before it landed in, so its dry runs and nonces see them."""

    client: XborderClient
    url_of: dict[str, str]  # wallet address -> RPC URL
    names: dict[int, str] = field(default_factory=dict)
    _at: dict[str, XborderClient] = field(default_factory=dict)
    _head: int = 0  # the highest block a batch of this run has landed in

    def at(self, url: str | None) -> XborderClient:
        if url is None:
            return self.client
        if url not in self._at:
            client = XborderClient.load(connect(url, timeout=120), self.client.deployments_dir)
            client.remember_names(self.names)
            self._at[url] = client
        return self._at[url]

    def wait_for(self, client: XborderClient, block: int | None = None) -> None:
        target = block if block is not None else max(self._head, self.client.rpc.block_number())
        deadline = time.monotonic() + SYNC_TIMEOUT
        while client.rpc.block_number() < target and time.monotonic() < deadline:
            time.sleep(0.1)

    def settle(self) -> None:
        """The regulator's node holds every block this run landed in (before it indexes)."""
        self.wait_for(self.client, self._head)

    def _landed(self, client: XborderClient) -> None:
        self._head = max(self._head, client.rpc.block_number())

    def _groups(self, wallets: Sequence[str]) -> list[tuple[XborderClient, list[int]]]:
        """Positions of `wallets` grouped by node, in first-seen order."""
        out: dict[str | None, list[int]] = {}
        for i, wallet in enumerate(wallets):
            out.setdefault(self.url_of.get(wallet), []).append(i)
        return [(self.at(url), positions) for url, positions in out.items()]

    def run(self, txs: Sequence[Tx], progress: Bar | None = None) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(txs)
        for client, positions in self._groups([tx.account.address for tx in txs]):
            self.wait_for(client)
            for i, outcome in zip(positions, client.batch([txs[i] for i in positions]).run(), strict=True):
                outcomes[i] = outcome
            self._landed(client)
        if progress:
            progress(len(txs), len(txs))
        return [o for o in outcomes if o is not None]

    def loans(self, items: Sequence[LoanItem], progress: Bar) -> list[LoanOutcome]:
        outcomes: list[LoanOutcome | None] = [None] * len(items)
        done = 0
        for client, positions in self._groups([item.recorder.address for item in items]):
            self.wait_for(client)
            batch = LoanBatch(client, [items[i] for i in positions], gas_mode="sample")
            batch.preflight()

            def advance(n: int, _total: int, base: int = done) -> None:
                progress(base + n, len(items))

            report = batch.submit(advance)
            self._landed(client)
            for i, outcome in zip(positions, report.outcomes, strict=True):
                outcomes[i] = outcome
            done += len(positions)
        return [o for o in outcomes if o is not None]
