-- Secondary indexes a fresh backfill builds once, after its last batch, instead of updating them
-- row by row (`xborder.index.deferred`): one row per index dropped at the first run, with the DDL
-- that creates it again. Empty once built; rows left by a run that stopped before the end are built
-- by the next run that catches up (or before a rollback, which reads through them).
CREATE TABLE deferred_indexes (
    name TEXT PRIMARY KEY,
    ddl TEXT NOT NULL
);
