"""Wallets: encrypted keystores (production), password sources, and DEMO-ONLY derived keys."""

from xborder.wallets.demo import DemoWallets, address_of, demo_mnemonic
from xborder.wallets.keystore import Keystore, WalletInfo, validate_name
from xborder.wallets.passwords import PasswordKind, PasswordSource, read_password_file, wallet_env_var

__all__ = [
    "DemoWallets", "Keystore", "PasswordKind", "PasswordSource", "WalletInfo", "address_of",
    "demo_mnemonic", "read_password_file", "validate_name", "wallet_env_var",
]
