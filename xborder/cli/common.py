"""What several command groups share: the client of the settings' chain, funder and keystore
helpers, the problem table, and the loan import's wallet names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from rich.markup import escape
from rich.table import Table
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.bindings.consent import WalletProof
from xborder.chain.connect import connect
from xborder.chain.embedded import resolve_rpc_url
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.cli.context import App
from xborder.cli.signing import load_signer
from xborder.errors import ValidationError, WalletError
from xborder.services import funding, onboarding
from xborder.services.onboarding import Problem
from xborder.wallets.demo import DemoWallets
from xborder.wallets.keystore import Keystore
from xborder.wallets.passwords import PasswordSource

F = TypeVar("F", bound=Callable[..., Any])


def open_w3(app: App) -> Web3:
    """A Web3 for the settings' node (the embedded chain by default), its chain id checked."""
    return connect(resolve_rpc_url(app.settings), app.settings.chain_id)


def open_client(app: App) -> XborderClient:
    """Connect to the node of the settings and load this chain's deployment."""
    return XborderClient.load(open_w3(app), app.settings.deployments)


def allow_plaintext_option(func: F) -> F:
    return click.option(
        "--allow-plaintext", is_flag=True,
        help="if a party or the regulator has no encryption key, publish the terms in clear instead of "
             "refusing (every member of the chain can then read them)")(func)


def funder_option(func: F) -> F:
    return click.option("--funder", default=None, metavar="NAME",
                        help="keystore wallet paying the gas money [default on a local dev chain: its "
                             "DEV-ONLY pre-funded account]")(func)


def choose_funder(app: App, w3: Web3, funder_name: str | None, source: PasswordSource) -> LocalAccount:
    account = load_signer(app, funder_name, source) if funder_name else None
    return funding.choose_funder(w3, account)


def keystore_of(app: App) -> Keystore:
    return Keystore(app.settings.keystores)


def keystore_prover(app: App, client: XborderClient, source: PasswordSource) -> onboarding.Prover:
    """Signs a roster entry's admin proof with its keystore wallet; for an address, only a
    development account on a dev chain signs (`dev_signer`), else None: the roster must carry it."""

    def prove(entry: onboarding.Entry) -> WalletProof | None:
        if entry.admin_given.lower().startswith("0x"):
            account = onboarding.dev_signer(client, entry.admin)
        else:
            account = load_signer(app, entry.admin_given, source)
        return None if account is None else onboarding.prove_wallet(client, account, entry.identifier)

    return prove


def wallet_and_proof(app: App, client: XborderClient, institution_id: int, value: str, proof: WalletProof | None,
                     source: PasswordSource, field: str = "WALLET") -> tuple[str, WalletProof | None]:
    """A wallet to bind (keystore name or address) and its proof: given (--proof), or signed now by
    the keystore wallet (or a development account on a dev chain); otherwise None (the contract
    needs a proof unless the wallet already is the institution's)."""
    address = onboarding.resolve_wallet(value, keystore_of(app), field=field)
    if proof is not None:
        return address, proof
    wallet = onboarding.dev_signer(client, address) if value.strip().lower().startswith("0x") else \
        load_signer(app, value.strip(), source)
    return address, None if wallet is None else client.wallet_proof(wallet, client.identifier(institution_id))


def parse_target(app: App, value: str) -> str:
    """A wallet name or address (for `wallet fund`)."""
    if Web3.is_address(value) or value.lower().startswith("0x"):
        return onboarding.parse_address(value, "WALLET")
    try:
        return keystore_of(app).address(value)
    except Exception as exc:
        raise ValidationError(f"WALLET: {exc}", field="WALLET", value=value,
                              allowed="a keystore wallet name or an address") from None


def report_problems(app: App, problems: list[Problem], title: str) -> None:
    """All problems: a table on a terminal, tab-separated lines otherwise (grep-able)."""
    if app.json_output:
        app.emit({"ok": False, "problems": [p.__dict__ for p in problems]})
    if app.err.is_terminal:
        table = Table(title=title, show_lines=False, title_justify="left")
        for column in ("where", "field", "value", "problem", "allowed"):
            table.add_column(column, overflow="fold")
        for p in problems:
            table.add_row(escape(p.where), escape(p.field), escape(p.value), escape(p.message), escape(p.allowed))
        app.err.print(table)
    else:
        click.echo(title, err=True)
        for p in problems:
            click.echo(f"{p.where}\t{p.field}\t{p.value}\t{p.message}\tallowed: {p.allowed}", err=True)


DEV_CHAIN_IDS = funding.DEV_CHAIN_IDS


def wallet_resolver(app: App, source: PasswordSource, demo_seed: str | None,
                    chain_id: int) -> Callable[[str], LocalAccount]:
    """demo-N -> the DEMO-ONLY derived wallet N; dev-N -> account N of the public development
    mnemonic (local dev chains only); anything else -> the keystore wallet of that name."""
    demo: list[DemoWallets] = []
    dev: list[DemoWallets] = []

    def resolve(name: str) -> LocalAccount:
        if name.startswith("demo-") and name[5:].isdigit():
            if not demo:
                demo.append(DemoWallets.from_seed(demo_seed) if demo_seed else DemoWallets())
            return demo[0].account(int(name[5:]))
        if name.startswith("dev-") and name[4:].isdigit():
            if chain_id not in DEV_CHAIN_IDS:
                raise WalletError(f"wallet {name!r}: dev-N wallets (public development mnemonic) only work on a "
                                  f"local dev chain (chain id 31337 or 1337), not on chain {chain_id}")
            if not dev:
                dev.append(DemoWallets(mnemonic=DEV_MNEMONIC, name_prefix="dev-"))
            return dev[0].account(int(name[4:]))
        if not name:
            raise WalletError("no wallet named")
        return load_signer(app, name, source)

    return resolve
