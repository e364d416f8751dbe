"""A throwaway PostgreSQL cluster for benchmarks (initdb + pg_ctl in a temporary folder on a free
port, stopped and deleted on exit), or the server of `XBORDER_BENCH_POSTGRES_URL`.

The same recipe as the tests' tests/python/pg.py (which may move here): Debian's postgresql
binaries under /usr/lib/postgresql/*/bin; as root the server runs as the `postgres` user."""

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
from pathlib import Path

from xborder.chain import free_port
from xborder.errors import ConfigurationError


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ConfigurationError("the API bench needs PostgreSQL: install it (bash tools/system-deps.sh) or set "
                                 "XBORDER_BENCH_POSTGRES_URL to a server where the user may CREATE DATABASE")
    return Path(initdb).parent


@contextmanager
def postgres_database(*, shared_buffers: str = "512MB") -> Iterator[str]:
    """The URL of a fresh, empty database; dropped (or its whole cluster removed) on exit."""
    import psycopg

    admin = os.environ.get("XBORDER_BENCH_POSTGRES_URL")
    root: Path | None = None
    as_user: list[str] = []
    if admin is None:
        bin_dir = _pg_bin()
        root = Path(tempfile.mkdtemp(prefix="xborder-bench-pg-"))
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres", "postgres")
        port = free_port()
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c shared_buffers={shared_buffers} -c max_connections=200")
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-o", options,
                        "-l", str(root / "server.log"), "-w", "-t", "60", "start"], check=True, capture_output=True)
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    name = f"xb_bench_{uuid.uuid4().hex[:10]}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        if root is not None:
            subprocess.run([*as_user, str(_pg_bin() / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
                           capture_output=True, check=False)
            shutil.rmtree(root, ignore_errors=True)
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
