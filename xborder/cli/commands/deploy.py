"""`xborder deploy`: compile, deploy in order, wire, write deployments/<chain-id>.json."""

from __future__ import annotations

from pathlib import Path

import click
from eth_account import Account
from web3 import Web3

from xborder.chain.connect import connect
from xborder.chain.embedded import resolve_rpc_url
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.cli.context import App, common_options
from xborder.cli.signing import load_signer, password_options, password_source
from xborder.errors import ValidationError
from xborder.services.deploy import deploy as deploy_contracts
from xborder.wallets.keystore import Keystore

DEV_CHAIN_IDS = {31337, 1337}


@click.command("deploy")
@click.option("--wallet", "wallet_name", default=None, metavar="NAME",
              help="keystore wallet that pays for the deployment [default on a local dev chain: "
                   "its first pre-funded account]")
@click.option("--regulator", default=None, metavar="WALLET|ADDRESS",
              help="who receives the regulator, pauser and admin roles [default: the deployer]")
@password_options
@common_options
def deploy(app: App, wallet_name: str | None, regulator: str | None, password_file: Path | None,
           password_env: str | None) -> None:
    """Deploy InstitutionRegistry, MacroPrudentialPolicy and LoanLedger (once per chain)."""
    w3 = connect(resolve_rpc_url(app.settings), app.settings.chain_id)
    if wallet_name:
        deployer = load_signer(app, wallet_name, password_source(password_file, password_env))
    elif w3.eth.chain_id in DEV_CHAIN_IDS:
        Account.enable_unaudited_hdwallet_features()
        deployer = Account.from_mnemonic(DEV_MNEMONIC)
    else:
        raise ValidationError(f"chain {w3.eth.chain_id} is not a local dev chain: pass --wallet NAME",
                              field="--wallet")
    regulator_address: str
    if regulator is None:
        regulator_address = deployer.address
    elif Web3.is_address(regulator):
        regulator_address = Web3.to_checksum_address(regulator)
    else:
        regulator_address = Keystore(app.settings.keystores).address(regulator)
    result = deploy_contracts(w3, deployer, regulator_address, app.settings.deployments,
                              app.settings.project_root, progress=app.note)
    data = {"chain_id": result.deployment.chain_id, "manifest": str(result.manifest),
            "deployed": result.deployed, "regulator": result.deployment.regulator,
            "contracts": {n: {"address": c.address, "block": c.block_number}
                          for n, c in result.deployment.contracts.items()}}

    def human() -> None:
        verb = "deployed" if result.deployed else "already deployed (nothing to do)"
        app.console.print(f"xborder {verb} on chain {data['chain_id']}; manifest {result.manifest}")
        for name, c in result.deployment.contracts.items():
            app.console.print(f"  {name:<22} {c.address}  (block {c.block_number})")

    app.emit(data, human)
