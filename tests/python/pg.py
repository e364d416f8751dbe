"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary folder on a free port.

`XBORDER_TEST_POSTGRES_URL` (a URL to a server where the user may CREATE DATABASE) replaces the
throwaway cluster. Without either, tests that need PostgreSQL are skipped on a workstation and
FAIL under CI (`CI=true`): a missing server must never pass for a green run.

As root, the server runs as the `postgres` user (initdb refuses root); otherwise as the caller.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from xborder.chain import free_port


@dataclass
class PostgresServer:
    """A server that accepts `CREATE DATABASE` from `admin_url`."""

    admin_url: str
    data_dir: Path | None = None
    _pg_ctl: Path | None = None
    _as_user: list[str] | None = None

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def create_database(self) -> str:
        """A fresh empty database; returns its URL."""
        name = f"xb_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._pg_ctl is None or self.data_dir is None:
            return
        subprocess.run([*(self._as_user or []), str(self._pg_ctl), "-D", str(self.data_dir),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}. Install it with "
                    "`bash tools/system-deps.sh` or set XBORDER_TEST_POSTGRES_URL")
    pytest.skip(f"no PostgreSQL: {reason} (set XBORDER_TEST_POSTGRES_URL or install postgresql)")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server of `XBORDER_TEST_POSTGRES_URL`, or a throwaway cluster stopped on exit."""
    url = os.environ.get("XBORDER_TEST_POSTGRES_URL")
    if url:
        yield PostgresServer(admin_url=url)
        return
    bin_dir = _pg_bin()
    if bin_dir is None:
        _missing("initdb not found under /usr/lib/postgresql/*/bin nor on PATH")
        raise AssertionError("unreachable")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="xborder-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data_dir = root / "data"
    port = free_port()
    server = PostgresServer(admin_url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
                            data_dir=data_dir, _pg_ctl=bin_dir / "pg_ctl", _as_user=as_user)
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options,
                        "-l", str(root / "server.log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        server.stop()
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        _missing(f"could not start a cluster: {exc.stderr.decode(errors='replace')}{log}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)
    try:
        yield server
    finally:
        server.stop()
