"""One view of "the chain" for tests that must pass on a dev node and on the 4-node network.

`Chain.urls[k]` is node k+1's JSON-RPC URL: four different geth nodes on the network, the same
URL four times on anvil or Ganache. `settle(block)` waits until every node holds `block` with the
same hash (a no-op on a single node), so a read from node 4 sees what node 1 just mined.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.chain.connect import connect
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.chain.network import Network, init_network, running_network
from xborder.config import PROJECT_ROOT

Account.enable_unaudited_hdwallet_features()
NETWORK_CHAIN_ID = 20190
NETWORK_NODES = 4


def dev_account(index: int) -> LocalAccount:
    """DEV-ONLY accounts of the public mnemonic: funded by anvil, Ganache and the test network's genesis."""
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass
class Chain:
    name: str
    urls: list[str]
    network: Network | None = None

    def w3(self, node: int) -> Web3:
        """Web3 of node `node` (1-based)."""
        return connect(self.urls[node - 1], timeout=60)

    def settle(self, block: int, timeout: float = 120.0) -> None:
        if self.network is not None:
            self.network.wait_synced(min_block=block, timeout=timeout)

    def common_block(self) -> int:
        """A block number every node holds with the same hash."""
        if self.network is not None:
            return self.network.wait_synced()[0]
        return int(self.w3(1).eth.block_number)


@contextmanager
def geth_network(root: Path, *, nodes: int = NETWORK_NODES, period: int = 1, free_gas: bool = False,
                 funded: int = 10) -> Iterator[Network]:
    """A fresh N-node clique network owned by the caller; dev accounts 0..funded-1 get 10^6 ETH."""
    init_network(root, nodes=nodes, project_root=PROJECT_ROOT, period=period, free_gas=free_gas,
                 chain_id=NETWORK_CHAIN_ID, alloc={dev_account(i).address: 10**24 for i in range(funded)})
    with running_network(root, PROJECT_ROOT) as network:
        network.wait_synced(min_block=1, timeout=120)
        yield network
