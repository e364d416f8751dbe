"""`xborder wallet new|import|list|address|fund|prove`: encrypted keystores (Web3 Secret Storage v3) and
the wallet's proof of key possession that binding it to an institution needs."""

from __future__ import annotations

from pathlib import Path

import click

from xborder.cli.common import open_client
from xborder.cli.context import App, common_options
from xborder.cli.signing import load_signer, password_options, password_source
from xborder.errors import ValidationError
from xborder.services import onboarding
from xborder.wallets.keystore import Keystore


@click.group("wallet")
def wallet() -> None:
    """Create, import and list the encrypted keystores institutions sign with."""


def _keystore(app: App) -> Keystore:
    return Keystore(app.settings.keystores)


@wallet.command("new")
@click.argument("name")
@password_options
@common_options
def new(app: App, name: str, password_file: Path | None, password_env: str | None) -> None:
    """Create wallet NAME with a fresh key (scrypt-encrypted, file mode 0600)."""
    source = password_source(password_file, password_env)
    info = _keystore(app).new(name, source.resolve(name, confirm=True))
    app.emit({"name": info.name, "address": info.address, "path": str(info.path)},
             lambda: app.console.print(f"wallet {info.name}: {info.address} ({info.path})"))


@wallet.command("import")
@click.argument("name")
@click.option("--keystore", "keystore_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="an existing keystore file (cast, geth, another xborder)")
@click.option("--private-key-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="a file holding a hex private key (never pass a key on the command line)")
@password_options
@common_options
def import_(app: App, name: str, keystore_file: Path | None, private_key_file: Path | None,
            password_file: Path | None, password_env: str | None) -> None:
    """Import wallet NAME from a keystore file or a private-key file."""
    if (keystore_file is None) == (private_key_file is None):
        raise ValidationError("give exactly one of --keystore FILE or --private-key-file FILE",
                              field="--keystore/--private-key-file")
    source = password_source(password_file, password_env)
    keystore = _keystore(app)
    if keystore_file is not None:
        info = keystore.import_file(name, keystore_file, source.resolve(name))
    else:
        assert private_key_file is not None
        key = private_key_file.read_text().strip()
        info = keystore.import_key(name, key, source.resolve(name, confirm=True))
    app.emit({"name": info.name, "address": info.address, "path": str(info.path)},
             lambda: app.console.print(f"imported wallet {info.name}: {info.address}"))


@wallet.command("list")
@common_options
def list_(app: App) -> None:
    """List the wallets of the keystore folder (no password needed); a file that cannot be used
    is listed with the reason."""
    infos = _keystore(app).list()
    rows = [{"name": i.name, "address": i.address, "path": str(i.path), "problem": i.problem} for i in infos]

    def human() -> None:
        if not rows:
            app.console.print(f"no wallets in {app.settings.keystores}")
        for row in rows:
            if row["problem"]:
                app.console.print(f"{row['name']:<24} unreadable: {row['problem']}", markup=False)
            else:
                app.console.print(f"{row['name']:<24} {row['address']}")

    app.emit(rows, human)


@wallet.command("address")
@click.argument("name")
@common_options
def address(app: App, name: str) -> None:
    """Print the address of wallet NAME."""
    value = _keystore(app).address(name)
    app.emit({"name": name, "address": value}, lambda: app.console.print(value))


@wallet.command("fund")
@click.argument("targets", nargs=-1, required=True, metavar="WALLET|ADDRESS...")
@click.option("--amount", default="1", show_default=True, help="top each wallet up to this much ether")
@click.option("--funder", default=None, metavar="NAME",
              help="keystore wallet that pays [default on a local dev chain (31337/1337): its DEV-ONLY "
                   "pre-funded account; required elsewhere]")
@password_options
@common_options
def fund(app: App, targets: tuple[str, ...], amount: str, funder: str | None, password_file: Path | None,
         password_env: str | None) -> None:
    """Give wallets gas money (tops up: a wallet already holding AMOUNT gets nothing)."""
    from xborder.chain.connect import connect
    from xborder.chain.embedded import resolve_rpc_url
    from xborder.cli.common import parse_target
    from xborder.cli.signing import load_signer
    from xborder.services import funding

    wei = funding.parse_ether(amount)
    addresses = [parse_target(app, t) for t in targets]
    w3 = connect(resolve_rpc_url(app.settings), app.settings.chain_id)
    account = (load_signer(app, funder, password_source(password_file, password_env)) if funder else None)
    results = funding.fund(w3, funding.choose_funder(w3, account), addresses, wei)
    rows = [{"address": r.address, "balance_before_wei": r.balance_before, "sent_wei": r.sent,
             "tx_hash": r.tx_hash} for r in results]

    def human() -> None:
        for r in results:
            app.console.print(f"{r.address}: " + (f"sent {r.sent / 10**18:g} ETH" if r.sent
                                                  else "already holds enough"))

    app.emit(rows, human)


@wallet.command("prove")
@click.argument("name")
@click.option("--identifier", required=True,
              help="the LEI or unified social credit code of the institution the wallet agrees to join")
@click.option("--valid-for", default=86_400, show_default=True, help="seconds (of chain time) the proof stays valid")
@password_options
@common_options
def prove(app: App, name: str, identifier: str, valid_for: int, password_file: Path | None,
          password_env: str | None) -> None:
    """Sign wallet NAME's proof that it agrees to be bound to the institution IDENTIFIER (EIP-712
    WalletBinding at its current binding nonce): give the printed DEADLINE:0xSIGNATURE to whoever
    registers or adds the wallet (`institution register --proof`, `add-wallet --proof`, a roster's
    admin_proof column). One proof binds once."""
    ident = onboarding.parse_identifier(identifier, "--identifier")
    client = open_client(app)
    account = load_signer(app, name, password_source(password_file, password_env))
    proof = onboarding.prove_wallet(client, account, ident, valid_for)
    text = onboarding.format_wallet_proof(proof)
    app.emit({"wallet": account.address, "identifier": ident, "deadline": proof.deadline, "proof": text},
             lambda: click.echo(text))
