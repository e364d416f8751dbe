"""`xborder institution register|import|list|show|suspend|reinstate|revoke|add-wallet|remove-wallet|set-admin|
revoke-signatures|appoint-agent|dismiss-agent|freeze|unfreeze|set-key|keys`.

A thin face over xborder.services.onboarding: input is validated (and a roster's every problem
reported) before any password is asked or anything is sent.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xborder.bindings.client import XborderClient
from xborder.bindings.consent import WalletProof
from xborder.cli.common import (
    choose_funder,
    funder_option,
    keystore_of,
    keystore_prover,
    open_client,
    report_problems,
    wallet_and_proof,
)
from xborder.cli.context import App, common_options
from xborder.cli.params import INSTITUTION, REASON, WALLET_PROOF
from xborder.cli.signing import Signer, load_signer, password_options, password_source, signer_options
from xborder.domain.enums import ReasonCode
from xborder.domain.money import format_amount
from xborder.errors import ValidationError
from xborder.services import funding, onboarding
from xborder.services.confidential import EncryptionKeys, key_view
from xborder.services.loans import LoanService, LoanTx
from xborder.services.onboarding import RosterInvalid
from xborder.wallets.encryption import KeyRingStore, public_bytes


@click.group("institution")
def institution() -> None:
    """Onboard institutions (regulator) and manage their wallets."""


@institution.command("import")
@click.argument("roster", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--fund/--no-fund", default=False,
              help="top up the admin wallets with gas money (dev chains: from the DEV-ONLY account)")
@click.option("--dry-run", is_flag=True, help="validate and show what would be registered; send nothing")
@funder_option
@common_options
@signer_options
def import_(app: App, roster: Path, fund: bool, dry_run: bool, funder: str | None,
            sign: Signer) -> None:
    """Register every institution of ROSTER (.csv, .yaml, .yml); already registered ones are skipped.

    Columns: kind,name,identifier,jurisdiction,capital_base,admin_wallet[,admin_proof]. Every row
    is checked first; with any problem nothing is sent (exit 2). Each admin wallet must prove it
    agrees to be bound: an admin_proof (`xborder wallet prove`), or a keystore wallet that signs it.
    """
    keystore = keystore_of(app)
    try:
        entries = onboarding.read_roster(roster, keystore)
    except RosterInvalid as exc:
        report_problems(app, exc.problems, f"roster {roster}: {len(exc.problems)} problem(s), nothing registered")
        raise
    client = open_client(app)
    try:
        planned = onboarding.plan(client, entries, roster, keystore_prover(app, client, password_source(None, None)))
    except RosterInvalid as exc:
        report_problems(app, exc.problems, f"roster {roster}: {len(exc.problems)} problem(s), nothing registered")
        raise
    todo = [p for p in planned if not p.existing_id]
    for p in planned:
        if p.existing_id:
            app.note(f"{p.entry.where}: {escape(p.entry.describe())} is already registered as "
                     f"#{p.existing_id}: skipped")
    if dry_run:
        data = {"dry_run": True, "to_register": [p.entry.describe() for p in todo],
                "already_registered": {p.entry.identifier: p.existing_id for p in planned if p.existing_id}}
        app.emit(data, lambda: app.console.print(
            f"roster {roster} is valid: {len(todo)} to register, {len(planned) - len(todo)} already registered"))
        return
    report = onboarding.ImportReport()
    if todo:
        signer = sign()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=app.err, transient=True, disable=app.json_output or not app.err.is_terminal) as bar:
            task = bar.add_task("registering", total=len(planned))

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = onboarding.apply(client, signer, planned, progress=step)
    else:
        report.skipped = [(p.entry, p.existing_id) for p in planned]
    funded: list[funding.Funded] = []
    if fund:
        account = choose_funder(app, client.w3, funder, password_source(None, None))
        funded = funding.fund(client.w3, account, [p.entry.admin for p in planned])
    data = {
        "roster": str(roster), "chain_id": client.deployment.chain_id,
        "registered": [{"id": i, "name": e.name, "identifier": e.identifier, "admin": e.admin}
                       for e, i in report.registered],
        "skipped": [{"id": i, "name": e.name, "identifier": e.identifier, "reason": "already registered"}
                    for e, i in report.skipped],
        "funded": [{"address": f.address, "sent_wei": f.sent} for f in funded],
    }

    def human() -> None:
        app.console.print(f"registered {len(report.registered)}, skipped {len(report.skipped)} already "
                          f"registered (roster {roster}, chain {client.deployment.chain_id})")
        for e, i in report.registered:
            app.console.print(f"  #{i:<4} {escape(e.name)}  {e.identifier}  admin {e.admin}")
        if funded:
            sent = sum(1 for f in funded if f.sent)
            app.console.print(f"funded {sent} admin wallet(s) ({len(funded) - sent} already held enough)")

    app.emit(data, human)


@institution.command("register")
@click.option("--kind", required=True, help=f"one of {onboarding.KINDS_ALLOWED}")
@click.option("--name", required=True, help="registered name")
@click.option("--identifier", required=True, help="LEI (20 chars) or unified social credit code (18 chars)")
@click.option("--jurisdiction", required=True, help="ISO 3166-1 alpha-2, e.g. CN")
@click.option("--capital-base", required=True, help="capital base in CNY, e.g. 5000000000.00")
@click.option("--admin", required=True, metavar="WALLET|ADDRESS", help="the institution's admin wallet")
@click.option("--proof", default="", metavar="DEADLINE:0xSIG",
              help="the admin wallet's proof (`xborder wallet prove`); not needed for a keystore wallet")
@click.option("--fund/--no-fund", default=False, help="top up the admin wallet with gas money")
@funder_option
@common_options
@signer_options
def register(app: App, kind: str, name: str, identifier: str, jurisdiction: str, capital_base: str,
             admin: str, proof: str, fund: bool, funder: str | None, sign: Signer) -> None:
    """Register one institution (regulator), with its admin wallet's proof of key possession."""
    entry = onboarding.entry_from_fields(kind, name, identifier, jurisdiction, capital_base, admin,
                                         keystore_of(app), proof)
    client = open_client(app)
    signed = entry.admin_proof or keystore_prover(app, client, password_source(None, None))(entry)
    if signed is None:
        raise ValidationError(f"--proof: registering needs the proof that admin wallet {entry.admin} agrees to be "
                              f"bound to {entry.identifier} (a wallet is bound only with its own signature)",
                              field="--proof", value="", allowed="DEADLINE:0xSIGNATURE from `xborder wallet prove`, "
                              "or --admin naming a keystore wallet")
    institution_id = onboarding.register(client, sign(), entry, signed)
    if fund:
        funding.fund(client.w3, choose_funder(app, client.w3, funder, password_source(None, None)), [entry.admin])
    app.emit({"id": institution_id, "name": entry.name, "identifier": entry.identifier, "admin": entry.admin},
             lambda: app.console.print(f"registered {escape(entry.describe())} as #{institution_id}"))


@institution.command("list")
@common_options
def list_(app: App) -> None:
    """Every registered institution, read from the chain."""
    views = onboarding.list_institutions(open_client(app))
    rows = [v.to_json() for v in views]

    def human() -> None:
        if not views:
            app.console.print("no institutions registered yet (`xborder institution import ROSTER`)")
            return
        table = Table()
        for column in ("id", "name", "kind", "status", "identifier", "juris.", "capital base (CNY)", "wallets"):
            table.add_column(column, overflow="fold")
        for v in views:
            table.add_row(str(v.id), escape(v.name), v.kind, v.status, v.identifier, v.jurisdiction,
                          format_amount(v.capital_base), str(v.wallet_count))
        app.console.print(table)

    app.emit(rows, human)


@institution.command("show")
@click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
@common_options
def show(app: App, ref: str) -> None:
    """One institution (id, LEI or USCC): record, wallets and, for borrowers, limit and balance."""
    client = open_client(app)
    data = onboarding.show(client, onboarding.resolve_institution(client, ref))

    def human() -> None:
        for key, value in data.items():
            if key == "wallets":
                app.console.print(f"{'wallets':<22} " + ("\n" + " " * 23).join(value))
            elif key != "capital_base_minor":
                app.console.print(f"{key:<22} {escape(str(value))}")

    app.emit(data, human)


def _status_command(action: str, doc: str) -> click.Command:
    @click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
    @common_options
    @signer_options
    def command(app: App, ref: str, sign: Signer) -> None:
        client = open_client(app)
        institution_id = onboarding.resolve_institution(client, ref)
        status = onboarding.change_status(client, sign(), institution_id, action)
        app.emit({"id": institution_id, "status": status}, lambda: app.console.print(
            f"{escape(client.institution_name(institution_id))} is now {status}"))

    command.__doc__ = doc
    return institution.command(action)(command)


_status_command("suspend", "Suspend an active institution: its wallets can write nothing (regulator).")
_status_command("reinstate", "Reinstate a suspended institution (regulator).")
_status_command("revoke", "Revoke an institution for good; its loans stay on the ledger (regulator).")


def _wallet_address(app: App, value: str) -> str:
    return onboarding.resolve_wallet(value, keystore_of(app), field="WALLET")


@institution.command("add-wallet")
@click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
@click.argument("new_wallet", metavar="WALLET")
@click.option("--proof", type=WALLET_PROOF, default=None, metavar="DEADLINE:0xSIG",
              help="WALLET's proof (`xborder wallet prove`); signed now when WALLET is a keystore wallet")
@click.option("--fund/--no-fund", default=False, help="top up the new wallet with gas money")
@funder_option
@common_options
@signer_options
def add_wallet(app: App, ref: str, new_wallet: str, proof: WalletProof | None, fund: bool, funder: str | None,
               sign: Signer) -> None:
    """Authorise WALLET (name or address) for INSTITUTION with WALLET's proof of key possession;
    signed by the regulator or the institution's admin wallet."""
    client = open_client(app)
    institution_id = onboarding.resolve_institution(client, ref)
    address, proof = wallet_and_proof(app, client, institution_id, new_wallet, proof, password_source(None, None))
    if proof is None:
        raise ValidationError(f"--proof: binding {address} needs its proof of key possession (a wallet is bound "
                              "only with its own signature)", field="--proof", value="",
                              allowed="DEADLINE:0xSIGNATURE from `xborder wallet prove`, or a keystore WALLET")
    onboarding.add_wallet(client, sign(), institution_id, address, proof)
    if fund:
        funding.fund(client.w3, choose_funder(app, client.w3, funder, password_source(None, None)), [address])
    app.emit({"id": institution_id, "wallet": address, "added": True}, lambda: app.console.print(
        f"wallet {address} now acts for {escape(client.institution_name(institution_id))}"))


@institution.command("set-admin")
@click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
@click.argument("new_admin", metavar="WALLET")
@click.option("--proof", type=WALLET_PROOF, default=None, metavar="DEADLINE:0xSIG",
              help="WALLET's proof when it is not yet a wallet of INSTITUTION (signed now for a keystore wallet)")
@common_options
@signer_options
def set_admin(app: App, ref: str, new_admin: str, proof: WalletProof | None, sign: Signer) -> None:
    """Make WALLET the admin wallet of INSTITUTION (key rotation; the regulator or the current admin).
    Its signature epoch moves: consents signed before are void."""
    client = open_client(app)
    institution_id = onboarding.resolve_institution(client, ref)
    address, proof = wallet_and_proof(app, client, institution_id, new_admin, proof, password_source(None, None))
    onboarding.set_admin_wallet(client, sign(), institution_id, address, proof)
    app.emit({"id": institution_id, "admin": address}, lambda: app.console.print(
        f"{address} is now the admin wallet of {escape(client.institution_name(institution_id))}"))


@institution.command("revoke-signatures")
@click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
@common_options
@signer_options
def revoke_signatures(app: App, ref: str, sign: Signer) -> None:
    """Void every consent INSTITUTION's wallets signed and not yet seen used (its admin wallet or the
    regulator): its signature epoch moves."""
    client = open_client(app)
    institution_id = onboarding.resolve_institution(client, ref)
    epoch = onboarding.revoke_signatures(client, sign(), institution_id)
    app.emit({"id": institution_id, "signature_epoch": epoch}, lambda: app.console.print(
        f"every outstanding signature of {escape(client.institution_name(institution_id))} is void "
        f"(signature epoch {epoch})"))


def _ledger_act(name: str, help_text: str, method: str, reason: ReasonCode | None) -> click.Command:
    @common_options
    @signer_options
    def command(app: App, sign: Signer, ref: str, **kwargs: ReasonCode) -> None:
        service = LoanService(open_client(app))
        target = onboarding.resolve_institution(service.client, ref)
        act = getattr(service, method)
        tx: LoanTx = act(sign(), target, kwargs["reason"]) if reason is not None else act(sign(), target)
        app.emit({"id": target, "action": tx.action, "tx_hash": tx.tx_hash, "block_number": tx.block_number},
                 lambda: app.console.print(f"{escape(tx.action)}: done (tx {tx.tx_hash}, block {tx.block_number})"))

    command.__doc__ = help_text
    if reason is not None:
        command = click.option("--reason", type=REASON, default=reason.slug, show_default=True,
                               help=f"why (one of {REASON.ALLOWED})")(command)
    command = click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)(command)
    return institution.command(name)(command)


_ledger_act("appoint-agent", "Appoint bank INSTITUTION as your institution's agent on the ledger (--wallet: a wallet "
            "of the creditor): it becomes lender side of your loans as creditor.", "appoint_agent", None)
_ledger_act("dismiss-agent", "Dismiss INSTITUTION as your agent; effective at once.", "dismiss_agent", None)
_ledger_act("freeze", "Freeze the new drawdowns of INSTITUTION as borrower (the regulator).", "freeze",
            ReasonCode.SUSPECTED_FRAUD)
_ledger_act("unfreeze", "Lift the drawdown freeze of INSTITUTION (the regulator).", "unfreeze", ReasonCode.UNSPECIFIED)


@institution.command("remove-wallet")
@click.argument("ref", metavar="INSTITUTION", type=INSTITUTION)
@click.argument("old_wallet", metavar="WALLET")
@common_options
@signer_options
def remove_wallet(app: App, ref: str, old_wallet: str, sign: Signer) -> None:
    """Withdraw WALLET's authority for INSTITUTION (not its admin wallet)."""
    address = _wallet_address(app, old_wallet)
    client = open_client(app)
    institution_id = onboarding.resolve_institution(client, ref)
    onboarding.remove_wallet(client, sign(), institution_id, address)
    app.emit({"id": institution_id, "wallet": address, "removed": True}, lambda: app.console.print(
        f"wallet {address} no longer acts for {escape(client.institution_name(institution_id))}"))


def _key_owner(client: XborderClient, ref: str) -> int:
    """0 / 'regulator' -> 0 (the regulator's own key), else a registered institution."""
    if ref.strip().lower() in ("0", "#0", "regulator"):
        return 0
    return onboarding.resolve_institution(client, ref)


@institution.command("set-key")
@click.argument("ref", metavar="INSTITUTION")
@click.option("--rotate", is_flag=True, help="register a new key version when the institution already has one")
@click.option("--ring", "ring_name", default=None, metavar="NAME",
              help="key ring to keep the private key in [default: the --wallet name]")
@common_options
@click.option("--wallet", "wallet_name", required=True, metavar="NAME",
              help="the institution's admin wallet (or the regulator's; INSTITUTION 0 = the regulator's own key)")
@password_options
def set_key(app: App, ref: str, rotate: bool, ring_name: str | None, wallet_name: str,
            password_file: Path | None, password_env: str | None) -> None:
    """Generate an X25519 encryption key for INSTITUTION (0 = the regulator), keep its private half
    in the encrypted key ring next to the wallets, and register the public half in the registry.
    Older versions stay in the ring, so terms sealed under them stay readable."""
    client = open_client(app)
    institution_id = _key_owner(client, ref)
    keys = EncryptionKeys(client)
    _, current = keys.current(institution_id)
    if current and not rotate:
        raise ValidationError(f"INSTITUTION: {ref} already has encryption key v{current}: pass --rotate to "
                              "register a new version (the old one stays readable)", field="INSTITUTION",
                              value=ref, allowed="--rotate")
    source = password_source(password_file, password_env)
    signer = load_signer(app, wallet_name, source)
    ring = ring_name or wallet_name
    store = KeyRingStore(app.settings.keystores)
    password = source.resolve(wallet_name) if ring == wallet_name else source.resolve(ring)
    version = current + 1
    key = store.add_key(ring, password, institution_id, version)  # kept BEFORE it is registered
    registered = keys.register(signer, institution_id, public_bytes(key))
    if registered.version != version:  # someone registered a version in between
        store.add_key(ring, password, institution_id, registered.version, key)
    data = key_view(registered) | {"ring": str(store.path(ring))}
    app.emit(data, lambda: app.console.print(
        f"encryption key v{registered.version} of {'the regulator' if institution_id == 0 else '#' + str(institution_id)}"
        f" registered: {registered.public_key} (private key in {store.path(ring)})"))


@institution.command("keys")
@click.argument("ref", metavar="INSTITUTION")
@common_options
def keys_(app: App, ref: str) -> None:
    """Every encryption key INSTITUTION (0 = the regulator) registered, oldest first."""
    client = open_client(app)
    institution_id = _key_owner(client, ref)
    history = EncryptionKeys(client).history(institution_id)

    def human() -> None:
        if not history:
            app.console.print(f"{ref}: no encryption key (`xborder institution set-key {ref} --wallet ADMIN`)")
        for k in history:
            mark = "  (current)" if k is history[-1] else ""
            app.console.print(f"v{k.version}  {k.public_key}  by {k.by}  block {k.block_number}{mark}")

    app.emit([key_view(k) for k in history], human)
