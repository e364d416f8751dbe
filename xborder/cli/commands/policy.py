"""`xborder policy show|set|fx|type`: the regulator's macro-prudential parameters, FX reference
rates and financing-type table (a thin face over xborder.services.policy)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from xborder.cli.common import open_client
from xborder.cli.context import App, common_options
from xborder.cli.signing import Signer, signer_options
from xborder.domain.money import format_bps, parse_bps
from xborder.services import policy as service


@click.group("policy")
def policy() -> None:
    """Show and set the macro-prudential policy (setting needs the regulator's --wallet)."""


@policy.command("show")
@common_options
def show(app: App) -> None:
    """Every parameter (human units), the financing-type table and the reference rates."""
    data = service.snapshot(open_client(app))

    def human() -> None:
        params = Table(title="parameters", title_justify="left")
        for column in ("parameter", "value", "meaning"):
            params.add_column(column)
        for p in data["parameters"]:
            params.add_row(p["name"], p["value"], p["description"])
        app.console.print(params)
        _types_table(app, data["financing_types"])
        _rates_table(app, data["reference_rates"])

    app.emit(data, human)


def _types_table(app: App, rows: list[dict[str, object]]) -> None:
    table = Table(title="financing types", title_justify="left")
    for column in ("id", "name", "weight", "off-balance"):
        table.add_column(column)
    for t in rows:
        table.add_row(str(t["id"]), escape(str(t["name"])), str(t["weight"]), "yes" if t["off_balance"] else "no")
    app.console.print(table)


def _rates_table(app: App, rows: list[dict[str, object]]) -> None:
    table = Table(title="reference rates (CNY per unit)", title_justify="left")
    for column in ("currency", "rate", "updated (UTC)"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["currency"]), str(r["rate"]), str(r["updated_at"] or "fixed"))
    app.console.print(table)


@policy.command("set")
@click.argument("param", metavar="PARAM")
@click.argument("value", metavar="VALUE")
@common_options
@signer_options
def set_(app: App, param: str, value: str, sign: Signer) -> None:
    """Set PARAM to VALUE, e.g. `adjustment-enterprise 1.5`."""
    spec = service.parameter_spec(param)
    service.parse_parameter_value(spec, value)  # validate before unlocking the wallet
    client = open_client(app)
    old, new = service.set_parameter(client, sign(), param, value)
    data = {"parameter": spec.slug, "old": service.format_parameter(spec, old),
            "new": service.format_parameter(spec, new), "old_raw": old, "new_raw": new}
    app.emit(data, lambda: app.console.print(f"{spec.slug}: {data['old']} -> {data['new']}"))


set_.help = ("Set PARAM to VALUE, e.g. `adjustment-enterprise 1.5` (factors like 1.75; the day parameters "
             "confirmation-window-days, value-date-max-past-days, value-date-max-future-days, max-term-days in whole "
             f"days, e.g. 30). Takes effect at once for new records, drawdowns and extensions. PARAM: "
             f"{service.PARAMETER_NAMES}.")


@policy.group("fx")
def fx() -> None:
    """FX reference rates (CNY per 1 unit of the currency)."""


@fx.command("set")
@click.argument("pairs", nargs=-1, required=True, metavar="CODE RATE [CODE RATE ...]")
@common_options
@signer_options
def fx_set(app: App, pairs: tuple[str, ...], sign: Signer) -> None:
    """Set reference rates in one transaction, e.g. `USD 7.1234 EUR 7.8 JPY 0.047`."""
    parsed = service.parse_rate_pairs(list(pairs))
    client = open_client(app)
    service.set_rates(client, sign(), parsed)
    rows = [r for r in service.rates(client) if r["currency"] in {c for c, _ in parsed}]
    app.emit(rows, lambda: app.console.print(
        "reference rates set: " + ", ".join(f"{r['currency']} {r['rate']}" for r in rows)))


@fx.command("remove")
@click.argument("code", metavar="CODE")
@common_options
@signer_options
def fx_remove(app: App, code: str, sign: Signer) -> None:
    """Remove the reference rate of CODE (new loans in it are refused)."""
    service.parse_currency_code(code)
    client = open_client(app)
    service.remove_rate(client, sign(), code)
    app.emit({"currency": code.upper(), "removed": True},
             lambda: app.console.print(f"reference rate of {code.upper()} removed"))


@fx.command("list")
@common_options
def fx_list(app: App) -> None:
    """Every reference rate with the time it was set."""
    rows = service.rates(open_client(app))
    app.emit(rows, lambda: _rates_table(app, rows))


@policy.group("type")
def type_() -> None:
    """The financing-type table (weights as factors: 1 = 100 %, 0.2 = 20 %)."""


@type_.command("set")
@click.argument("type_id", metavar="ID")
@click.argument("name", metavar="NAME")
@click.argument("weight", metavar="WEIGHT")
@click.option("--off-balance/--on-balance", default=False, help="off-balance-sheet financing [default: on]")
@common_options
@signer_options
def type_set(app: App, type_id: str, name: str, weight: str, off_balance: bool, sign: Signer) -> None:
    """Create or change financing type ID (1..255) with NAME and WEIGHT (e.g. 0.2)."""
    service.parse_type_id(type_id)
    service.parse_type_name(name)
    parse_bps(weight, "WEIGHT")
    client = open_client(app)
    row = service.set_financing_type(client, sign(), type_id, name, weight, off_balance)
    app.emit(row, lambda: app.console.print(
        f"financing type {row['id']} {escape(str(row['name']))}: weight {format_bps(int(row['weight_bps']))}"
        f", {'off' if off_balance else 'on'}-balance"))


@type_.command("remove")
@click.argument("type_id", metavar="ID")
@common_options
@signer_options
def type_remove(app: App, type_id: str, sign: Signer) -> None:
    """Remove financing type ID (existing loans keep their weight)."""
    service.parse_type_id(type_id)
    client = open_client(app)
    tid = service.remove_financing_type(client, sign(), type_id)
    app.emit({"id": tid, "removed": True}, lambda: app.console.print(f"financing type {tid} removed"))


@type_.command("list")
@common_options
def type_list(app: App) -> None:
    """The financing-type table."""
    rows = service.financing_types(open_client(app))
    app.emit(rows, lambda: _types_table(app, rows))
