"""`xborder report ...`: the regulator's questions, from the index (`xborder serve` is in
commands/api.py). Listings take `--csv FILE` (`-` for stdout) and `--json`, and are paged by keyset:
`--limit N`, then `--cursor` with the `next_cursor` the previous page printed.

Which reports need the node: only `report consistency` (it reads the ledger's views and the logs
at the index's checkpoint; an unreachable node or another chain exits 4). Every other report reads
the index database alone and says so when a node is named (`--rpc-url`/XBORDER_RPC_URL); all of
them refuse an index of another chain than `--chain-id` (exit 4)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from xborder.api import payloads
from xborder.bindings.units import format_amount
from xborder.chain.embedded import resolve_rpc_url
from xborder.cli.context import App, common_options
from xborder.errors import ValidationError
from xborder.index import analytics, queries
from xborder.index.db import Database
from xborder.index.identity import check_expected_chain
from xborder.index.reconcile import consistency_report
from xborder.index.service import indexer_web3, open_index

INCONSISTENT_EXIT = 9


@contextmanager
def _index(app: App, *, needs_node: bool = False) -> Iterator[Database]:
    """The index database, checked against --chain-id. A report that does not need the node says
    so (after its output) when --rpc-url was given on the command line."""
    db = open_index(app.settings)
    try:
        check_expected_chain(db, app.settings.chain_id)
        yield db
    finally:
        db.close()
    ctx = click.get_current_context()
    if not needs_node and ctx.get_parameter_source("rpc_url") == click.core.ParameterSource.COMMANDLINE:
        app.note(f"[dim]{ctx.command_path} reads only the index database: the node at {app.settings.rpc_url} was "
                 "not contacted (only `report consistency` needs it)[/dim]")


def _cursor_option(func: Any) -> Any:
    return click.option("--cursor", default=None, metavar="CURSOR",
                        help="the next page: the next_cursor printed by the previous page")(func)


def _csv_option(func: Any) -> Any:
    return click.option("--csv", "csv_file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                        default=None, metavar="FILE", help="also write the listing as CSV to FILE (- for stdout)")(func)


def _write_csv(app: App, listing: queries.Listing, target: Path | None) -> bool:
    """Write the CSV; True when it went to stdout (so nothing else may be printed there)."""
    if target is None:
        return False
    if str(target) == "-":
        sys.stdout.write(listing.to_csv())
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as out:
        listing.to_csv(out)
    app.note(f"wrote {len(listing.rows)} rows to {target}")
    return False


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.1f} %"


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for name in columns:  # a leading "#" marks a right-aligned (numeric) column
        table.add_column(name.removeprefix("#"), justify="right" if name.startswith("#") else "left",
                         overflow="fold")
    return table


@click.group("report")
def report() -> None:
    """The regulator's reports from the index database (run `xborder index run` first)."""


@report.command("loans")
@click.option("--borrower", type=click.IntRange(1), default=None, help="borrower institution id")
@click.option("--creditor", type=click.IntRange(1), default=None, help="creditor institution id")
@click.option("--currency", default=None, help="ISO 4217, e.g. USD")
@click.option("--creditor-country", default=None, help="ISO 3166 alpha-2, e.g. HK")
@click.option("--status", default=None, help=", ".join(payloads.STATUS_NAMES))
@click.option("--from", "date_from", default=None, metavar="YYYY-MM-DD", help="value date on or after")
@click.option("--to", "date_to", default=None, metavar="YYYY-MM-DD", help="value date on or before")
@click.option("--bank", type=click.IntRange(1), default=None, help="recording bank's institution id")
@click.option("--limit", type=click.IntRange(1, queries.MAX_PAGE), default=100, show_default=True)
@_cursor_option
@_csv_option
@common_options
def loans(app: App, borrower: int | None, creditor: int | None, currency: str | None,
          creditor_country: str | None, status: str | None, date_from: str | None, date_to: str | None,
          bank: int | None, limit: int, cursor: str | None, csv_file: Path | None) -> None:
    """Loans in their current state, newest first."""
    with _index(app) as db:
        for field, value in (("--borrower", borrower), ("--creditor", creditor), ("--bank", bank)):
            if value is not None and not analytics.institution_exists(db, value):
                raise ValidationError(f"{field}: institution {value} is not in the index", field=field, value=value)
        listing = queries.list_loans(
            db, borrower=borrower, creditor=creditor, currency=payloads.parse_currency(currency, "--currency"),
            creditor_country=payloads.parse_country(creditor_country, "--creditor-country"),
            status=payloads.parse_status(status, "--status"),
            value_date_from=payloads.parse_date(date_from, "--from"),
            value_date_to=payloads.parse_date(date_to, "--to", end_of_day=True), bank=bank, limit=limit,
            cursor=cursor)
        names = analytics.institution_names(db, [r[1] for r in listing.rows] + [r[2] for r in listing.rows])
    if _write_csv(app, listing, csv_file):
        return
    items = listing.dicts()

    def human() -> None:
        table = _table("loan", "borrower", "creditor", "ccy", "#principal", "#outstanding", "status", "value date", "maturity")
        from datetime import UTC, datetime

        def day(seconds: int) -> str:
            return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d")

        for d in items:
            table.add_row(f"{d['loan_id'] >> 32}:{d['loan_id'] & 0xFFFFFFFF}", names.get(d["borrower"], str(d["borrower"])),
                          names.get(d["creditor"], str(d["creditor"])), d["currency"], format_amount(d["principal"]),
                          format_amount(d["outstanding"]), d["status"], day(d["value_date"]), day(d["maturity_date"]))
        app.console.print(table)
        more = f"; next page: --cursor {listing.next_cursor}" if listing.next_cursor else ""
        app.console.print(f"{len(items)} of {listing.total} loans{more}")

    app.emit(_page(listing, limit), human)


def _page(listing: queries.Listing, limit: int) -> dict[str, Any]:
    return {"total": listing.total, "limit": limit, "next_cursor": listing.next_cursor,
            "columns": listing.columns, "items": listing.dicts()}


@report.command("exposure")
@click.argument("borrower", type=click.IntRange(1), required=False)
@click.option("--sort", type=click.Choice(analytics.EXPOSURE_SORTS), default="utilisation", show_default=True)
@click.option("--min-utilisation", type=click.FloatRange(0), default=None, help="only borrowers at or above, e.g. 0.9")
@click.option("--limit", type=click.IntRange(1, queries.MAX_PAGE), default=100, show_default=True)
@_cursor_option
@_csv_option
@common_options
def exposure(app: App, borrower: int | None, sort: str, min_utilisation: float | None, limit: int,
             cursor: str | None, csv_file: Path | None) -> None:
    """One borrower's exposure, or every borrower's ranked (nearest its limit first)."""
    with _index(app) as db:
        if borrower is not None:
            if not analytics.institution_exists(db, borrower):
                raise ValidationError(f"borrower: institution {borrower} is not in the index", field="borrower",
                                      value=borrower)
            one = payloads.exposure(db, borrower)
            app.emit(one, lambda: _print_exposure(app, one))
            return
        ranked = analytics.ranked_exposures(db, sort=sort, limit=limit, cursor=cursor, min_utilisation=min_utilisation)
        listing = ranked.listing()
        body: dict[str, Any] = {"total": ranked.total, "limit": limit, "sort": sort, "next_cursor": ranked.next_cursor,
                "items": [analytics.exposure_dict(e) for e in ranked.items]}
    if _write_csv(app, listing, csv_file):
        return

    def human() -> None:
        table = _table("id", "borrower", "kind", "#balance (CNY)", "#limit (CNY)", "#headroom (CNY)", "#utilisation", "band")
        for e in body["items"]:
            table.add_row(str(e["borrower"]), e["name"], e["kind"], format_amount(e["risk_weighted_balance"]),
                          format_amount(e["limit"]), format_amount(e["headroom"]), _pct(e["utilisation"]), e["band"])
        app.console.print(table)
        if ranked.next_cursor:
            app.console.print(f"{len(body['items'])} of {ranked.total} borrowers; next page: --cursor {ranked.next_cursor}")

    app.emit(body, human)


def _print_exposure(app: App, e: dict[str, Any]) -> None:
    c = app.console
    c.print(f"[bold]{e['name']}[/bold] (#{e['borrower']}, {e['kind']}, {e['status']}) at block {e['as_of_block']}")
    c.print(f"  risk-weighted balance {format_amount(e['risk_weighted_balance'], 'CNY')}")
    c.print(f"  upper limit           {format_amount(e['limit'], 'CNY')}")
    c.print(f"  headroom              {format_amount(e['headroom'], 'CNY')}")
    c.print(f"  utilisation           {_pct(e['utilisation'])} ({e['band']})")
    c.print(f"  active loans          {e['active_loans']}: "
            + (", ".join(format_amount(v, k) for k, v in e["outstanding"].items()) or "nothing outstanding"))


@report.command("totals")
@click.option("--by", type=click.Choice(list(queries.TOTALS_BY)), default="currency", show_default=True,
              help="bank: the institution that recorded the loan")
@click.option("--status", default=None, help=", ".join(payloads.STATUS_NAMES))
@_csv_option
@common_options
def totals(app: App, by: str, status: str | None, csv_file: Path | None) -> None:
    """Loan count, principal, drawn, outstanding and risk-weighted contribution per group."""
    with _index(app) as db:
        listing = payloads.totals(db, by, payloads.parse_status(status, "--status"))
    if _write_csv(app, listing, csv_file):
        return
    items = listing.dicts()

    def human() -> None:
        table = _table(by, "#loans", "#principal", "#drawn", "#outstanding", "#contribution (CNY)")
        for d in items:
            label = f"{d[by]} {d.get('financing_type_name') or d.get('name') or ''}".strip()
            unit = d[by] if by == "currency" else None
            table.add_row(label, str(d["loans"]), format_amount(d["principal"], unit), format_amount(d["drawn"], unit),
                          format_amount(d["outstanding"], unit), format_amount(d["contribution"]))
        app.console.print(table)
        if by != "currency":
            app.console.print("[dim]amounts add up loans of different currencies; use --by currency for per-currency sums[/dim]")

    app.emit({"by": by, "items": items}, human)


@report.command("volumes")
@click.option("--period", type=click.Choice(["month", "day"]), default="month", show_default=True)
@click.option("--currency", default=None, help="ISO 4217, e.g. USD")
@_csv_option
@common_options
def volumes(app: App, period: str, currency: str | None, csv_file: Path | None) -> None:
    """Drawdowns and repayments per month or day and currency (with CNY equivalents)."""
    with _index(app) as db:
        listing = analytics.volumes_with_cny(db, period, currency=payloads.parse_currency(currency, "--currency"))
    if _write_csv(app, listing, csv_file):
        return
    items = listing.dicts()

    def human() -> None:
        table = _table(period, "ccy", "#drawn", "#repaid", "#loans recorded", "#drawn (CNY eq.)")
        for d in items:
            table.add_row(d[period], d["currency"], format_amount(d["drawn"]), format_amount(d["repaid"]),
                          str(d["loans_recorded"]), format_amount(d["drawn_cny"]))
        app.console.print(table)

    app.emit({"period": period, "items": items}, human)


@report.command("summary")
@common_options
def summary(app: App) -> None:
    """Headline figures: loans, outstanding by currency, balances against limits."""
    with _index(app) as db:
        data = payloads.summary(db)

    def human() -> None:
        c = app.console
        c.print(f"index at block {data['checkpoint']}: {data['institutions']} institutions, {data['borrowers']} borrowers")
        c.print(f"loans {data['loans']}: " + ", ".join(f"{n} {s}" for s, n in data["loans_by_status"].items()))
        for cur, amount in data["outstanding"].items():
            c.print(f"  outstanding {format_amount(amount, cur)}")
        c.print(f"outstanding (CNY equivalent) {format_amount(data['outstanding_cny'], 'CNY')}")
        c.print(f"risk-weighted balance {format_amount(data['risk_weighted_balance'], 'CNY')} of "
                f"{format_amount(data['total_limit'], 'CNY')} total limits")
        c.print(f"borrowers at 90-100 % of their limit: {data['borrowers_near_limit']}; over it: "
                f"{data['borrowers_over_limit']}")

    app.emit(data, human)


@report.command("consistency")
@common_options
def consistency(app: App) -> None:
    """Compare the index with the chain at its checkpoint block (needs the node): every borrower's
    balance, limit and headroom against the ledger, the logs of every contract and event against
    eth_getLogs, and the summary tables against their rows. Exit code 9 when they differ."""
    rpc_url = resolve_rpc_url(app.settings, autostart=False)
    with _index(app, needs_node=True) as db:
        result = consistency_report(db, indexer_web3(rpc_url), expected_chain_id=app.settings.chain_id)
    data = payloads.consistency_body(result)  # the same body as GET /api/consistency

    def human() -> None:
        if result.ok:
            app.console.print(f"consistent: {result.checked} borrowers and {result.logs_checked:,} logs match the "
                              f"chain at block {result.block}")
            return
        app.console.print(f"[red]INCONSISTENT[/red] at block {result.block}: borrowers {result.borrowers}")
        for m in result.mismatches:
            app.console.print(f"  #{m.borrower} {m.name}: {m.field} indexed {m.indexed} != ledger {m.chain}")
        for lm in result.log_mismatches:
            app.console.print(f"  {lm.contract} {lm.event}: {lm.indexed} logs indexed != {lm.chain} on chain")
        for line in result.internal:
            app.console.print(f"  {line}")

    app.emit(data, human)
    if not result.ok:
        raise click.exceptions.Exit(INCONSISTENT_EXIT)


@report.command("dashboard")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder to write index.html into (created)")
@common_options
def dashboard(app: App, out_dir: Path) -> None:
    """Write a static snapshot of the dashboard (opens from file://, no server needed)."""
    from xborder.api.snapshot import write_snapshot

    with _index(app) as db:
        target = write_snapshot(db, out_dir)
    data = {"path": str(target.resolve()), "url": target.resolve().as_uri()}
    app.emit(data, lambda: app.console.print(f"dashboard snapshot written: open {data['url']}"))

