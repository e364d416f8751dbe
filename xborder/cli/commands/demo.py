"""`xborder demo`: the main job, end to end, on the embedded chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from xborder.cli.context import App, common_options
from xborder.services.demo import DemoConfig, run_demo, summary_lines, write_report


class RichReporter:
    """Progress bars on stderr, one per long step."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.progress = Progress(TextColumn("{task.description:<52}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=app.err, transient=False)

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
@common_options
def demo(app: App, seed: int, loans: int, enterprises: int, network_nodes: int | None) -> None:
    """Run the whole platform on a SAFE-2019-sized workload and print the regulator's report.

    Starts (afresh) the embedded chain, deploys, onboards ~1,400 institutions, records ~6,400
    loans from their own DEMO-ONLY derived wallets, indexes everything into SQLite, writes the
    dashboard, and leaves chain and database running for you to explore."""
    node_of = None
    if network_nodes is not None:
        from xborder.cli.commands.network_demo import demo_network
        loans, enterprises, app.settings, node_of = demo_network(app, network_nodes, loans, enterprises)
    config = replace(DemoConfig(), seed=seed, loans=loans, enterprises=enterprises,
                     total_usd=6.8e9 * loans / 6370)
    with RichReporter(app) as reporter:
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
        c.print(f"chain: {result.rpc_url} (still running; `xborder chain stop` to stop it)")
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
