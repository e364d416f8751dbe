"""`xborder loan import`: record every loan of a CSV file through the loan batch (validation,
dry run with the v2 rules, then batched sends)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xborder.cli.common import allow_plaintext_option, open_client, wallet_resolver
from xborder.cli.context import App, common_options
from xborder.cli.groups import loan
from xborder.cli.signing import password_options, password_source
from xborder.errors import TransactionRejected, ValidationError
from xborder.services.confidential import TermsSealer
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
from xborder.services.loans import LoanService


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
    service = LoanService(open_client(app))
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
