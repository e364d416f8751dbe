"""One small database layer over SQLite (the default: a file, nothing to install) and PostgreSQL.

SQL in this package is written once, with `?` placeholders, in the dialect both engines share;
`Database` translates placeholders for PostgreSQL. The schema is created and migrated by
`migrate()`: numbered SQL files in `xborder/index/migrations/` and a `schema_migrations` table.

Integers: amounts are uint64 and balances uint128 on chain. PostgreSQL stores them exactly as
NUMERIC; SQLite stores them as 64-bit integers (exact up to 2**63 - 1, i.e. 92 quadrillion yuan).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

from xborder.errors import ConfigurationError, XborderError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_INT64_MAX = 2**63 - 1
#: SQLite: rows per INSERT statement. One statement of many rows binds as many values but runs its
#: setup once: 0.152 -> 0.135 s for the 31,697 raw logs of the bench chain. Within the variables a
#: statement may have (`SQLITE_LIMIT_VARIABLE_NUMBER`: 32,766 since SQLite 3.32, 999 before).
_ROWS_PER_INSERT = 200
#: First schema version with the raw log table: an older index with data cannot be upgraded.
AUDIT_TRAIL_VERSION = 3
#: First schema version of the v2 ledger's events: an index of a v1 ledger holds v1 raw logs.
LEDGER_V2_VERSION = 4
#: pg_try_advisory_lock key of the one writer of an index database ("xbindex" + 1).
WRITER_LOCK_KEY = int.from_bytes(b"xbindex\x01", "big")

Row = tuple[Any, ...]


class IndexDatabaseError(XborderError, RuntimeError):
    """The index database cannot be opened, migrated or written."""

    exit_code = 8


class IndexBusy(IndexDatabaseError):
    """Another indexer is writing to this index database."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ConfigurationError(f"{path}: migration files are named NNNN_snake_name.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ConfigurationError(f"{folder}: migration numbers must run 1, 2, 3 ... without gaps: {versions}")
    return migrations


def _split_statements(sql: str) -> list[str]:
    # The migrations hold no procedural code, so `;` at a line end always ends a statement.
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [stmt.strip() for stmt in re.split(r";\s*(?:\n|$)", body) if stmt.strip()]


@dataclass
class Database:
    """An open connection to the index database; `dialect` is "sqlite" or "postgresql"."""

    url: str
    dialect: str
    _conn: Any = field(repr=False)
    _in_tx: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ plumbing

    def _sql(self, sql: str) -> str:
        if self.dialect == "postgresql":
            return sql.replace("%", "%%").replace("?", "%s")
        return sql

    @staticmethod
    def _fix_sqlite(params: Sequence[Any]) -> Sequence[Any]:
        # sqlite3 cannot bind ints beyond int64; such figures are stored approximately (see module doc).
        if any(type(p) is int and (p > _INT64_MAX or p < -_INT64_MAX) for p in params):
            return [str(p) if type(p) is int and abs(p) > _INT64_MAX else p for p in params]
        return params

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.dialect == "sqlite":
            self._conn.execute(sql, self._fix_sqlite(params))
        else:
            self._conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.dialect == "sqlite":
            # All the rows or none. The rows bound before an integer past 64 bits are written
            # already: undone to the savepoint, then every row again with such integers as text.
            self._conn.execute("SAVEPOINT xborder_many")
            try:
                try:
                    self._conn.executemany(sql, rows)
                except OverflowError:
                    self._conn.execute("ROLLBACK TO xborder_many")
                    self._conn.executemany(sql, [self._fix_sqlite(r) for r in rows])
            except BaseException:
                self._conn.execute("ROLLBACK TO xborder_many")
                self._conn.execute("RELEASE xborder_many")
                raise
            self._conn.execute("RELEASE xborder_many")
        else:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append `rows` (values in the order of `columns`) to `table`: one `executemany` on SQLite,
        one `COPY ... FROM STDIN` on PostgreSQL (an INSERT per row is a round trip of the pipeline
        each: ~2,000 rows/s, the 1M-loan index took hours)."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        if self.dialect == "sqlite":
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            one = f"({', '.join('?' * len(columns))})"
            per = min(_ROWS_PER_INSERT, self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
            full = len(rows) // per * per if per > 1 else 0
            if full:
                self.executemany(head + ", ".join([one] * per),
                                 [tuple(chain.from_iterable(rows[i:i + per])) for i in range(0, full, per)])
            if full < len(rows):
                self.executemany(head + one, rows[full:])
            return
        with self._conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.dialect == "sqlite":
            return list(self._conn.execute(sql, self._fix_sqlite(params)).fetchall())
        with self._conn.cursor() as cur:
            cur.execute(self._sql(sql), params)
            return [tuple(_plain(v) for v in row) for row in cur.fetchall()] if cur.description else []

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def columns(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Row]]:
        """Column names and rows of a query (for CSV export and JSON)."""
        if self.dialect == "sqlite":
            cur = self._conn.execute(sql, self._fix_sqlite(params))
            return [d[0] for d in cur.description], list(cur.fetchall())
        with self._conn.cursor() as cur:
            cur.execute(self._sql(sql), params)
            return ([d.name for d in cur.description],
                    [tuple(_plain(v) for v in row) for row in cur.fetchall()])

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One database transaction: everything inside commits together or not at all."""
        if self._in_tx:
            raise IndexDatabaseError("nested transaction: the indexer commits each batch exactly once")
        self._in_tx = True
        try:
            if self.dialect == "postgresql":
                with self._conn.transaction():
                    yield self
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._conn.rollback()
                    raise
                self._conn.commit()
        finally:
            self._in_tx = False

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ one writer

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Be the only writer of this database while inside, or raise IndexBusy at once.

        PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`), released when this
        connection ends however the process ends. SQLite: an exclusive `flock` on
        `<database file>.writer.lock` (released by the kernel when the process dies); the file
        holds who took it, for the message. Readers (reports, the API) take no lock."""
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
        if self.dialect == "postgresql":
            self.execute("SELECT set_config('application_name', ?, false)", (f"xborder indexer, {holder}"[:63],))
            row = self.query_one("SELECT pg_try_advisory_lock(?)", (WRITER_LOCK_KEY,))
            if not row or not row[0]:
                other = self.query_one(
                    "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = ? AND l.objid::bigint = ? LIMIT 1",
                    (WRITER_LOCK_KEY >> 32, WRITER_LOCK_KEY & 0xFFFFFFFF))
                who = f" ({other[0]}, from {other[1] or 'a local socket'})" if other else ""
                raise IndexBusy(f"another indexer is already writing to the index database {redact(self.url)}"
                                f"{who}: stop it before starting another (one writer per index)")
            try:
                yield
            finally:
                self.execute("SELECT pg_advisory_unlock(?)", (WRITER_LOCK_KEY,))
            return
        path = self.url.removeprefix("sqlite:///")
        if path == ":memory:":
            yield
            return
        lock_path = Path(path + ".writer.lock")
        with lock_path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                who = handle.read().strip()
                raise IndexBusy(f"another indexer is already writing to the index database {redact(self.url)}"
                                f"{f' ({who})' if who else ''}: stop it before starting another (one writer "
                                f"per index; lock file {lock_path})") from None
            handle.seek(0)
            handle.truncate()
            handle.write(holder + "\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def schema_version(self) -> int:
        if not self.table_exists("schema_migrations"):
            return 0
        row = self.query_one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    def table_exists(self, name: str) -> bool:
        if self.dialect == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?"
        else:
            sql = ("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                   "AND table_name = ?")
        return self.query_one(sql, (name,)) is not None

    def _refuse_old_index(self, current: int, newest: int) -> None:
        """An index with data that a migration cannot carry forward: refused with what to do."""
        if not (0 < current < newest and self.table_exists("checkpoint") and self.query_one("SELECT 1 FROM checkpoint")):
            return
        if current < AUDIT_TRAIL_VERSION <= newest:
            raise IndexDatabaseError(
                f"the index database {redact(self.url)} was built by an older xborder (schema {current}) without "
                "the raw log table, so it cannot be upgraded: index into a new database (delete this one or "
                "pass another --database-url) and run `xborder index run` again")
        if current < LEDGER_V2_VERSION <= newest:
            raise IndexDatabaseError(
                f"the index database {redact(self.url)} was built by an older xborder (schema {current}) from a v1 "
                "ledger, whose events this xborder does not read, so it cannot be upgraded: index the v2 "
                "deployment into a new database (delete this one or pass another --database-url)")

    def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply every migration not applied yet, each in its own transaction; return their numbers."""
        migrations = load_migrations() if migrations is None else migrations
        with self.transaction():
            self.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        applied = []
        current = self.schema_version()
        newest = max((m.version for m in migrations), default=0)
        if current > newest:
            raise IndexDatabaseError(
                f"the index database {redact(self.url)} has schema version {current}, newer than this "
                f"xborder ({newest}): upgrade xborder or index into a new database")
        self._refuse_old_index(current, newest)
        for migration in migrations:
            if migration.version <= current:
                continue
            with self.transaction():
                if self.dialect == "postgresql":  # one migrator at a time
                    self.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
                    if self.query_one("SELECT 1 FROM schema_migrations WHERE version = ?",
                                      (migration.version,)):
                        continue
                for statement in _split_statements(migration.sql):
                    self.execute(statement)
                self.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                             "VALUES (?, ?, CURRENT_TIMESTAMP)", (migration.version, migration.name))
            log.info("index database migrated to version %d (%s)", migration.version, migration.name)
            applied.append(migration.version)
        return applied


def _plain(value: Any) -> Any:
    # PostgreSQL NUMERIC arrives as Decimal; the figures here are integers.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open `sqlite:///path` (the parent folder is created) or `postgresql://...`; migrate it."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")  # sqlite:////abs/path or sqlite:///relative/path
        if not path:
            raise ConfigurationError(f"{url!r} names no file: use sqlite:///path/to/index.db")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives any process crash
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA cache_size=-65536")
        db = Database(url=url, dialect="sqlite", _conn=conn)
    elif url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        import psycopg

        dsn = re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)
        try:
            pg_conn = psycopg.connect(dsn, connect_timeout=10, autocommit=True)
        except psycopg.OperationalError as exc:
            raise IndexDatabaseError(
                f"cannot connect to PostgreSQL at {redact(url)}: {str(exc).strip()}; check the URL "
                "(--database-url / XBORDER_DATABASE_URL) and that the server runs") from None
        db = Database(url=url, dialect="postgresql", _conn=pg_conn)
    else:
        raise ConfigurationError(
            f"unsupported index database URL {redact(url)!r}: use sqlite:///path/to/index.db or "
            "postgresql://user:password@host:port/database")
    if migrate:
        db.migrate()
    return db
