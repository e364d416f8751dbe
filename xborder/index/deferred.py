"""Secondary indexes deferred during a fresh backfill.

Every row of `loan_events`, `raw_logs` and `loans` updates each of their secondary indexes as it is
written; a first backfill writes nearly every row of those tables, and building an index once over
them at the end costs a fraction of that (on the bench chain: 11 % less of the indexer's CPU, the
build included; docs/benchmarks.md). So a database's first run drops `DEFERRED` (recording each one's DDL in
`deferred_indexes`, in the transaction that creates the checkpoint) and `build` creates them again
once the run has caught up, in one transaction.

The indexer's own reads during a backfill go through primary keys; the ones that need these indexes
(a rollback's) come after `build`. A reader of a database still being backfilled gets correct, slower
answers. A run that stops early leaves the rows: the next run that catches up builds them.
"""

from __future__ import annotations

import logging
import time

from xborder.index.db import Database

log = logging.getLogger(__name__)

#: The indexes a first backfill builds at its end (none of them serves the indexer's writes).
DEFERRED: tuple[str, ...] = (
    "loan_events_loan", "loan_events_borrower", "loan_events_time", "loan_events_event",
    "raw_logs_event",
    "loans_value_date", "loans_updated", "loans_recorded", "loans_borrower", "loans_creditor", "loans_recorder",
    "loans_currency", "loans_country", "loans_status", "loans_document",
)


def defer(db: Database) -> int:
    """Drop the `DEFERRED` indexes of a database not indexed yet, recording their DDL (inside the
    caller's transaction). Returns how many."""
    marks = ", ".join("?" * len(DEFERRED))
    if db.dialect == "sqlite":
        found = db.query(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks})", DEFERRED)
    else:
        found = db.query(f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                         f"AND indexname IN ({marks})", DEFERRED)
    rows = sorted((str(name), str(ddl)) for name, ddl in found)
    db.executemany("INSERT INTO deferred_indexes (name, ddl) VALUES (?, ?)", rows)
    for name, _ in rows:
        db.execute(f"DROP INDEX {name}")
    return len(rows)


def pending(db: Database) -> list[str]:
    """Names of the indexes still to build."""
    return [str(r[0]) for r in db.query("SELECT name FROM deferred_indexes ORDER BY name")]


def build(db: Database) -> int:
    """Create every deferred index again, in one transaction. Returns how many."""
    rows = db.query("SELECT name, ddl FROM deferred_indexes ORDER BY name")
    if not rows:
        return 0
    started = time.perf_counter()
    with db.transaction():
        for _, ddl in rows:
            db.execute(str(ddl))
        db.execute("DELETE FROM deferred_indexes")
    log.info("built %d indexes deferred during the backfill in %.2fs", len(rows), time.perf_counter() - started)
    return len(rows)
