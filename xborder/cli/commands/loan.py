"""`xborder loan record|confirm|draw|repay|extend|cancel|close|default|show|exposure|import`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xborder.cli.common import open_client, wallet_resolver
from xborder.cli.context import App, common_options
from xborder.cli.params import AMOUNT, AMOUNT_OR_ZERO, CURRENCY, DATE, INSTITUTION, LOAN_ID, Amount
from xborder.cli.signing import (
    Signer,
    keys_wallet_options,
    load_ring,
    load_signer,
    password_options,
    password_source,
    signer_options,
)
from xborder.domain.loans import LoanRequest, document_hash, loan_label
from xborder.domain.money import format_amount
from xborder.errors import TransactionRejected, ValidationError
from xborder.services import terms as terms_codec
from xborder.services.confidential import MissingEncryptionKey, TermsSealer
from xborder.services.loan_batch import (
    ALREADY,
    FAILED,
    INVALID,
    READY,
    RECORDED,
    REFUSED,
    BatchReport,
    LoanBatch,
)
from xborder.services.loan_import import describe_outcome, merged_report, prepare_import
from xborder.services.loans import LoanService, LoanTx
from xborder.wallets.encryption import KeyRing


def _service(app: App) -> LoanService:
    return LoanService(open_client(app))


def _emit_tx(app: App, service: LoanService, tx: LoanTx) -> None:
    data = asdict(tx) | {"loan": loan_label(tx.loan_id)}

    def human() -> None:
        app.console.print(f"{tx.action}: loan {loan_label(tx.loan_id)} is {tx.status} "
                          f"(tx {tx.tx_hash}, block {tx.block_number}, gas {tx.gas_used:,})")
        if tx.loan_id:
            app.console.print("  " + service.exposure(tx.loan_id >> 32).human())

    app.emit(data, human)


@click.group("loan")
def loan() -> None:
    """Record cross-border loans and follow them through drawdown, repayment and closing."""


def _terms_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for name, help_text in reversed([
        ("interest-rate", "annual interest rate in percent, e.g. 4.35"),
        ("fees", "fees, free text"), ("purpose", "purpose of the financing"),
        ("external-ref", "your own reference"), ("document-name", "name of the loan contract document"),
        ("document-uri", "where the document is kept"), ("notes", "free text"),
    ]):
        func = click.option(f"--{name}", default="", help=f"terms (off-chain, committed): {help_text}")(func)
    return func


def allow_plaintext_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--allow-plaintext", is_flag=True,
        help="if a party or the regulator has no encryption key, publish the terms in clear instead of "
             "refusing (every member of the chain can then read them)")(func)


@loan.command("record")
@click.option("--borrower", required=True, type=INSTITUTION, help="borrower institution id or identifier (LEI / USCC)")
@click.option("--creditor", required=True, type=INSTITUTION, help="creditor institution id or identifier")
@click.option("--currency", required=True, type=CURRENCY, is_eager=True, help="ISO 4217 code, e.g. USD")
@click.option("--principal", required=True, type=AMOUNT,
              help="principal in the currency's minor units, e.g. 1,000,000.00 (JPY: whole yen)")
@click.option("--value-date", required=True, type=DATE, help="YYYY-MM-DD (UTC)")
@click.option("--maturity-date", required=True, type=DATE, help="YYYY-MM-DD (UTC), after the value date")
@click.option("--financing-type", default="ORDINARY_LOAN", show_default=True, help="id or name")
@click.option("--document", required=True, help="document id / file name (hashed) or 0x 32-byte hash")
@click.option("--draw", default="0", type=AMOUNT_OR_ZERO, help="draw this much at once (needs --borrower-wallet)")
@click.option("--borrower-wallet", default=None, metavar="NAME",
              help="the borrower's wallet co-signs (EIP-712 consent): the loan is Active at once")
@click.option("--consent-valid", default=3600, show_default=True, help="seconds the consent stays valid")
@_terms_options
@allow_plaintext_option
@common_options
@signer_options
def record(app: App, sign: Signer, borrower: str, creditor: str, currency: str, principal: Amount,
           value_date: int, maturity_date: int, financing_type: str, document: str, draw: Amount,
           borrower_wallet: str | None, consent_valid: int, allow_plaintext: bool, **terms: str) -> None:
    """Record a loan from the lender side (--wallet: the creditor's or the borrower's bank's wallet).
    The terms are encrypted for the borrower, the creditor, the recorder and the regulator
    (docs/confidential-terms.md); only the salted commitment is public."""
    service = _service(app)
    sealed = terms_codec.seal(terms_codec.LoanTerms(**terms))
    request = LoanRequest(
        borrower=service.resolve_institution(borrower, "--borrower"),
        creditor=service.resolve_institution(creditor, "--creditor"),
        currency=currency, principal=principal.minor, value_date=value_date, maturity_date=maturity_date,
        financing_type=service.resolve_financing_type(financing_type, field="--financing-type"),
        document_hash=document_hash(document, "--document"), terms_hash=sealed.terms_hash)
    request.check()
    draw_amount = draw.minor
    sealer = TermsSealer(service.client)
    try:
        assert sealer.keys is not None
        recipients = sealer.keys.recipients(
            sealer.recipient_ids(request.borrower, request.creditor, sign().address))
        sealed = replace(sealed, data=sealer.seal_plaintext(sealed.salt + sealed.encoding,
                                                            document_hash=request.document_hash,
                                                            terms_hash=sealed.terms_hash, recipients=recipients))
    except MissingEncryptionKey as exc:
        if not allow_plaintext:
            raise
        app.note(f"[yellow]warning: {exc}; --allow-plaintext: the terms go on chain IN CLEAR[/yellow]")
    if borrower_wallet is None:
        if draw_amount:
            raise ValidationError("--draw: drawing at once needs the borrower's consent: add --borrower-wallet",
                                  field="--draw", value=draw.text, allowed="0 without --borrower-wallet")
        tx = service.record(sign(), request, sealed)
    else:
        borrower_account = load_signer(app, borrower_wallet, password_source(None, None))
        signature, _, deadline = service.sign_consent(borrower_account, request, draw_amount, valid_for=consent_valid)
        tx = service.record_with_consent(sign(), request, sealed, signature=signature, deadline=deadline,
                                         draw=draw_amount)
    _emit_tx(app, service, tx)


def _loan_command(name: str, help_text: str, method: str, extra: str | None = None) -> click.Command:
    @common_options
    @signer_options
    def command(app: App, sign: Signer, loan_id: int, **kwargs: Any) -> None:
        service = _service(app)
        args: list[Any] = [loan_id]
        if extra == "amount":
            amount: Amount = kwargs["amount"]
            current = service.loan(loan_id)
            args.append(amount.for_currency(current.currency) if current.status else amount.minor)
        elif extra == "date":
            args.append(kwargs["new_maturity_date"])
        _emit_tx(app, service, getattr(service, method)(sign(), *args))

    command.__doc__ = help_text
    if extra == "amount":
        command = click.argument("amount", type=AMOUNT)(command)
    elif extra == "date":
        command = click.argument("new_maturity_date", type=DATE)(command)
    command = click.argument("loan_id", type=LOAN_ID)(command)
    return loan.command(name)(command)


_loan_command("confirm", "Confirm a recorded loan as the borrower (--wallet: a wallet of the borrower).", "confirm")
_loan_command("draw", "Draw AMOUNT of an active loan (limit-checked on chain).", "draw", "amount")
_loan_command("repay", "Repay AMOUNT of an active loan (closes it when fully drawn and repaid).", "repay", "amount")
_loan_command("extend", "Move the maturity of an active loan to NEW_MATURITY_DATE (lender side; limit-checked).",
              "extend", "date")
_loan_command("cancel", "Cancel a loan that has no drawdown (any party).", "cancel")
_loan_command("close", "Close an active loan with nothing outstanding (lender side).", "close")
_loan_command("default", "Declare an active loan in default (lender side): it leaves the borrower's balance.",
              "default")


@loan.command("show")
@click.argument("loan_id", type=LOAN_ID)
@common_options
@keys_wallet_options
def show(app: App, loan_id: int, ring: KeyRing | None) -> None:
    """Show a loan: status, amounts, CNY equivalent, contribution to the borrower's balance, terms
    (encrypted terms only with --keys-wallet of a party of the loan or of the regulator)."""
    service = _service(app)
    view = service.show(loan_id, ring)

    def human() -> None:
        for key, value in view.human().items():
            app.console.print(f"{key + ':':<20} {value}")

    app.emit(asdict(view), human)


@loan.command("reshare")
@click.argument("loan_id", type=LOAN_ID)
@click.option("--to", "to", multiple=True, required=True, metavar="INSTITUTION",
              help="institution (id, LEI, USCC; 0 = the regulator) whose CURRENT key gets the terms; repeatable")
@click.option("--keys-wallet", "keys_wallet", default=None, metavar="NAME",
              help="key ring that opens the terms now [default: the --wallet name]")
@common_options
@signer_options
def reshare(app: App, sign: Signer, loan_id: int, to: tuple[str, ...], keys_wallet: str | None) -> None:
    """Re-share the terms of LOAN_ID with the current key of each --to institution (e.g. after it
    rotated its key): emits TermsShared with a new envelope (--wallet: a party of the loan)."""
    service = _service(app)
    targets = [0 if t.strip().lower() in ("0", "regulator") else service.resolve_institution(t, "--to") for t in to]
    signer = sign()
    ring = load_ring(app, keys_wallet or _wallet_name(), password_source(None, None))
    _emit_tx(app, service, service.reshare(signer, loan_id, ring, targets))


def _wallet_name() -> str:
    ctx = click.get_current_context()
    return str(ctx.params.get("wallet_name") or "")


@loan.command("exposure")
@click.argument("borrower")
@common_options
def exposure(app: App, borrower: str) -> None:
    """A borrower's risk-weighted balance, limit and headroom."""
    service = _service(app)
    e = service.exposure(service.resolve_institution(borrower, "borrower"))
    app.emit(asdict(e) | {"balance_text": format_amount(e.balance, "CNY"), "limit_text": format_amount(e.limit, "CNY")},
             lambda: app.console.print(e.human()))


@loan.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="validate and dry-run against the chain, send nothing")
@click.option("--yes", is_flag=True, help="send without asking")
@click.option("--gas", "gas_mode", type=click.Choice(["estimate", "sample"]), default="estimate", show_default=True,
              help="estimate every transaction's gas, or one per kind of call (faster)")
@click.option("--demo-seed", default=None, help="seed of the DEMO-ONLY demo-N wallets [default: xborder-demo]")
@allow_plaintext_option
@password_options
@common_options
def import_(app: App, csv_file: Path, dry_run: bool, yes: bool, gas_mode: str, demo_seed: str | None,
            allow_plaintext: bool, password_file: Path | None, password_env: str | None) -> None:
    """Record every loan of CSV_FILE: validate all rows, dry-run them against the chain, then send
    the rest in batches. Columns: borrower, creditor, currency, principal, value_date, maturity_date,
    financing_type, document, recorder_wallet [, draw, borrower_wallet, interest_rate, fees, purpose,
    external_ref, document_name, document_uri, notes]. Wallets are keystore names, demo-N (DEMO-ONLY
    derived wallets) or dev-N (public development mnemonic, local dev chains only)."""
    service = _service(app)
    resolver = wallet_resolver(app, password_source(password_file, password_env), demo_seed,
                               service.client.deployment.chain_id)
    sealer = TermsSealer(service.client)
    plan = prepare_import(service.client, csv_file, resolver, sealer=sealer)
    no_key = [p for p in plan.problems if p.field == "recipients"]
    if no_key and allow_plaintext:
        app.note(f"[yellow]warning: {len(no_key)} rows have a party without an encryption key; "
                 "--allow-plaintext: the whole file is recorded with its terms IN CLEAR[/yellow]")
        plan = prepare_import(service.client, csv_file, resolver)
    batch = LoanBatch(service.client, plan.items, gas_mode=gas_mode)
    report = merged_report(plan, batch.preflight())
    ready = len(report.with_status(READY))
    _show_rows(app, report, (INVALID, REFUSED), "would not be recorded" if ready else "cannot be recorded")
    app.note(f"{csv_file}: {plan.rows} rows: {ready} ready to record, "
             f"{len(report.with_status(ALREADY))} already recorded, {len(report.with_status(INVALID))} invalid, "
             f"{len(report.with_status(REFUSED))} refused by the dry run")
    if not dry_run and ready:
        if not yes and not click.confirm(f"Record {ready} loans now?", default=False, err=True):
            raise click.exceptions.Abort()
        with Progress(TextColumn("recording loans"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=app.err, transient=app.json_output) as bar:
            task = bar.add_task("record", total=ready)
            report = merged_report(plan, batch.submit(lambda done, total: bar.update(task, completed=done,
                                                                                     total=total)))
        app.note(f"recorded {len(report.with_status(RECORDED))} loans in {report.seconds:.1f}s "
                 f"({report.rate:.0f} loans/s)")
    data = report.to_json() | {"file": str(csv_file), "dry_run": dry_run}

    def human() -> None:
        _show_rows(app, report, (RECORDED, ALREADY, FAILED), "result", limit=50)
        app.console.print(", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())))

    app.emit(data, human)
    _exit_status(report, plan.rows)


def _show_rows(app: App, report: BatchReport, statuses: tuple[str, ...], title: str, limit: int | None = None) -> None:
    rows = sorted(report.with_status(*statuses), key=lambda o: (o.row or 0, o.index))
    if not rows or app.json_output:
        return
    table = Table(title=f"{len(rows)} rows: {title}", show_lines=False, expand=False)
    for column in ("row", "status", "detail"):
        table.add_column(column, overflow="fold")
    for o in rows[:limit] if limit else rows:
        table.add_row(str(o.row or o.ref), o.status, describe_outcome(o).split(": ", 1)[-1])
    if limit and len(rows) > limit:
        table.add_row("…", "", f"{len(rows) - limit} more (use --json for all)")
    app.err.print(table)


def _exit_status(report: BatchReport, rows: int) -> None:
    invalid = len(report.with_status(INVALID))
    refused = len(report.with_status(REFUSED, FAILED))
    if invalid:
        raise ValidationError(f"{invalid + refused} of {rows} rows were not recorded ({invalid} invalid, {refused} "
                              "refused): see the report", field="rows", value=invalid)
    if refused:
        raise TransactionRejected(f"{refused} of {rows} rows were refused by the ledger rules: see the report")
