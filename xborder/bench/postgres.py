"""A throwaway PostgreSQL server for the benchmark (initdb + pg_ctl on a free port, removed after),
from the Debian packages `tools/system-deps.sh` installs. As root it runs as `postgres`.
`XBORDER_BENCH_POSTGRES_URL` (a server where the user may CREATE DATABASE) replaces it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from xborder.chain import free_port


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A URL of a fresh, empty database on a private server (stopped and deleted on exit)."""
    given = os.environ.get("XBORDER_BENCH_POSTGRES_URL")
    if given:
        name = f"xb_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(given, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{given.rpartition('/')[0]}/{name}"
        finally:
            with psycopg.connect(given, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries: run `bash tools/system-deps.sh` (or set "
                           "XBORDER_BENCH_POSTGRES_URL)")
    bin_dir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="xborder-bench-pg-"))  # its own: the server user must enter it
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c shared_buffers=256MB "
               "-c synchronous_commit=off -c max_wal_size=4GB")
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"),
                    "-w", "-t", "120", "start"], check=True, capture_output=True)
    try:
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "bench"')
        yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True,
                       check=False)
        shutil.rmtree(folder, ignore_errors=True)
