"""`xborder demo`: the main job, end to end, on the embedded chain (or, with `--network N`, on a fresh
local N-node geth network, each institution through its own node)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from xborder.cli.context import App, common_options
from xborder.demo import DemoConfig, run_demo, summary_lines, write_report
from xborder.errors import ValidationError
from xborder.interrupts import unwind_on_stop_signals


class RateColumn(ProgressColumn):
    """Items per second of a task (rich's own speed estimate)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")


class RichReporter:
    """Progress bars on stderr, one per long step (`rates`: with items per second)."""

    def __init__(self, app: App, rates: bool = False) -> None:
        self.app = app
        columns: list[ProgressColumn] = [TextColumn("{task.description:<52}"), BarColumn(), MofNCompleteColumn(),
                                         TimeElapsedColumn()]
        self.progress = Progress(*columns, *([RateColumn()] if rates else []), console=app.err, transient=False)

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def phase(self, title: str, total: int) -> Callable[[int, int], None]:
        task = self.progress.add_task(title, total=max(total, 1))
        if total == 0:
            self.progress.update(task, completed=1)

        def advance(done: int, total_now: int) -> None:
            self.progress.update(task, completed=done, total=max(total_now, 1))

        return advance

    def say(self, message: str) -> None:
        self.progress.console.print(message)


@click.command("demo")
@click.option("--seed", type=int, default=2019, show_default=True, help="the workload's random seed")
@click.option("--loans", type=click.IntRange(10, 100_000), default=6370, show_default=True,
              help="cross-border financing transactions to submit")
@click.option("--enterprises", type=click.IntRange(5, 20_000), default=1262, show_default=True)
@click.option("--network", "network_nodes", type=click.IntRange(2, 16), default=None, metavar="N",
              help="run on a fresh local N-node geth (clique) network, each institution through its own node "
                   "(smaller workload unless --loans is given)")
@click.option("--scale", "scale", type=click.Choice(["2022"]), default=None,
              help="the platform at its February 2022 size (~300 banks, ~12,000 enterprises, ~230,000 loan "
                   "transactions, ~USD 140 bn, Mar 2019 - Feb 2022 on the real PBOC/SAFE calendar)")
@click.option("--fraction", type=click.FloatRange(0.0001, 1.0, min_open=True), default=1.0, show_default=True,
              help="with --scale: run the same code at this fraction of the size (e.g. 0.02)")
@click.option("--resume", is_flag=True, help="with --scale: continue an interrupted run on the same chain "
                                            "(nothing is recorded twice)")
@common_options
def demo(app: App, seed: int, loans: int, enterprises: int, network_nodes: int | None, scale: str | None,
         fraction: float, resume: bool) -> None:
    """Run the whole platform on a SAFE-2019-sized workload and print the regulator's report.

    Starts (afresh) the embedded chain, deploys, onboards ~1,400 institutions, records ~6,400
    loans from their own DEMO-ONLY derived wallets, indexes everything into SQLite, writes the
    dashboard, and leaves chain and database running for you to explore. With `--scale 2022`, the
    platform at its February 2022 size across the real policy calendar (`--fraction` to shrink it)."""
    if scale is not None:
        _scale_demo(app, seed if click.get_current_context().get_parameter_source("seed")
                    != click.core.ParameterSource.DEFAULT else 2022, fraction, resume)
        return
    if fraction != 1.0 or resume:
        given = "--fraction" if fraction != 1.0 else "--resume"
        raise ValidationError(f"{given}: goes with --scale 2022 (the 2019 demo always starts afresh at full size)",
                              field=given, value=fraction if fraction != 1.0 else True, allowed="--scale 2022")
    node_of = None
    if network_nodes is not None:
        from xborder.demo import network

        if click.get_current_context().get_parameter_source("loans") == click.core.ParameterSource.DEFAULT:
            loans, enterprises = network.NETWORK_LOANS, network.NETWORK_ENTERPRISES
            app.note(f"network demo: a smaller workload ({loans:,} loans, {enterprises:,} enterprises) because "
                     f"{network.DEMO_NETWORK_PERIOD}s blocks make the full one long; pass --loans 6370 for the full one")
        app.note(f"starting a {network_nodes}-node geth network in {app.settings.data_dir / 'network'} ...")
        app.settings, node_of = network.start_network(app.settings, network_nodes)
    config = replace(DemoConfig(), seed=seed, loans=loans, enterprises=enterprises,
                     total_usd=6.8e9 * loans / 6370)
    with unwind_on_stop_signals(), RichReporter(app) as reporter:
        result = run_demo(app.settings, config, reporter, node_of=node_of)
    report = write_report(result, app.settings.data_dir / "demo-report.json")

    def human() -> None:
        c = app.console
        c.rule("xborder — the regulator's report")
        for line in summary_lines(result):
            c.print(line)
        c.rule("timings (s)")
        c.print("  ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
                + f"   workload total {sum(v for k, v in result.timings.items() if k not in ('keystores',)):.1f}")
        c.rule("explore")
        stop = "xborder network down" if network_nodes is not None else "xborder chain stop"
        c.print(f"chain: {result.rpc_url} (still running; `{stop}` to stop it)")
        c.print(f"index: {result.database}; full report: {report}")
        if result.dashboard:
            c.print(f"dashboard: open file://{result.dashboard} in a browser, or run `xborder serve` "
                    "and open http://127.0.0.1:8000")
        c.print("try: xborder report exposure --limit 10 | xborder report summary | xborder loan show <id> | xborder institution list | "
                "xborder policy show")
        if result.password_file:
            c.print(f"wallets {', '.join(result.wallets)} have keystores; their DEMO password is in "
                    f"{result.password_file}: e.g. xborder loan draw ... --wallet demo-bank "
                    f"--password-file {result.password_file}")

    app.emit(result.to_json(), human)


def _scale_demo(app: App, seed: int, fraction: float, resume: bool) -> None:
    from xborder.demo.result import scale_lines
    from xborder.demo.scale import ScaleConfig, run_scale

    config = ScaleConfig(seed=seed, fraction=fraction, resume=resume)
    with unwind_on_stop_signals(), RichReporter(app, rates=True) as reporter:
        result = run_scale(app.settings, config, reporter)
    report = write_report(result, app.settings.data_dir / "demo-scale-2022-report.json")

    def human() -> None:
        c = app.console
        c.rule(f"xborder at its 2022 size{'' if fraction == 1.0 else f' (fraction {fraction:g})'} — the regulator's report")
        for line in scale_lines(result):
            c.print(line)
        c.rule("timings (s)")
        c.print("  ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
                + f"   workload total {sum(result.timings.values()):.1f}")
        tx, loans_s = result.policy.get("transactions", {}).get("total", 0), result.timings.get("loans", 0.0)
        c.print("loans phase by step: " + "  ".join(f"{k} {v:.1f}" for k, v in result.policy.get("loan_steps", {}).items())
                + (f"   ({tx / loans_s:,.0f} loan transactions/s)" if loans_s else ""))
        c.print(f"chain: {result.rpc_url} (still running; `xborder chain stop` to stop it); index: {result.database}; "
                f"full report: {report}")

    app.emit(result.to_json(), human)
