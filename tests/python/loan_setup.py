"""A deployed ledger with a small cast of institutions and FX rates, for the loan tests.

Institutions are registered directly through `XborderClient.transact` (not the onboarding
service) so the loan tests depend only on the contracts and the bindings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.config import PROJECT_ROOT
from xborder.services.deploy import deploy
from xborder.services.loans import LoanService

Account.enable_unaudited_hdwallet_features()

# name, kind, identifier (USCC), capital base in CNY minor units
CAST = [
    ("BANK-A", 0, "91010000MA0000000T", 1_000_000_000_00),       # 1  domestic bank
    ("BANK-B", 1, "91020000MA0000000Y", 500_000_000_00),         # 2  foreign bank branch
    ("BORROWER-X", 3, "91030000MA00000003", 100_000_000_00),     # 3  enterprise: limit 350,000,000.00
    ("BORROWER-Y", 3, "91040000MA00000007", 20_000_000_00),      # 4  enterprise: limit 70,000,000.00
    ("HK-CREDITOR", 4, "91050000MA0000000B", 0),                 # 5  foreign creditor
    ("SUSPENDED-E", 3, "91060000MA0000000F", 50_000_000_00),     # 6  enterprise, suspended
    ("OBSERVER", 5, "91070000MA0000000K", 0),                    # 7  observer
]
RATES = {"USD": 710_000_000, "EUR": 780_000_000, "JPY": 4_700_000}
BANK_A, BANK_B, BORROWER_X, BORROWER_Y, HK_CREDITOR, SUSPENDED_E, OBSERVER = range(1, 8)


def dev_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass
class World:
    client: XborderClient
    service: LoanService
    regulator: LocalAccount
    wallets: dict[int, LocalAccount]  # institution id -> admin wallet
    outsider: LocalAccount  # funded, belongs to no institution
    extra_x: LocalAccount  # a second wallet of BORROWER-X

    @property
    def w3(self) -> Web3:
        return self.client.w3


def build_world(rpc_url: str, deployments_dir: Path) -> World:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    accounts = [dev_account(i) for i in range(10)]
    regulator = accounts[0]
    deploy(w3, regulator, regulator.address, deployments_dir, PROJECT_ROOT)
    client = XborderClient.load(w3, deployments_dir)
    wallets: dict[int, LocalAccount] = {}
    for i, (name, kind, ident, capital) in enumerate(CAST, start=1):
        admin, identifier = accounts[i], ident.encode().ljust(20, b"\0")
        client.transact(regulator, client.registry.functions.registerInstitution(
            kind, identifier, b"CN" if kind != 4 else b"HK", capital, name, admin.address,
            client.wallet_proof(admin, identifier).as_abi()), f"register {name}")
        wallets[i] = admin
    extra_x = accounts[9]
    client.transact(wallets[BORROWER_X], client.registry.functions.addWallet(
        BORROWER_X, extra_x.address, client.wallet_proof(extra_x, client.identifier(BORROWER_X)).as_abi()),
        "add wallet")
    client.transact(regulator, client.policy.functions.setReferenceRates(
        [c.encode() for c in RATES], list(RATES.values())), "set rates")
    client.transact(regulator, client.registry.functions.suspendInstitution(SUSPENDED_E), "suspend")
    return World(client, LoanService(client), regulator, wallets, accounts[8], extra_x)
