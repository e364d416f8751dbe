"""Entry point: `xborder [global options] <group> <verb> ...`.

Exit codes: 0 ok; 1 unexpected failure; 2 bad input (usage, validation, configuration);
3 compile error; 4 node unreachable or wrong chain; 5 no deployment; 6 wallet or password;
7 transaction refused by the contracts (reason decoded); 130 interrupted.
Every non-zero exit prints one line `xborder: error: <reason>` on stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from xborder.cli.context import App
from xborder.config import Settings
from xborder.errors import XborderError

log = logging.getLogger("xborder")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="XBORDER_DATA_DIR",
              default=None, help="working folder: embedded chain, index DB [default: ./.xborder]")
@click.option("--keystore-dir", type=click.Path(path_type=Path), envvar="XBORDER_KEYSTORE_DIR",
              default=None, help="folder of encrypted keystores [default: <data-dir>/keystores]")
@click.option("--deployments-dir", type=click.Path(path_type=Path), envvar="XBORDER_DEPLOYMENTS_DIR",
              default=None, help="folder of deployment manifests [default: ./deployments]")
@click.option("--database-url", envvar="XBORDER_DATABASE_URL", default=None,
              help="index database: sqlite:///path or postgresql://... [default: SQLite in data-dir]")
@click.option("-v", "--verbose", count=True, help="log more (-vv for debug)")
@click.version_option(package_name="xborder")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, keystore_dir: Path | None,
        deployments_dir: Path | None, database_url: str | None, verbose: int) -> None:
    """xborder: cross-border financing registry with on-chain macro-prudential limits."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    settings = Settings.from_env(
        data_dir=data_dir.resolve() if data_dir else None,
        keystore_dir=keystore_dir.resolve() if keystore_dir else None,
        deployments_dir=deployments_dir.resolve() if deployments_dir else None,
        database_url=database_url,
    )
    ctx.obj = App(settings=settings)


def _register_commands() -> None:
    from xborder.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        cli.main(args=argv, prog_name="xborder", standalone_mode=False)
    except XborderError as exc:
        first = str(exc).strip().splitlines()
        sys.stderr.write(f"xborder: error: {' '.join(line.strip() for line in first) if first else type(exc).__name__}\n")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("xborder: error: interrupted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("xborder: error: interrupted\n")
        sys.exit(130)
    except click.ClickException as exc:
        sys.stderr.write(f"xborder: error: {exc.format_message()}\n")
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
