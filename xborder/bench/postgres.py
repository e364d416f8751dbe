"""Throwaway PostgreSQL for the benchmarks and the tests: a private cluster (initdb + pg_ctl in a
temporary folder on a free port, stopped and deleted on exit) from the Debian packages
`tools/system-deps.sh` installs, or a server given by URL where the user may CREATE DATABASE.

One recipe for everybody: the `query` and `api` bench sections use `postgres_database` (a fresh
database; `XBORDER_BENCH_POSTGRES_URL` names a server to use instead), the test suites
`postgres_server` through tests/python/pg.py (which adds the skip-or-fail rule of the tests and
`XBORDER_TEST_POSTGRES_URL`). Each caller passes the server settings it measures or runs under.
As root the cluster runs as the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from xborder.chain import free_port
from xborder.errors import ConfigurationError

#: Settings for throwaway data nobody needs after a crash (tests, the API load run): no fsync.
EPHEMERAL: Mapping[str, str] = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
START_TIMEOUT = 120  # s: pg_ctl -w -t, and the wait for the first connection


class PostgresUnavailable(ConfigurationError):
    """No PostgreSQL server binaries, or the throwaway cluster did not start."""


@dataclass
class PostgresServer:
    """A server that accepts `CREATE DATABASE` from `admin_url`; `data_dir` is set for a throwaway
    cluster (which `stop` removes)."""

    admin_url: str
    data_dir: Path | None = None
    pg_ctl: Path | None = None
    as_user: list[str] = field(default_factory=list)

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def create_database(self, prefix: str = "xb_") -> str:
        """A fresh empty database; returns its URL."""
        name = f"{prefix}{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop a throwaway cluster and delete its folder (nothing for a given server)."""
        if self.pg_ctl is None or self.data_dir is None:
            return
        subprocess.run([*self.as_user, str(self.pg_ctl), "-D", str(self.data_dir), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl (Debian's /usr/lib/postgresql/<newest>/bin, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _start(settings: Mapping[str, str]) -> PostgresServer:
    bin_dir = pg_bin()
    if bin_dir is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb not under /usr/lib/postgresql/*/bin nor on "
                                  "PATH): run `bash tools/system-deps.sh`, or name a server by URL")
    root = Path(tempfile.mkdtemp(prefix="xborder-pg-"))  # its own folder: the server user must enter it
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    server = PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", root / "data", bin_dir / "pg_ctl",
                            as_user)
    options = " ".join([f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                        *(f"-c {name}={value}" for name, value in settings.items())])
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-o", options,
                        "-l", str(root / "server.log"), "-w", "-t", str(START_TIMEOUT), "start"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        server.stop()
        raise PostgresUnavailable(f"could not start a PostgreSQL cluster: {exc.stderr.decode(errors='replace')}"
                                  f"{log}") from None
    return server


def _wait_for(server: PostgresServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def postgres_server(*, admin_url: str | None = None, settings: Mapping[str, str] = EPHEMERAL) -> Iterator[PostgresServer]:
    """The server at `admin_url`, or a throwaway cluster started with `settings` (server options,
    e.g. {"shared_buffers": "512MB"}) and removed on exit. Raises PostgresUnavailable when no
    cluster can be started."""
    if admin_url:
        yield PostgresServer(admin_url)
        return
    server = _start(settings)
    try:
        _wait_for(server)
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_database(*, settings: Mapping[str, str] = EPHEMERAL) -> Iterator[str]:
    """The URL of a fresh, empty database for a bench section: on the server of
    `XBORDER_BENCH_POSTGRES_URL` (dropped on exit), else on a throwaway cluster with `settings`."""
    with postgres_server(admin_url=os.environ.get("XBORDER_BENCH_POSTGRES_URL"), settings=settings) as server:
        url = server.create_database("xb_bench_")
        try:
            yield url
        finally:
            if server.data_dir is None:
                server.drop_database(url)
