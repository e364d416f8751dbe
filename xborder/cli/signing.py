"""How a command gets the acting institution's wallet: `--wallet NAME` from the keystore folder,
its password from `--password-file`, `--password-env` or an interactive prompt (never from a
command-line value)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from eth_account.signers.local import LocalAccount

from xborder.cli.context import App
from xborder.wallets.encryption import KeyRing, KeyRingStore
from xborder.wallets.keystore import Keystore
from xborder.wallets.passwords import PasswordSource

F = TypeVar("F", bound=Callable[..., Any])


def password_options(func: F) -> F:
    func = click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="read the wallet password from this file")(func)
    func = click.option("--password-env", default=None, metavar="VAR",
                        help="read the wallet password from this environment variable "
                             "[default: XBORDER_PASSWORD_<WALLET>, then XBORDER_PASSWORD, then a prompt]")(func)
    return func


def password_source(password_file: Path | None, password_env: str | None) -> PasswordSource:
    use_env = any(key == "XBORDER_PASSWORD" or key.startswith("XBORDER_PASSWORD_") for key in os.environ)
    return PasswordSource.from_options(password_file=password_file, password_env=password_env,
                                       use_env=use_env)


Signer = Callable[[], LocalAccount]


def signer_options(func: F) -> F:
    """--wallet NAME (+ password options); the command receives `sign()`, which unlocks the wallet
    only when called, i.e. after the input has been validated."""

    @click.option("--wallet", "wallet_name", required=True, metavar="NAME",
                  help="keystore wallet that signs (the regulator's, or the institution admin's)")
    @password_options
    @functools.wraps(func)
    def wrapper(app: App, *args: Any, wallet_name: str, password_file: Path | None,
                password_env: str | None, **kwargs: Any) -> Any:
        cache: list[LocalAccount] = []

        def sign() -> LocalAccount:
            if not cache:
                cache.append(load_signer(app, wallet_name, password_source(password_file, password_env)))
            return cache[0]

        return func(app, *args, sign=sign, **kwargs)

    return cast(F, wrapper)


def load_signer(app: App, wallet_name: str, source: PasswordSource) -> LocalAccount:
    keystore = Keystore(app.settings.keystores)
    keystore.info(wallet_name)  # fails fast, before prompting, if the wallet does not exist
    return keystore.load(wallet_name, source.resolve(wallet_name))


def load_ring(app: App, ring_name: str, source: PasswordSource) -> KeyRing:
    """The encryption key ring of wallet `ring_name` (same password source as the wallet)."""
    store = KeyRingStore(app.settings.keystores)
    if not store.exists(ring_name):
        store.load(ring_name, "")  # raises the "no key ring ... set-key" error before any prompt
    return store.load(ring_name, source.resolve(ring_name))


def keys_wallet_options(func: F) -> F:
    """--keys-wallet NAME (+ password options): the command receives `ring: KeyRing | None`."""

    @click.option("--keys-wallet", "keys_wallet", default=None, metavar="NAME",
                  help="decrypt confidential terms with the encryption key ring of this wallet "
                       "(made by `xborder institution set-key`; same password source as the wallet)")
    @password_options
    @functools.wraps(func)
    def wrapper(app: App, *args: Any, keys_wallet: str | None, password_file: Path | None,
                password_env: str | None, **kwargs: Any) -> Any:
        ring = load_ring(app, keys_wallet, password_source(password_file, password_env)) if keys_wallet else None
        return func(app, *args, ring=ring, **kwargs)

    return cast(F, wrapper)
