"""`brownie run scripts/deploy.py [--network NAME]`: the same deploy as `xborder deploy`.

Same library code (xborder.services.deploy: compile with py-solc-x, deploy in order, wire,
resumable manifest `deployments/<chain-id>.json`), through Brownie's connection. The signer:
- on a local development chain: Brownie's `accounts[0]`, whose key is derived from the public
  development mnemonic (DEV-ONLY);
- elsewhere: the Brownie account named by DEPLOYER_ACCOUNT (`brownie accounts new NAME`), unlocked
  with its password (prompt).
REGULATOR (an address) receives the regulator roles; default: the deployer.
"""

from __future__ import annotations

import os

from brownie import accounts, network, web3
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.chain.launcher import DEV_MNEMONIC
from xborder.config import Settings
from xborder.services.deploy import deploy
from xborder.services.funding import DEV_CHAIN_IDS


def brownie_signer(env_var: str) -> LocalAccount:
    """The LocalAccount the script signs with (see the module docstring)."""
    name = os.environ.get(env_var)
    if name:
        account = accounts.load(name)  # asks for the password
        return Account.from_key(account.private_key)
    if web3.eth.chain_id not in DEV_CHAIN_IDS:
        raise SystemExit(f"chain {web3.eth.chain_id} is not a local dev chain: set {env_var} to a Brownie account name")
    Account.enable_unaudited_hdwallet_features()
    wanted = accounts[0].address
    for mnemonic in (DEV_MNEMONIC, "brownie"):
        for index in range(10):
            candidate: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
            if candidate.address == wanted:
                return candidate
    raise SystemExit(f"cannot derive the key of {wanted} (accounts[0]): set {env_var} to a Brownie account name")


def plain_web3() -> Web3:
    """A plain Web3 on Brownie's provider: Brownie's own Web3 sets a gas-price strategy that adds
    `gasPrice` to EIP-1559 transactions built by the library (eth-account then refuses them)."""
    return Web3(web3.provider)


def main() -> None:
    settings = Settings.from_env()
    deployer = brownie_signer("DEPLOYER_ACCOUNT")
    regulator = Web3.to_checksum_address(os.environ.get("REGULATOR") or deployer.address)
    result = deploy(plain_web3(), deployer, regulator, settings.deployments, settings.project_root, progress=print)
    print(f"network {network.show_active()}, chain {result.deployment.chain_id}: "
          + (f"deployed {', '.join(result.deployed)}" if result.deployed else "already deployed (nothing to do)")
          + f"; manifest {result.manifest}")
