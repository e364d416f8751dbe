-- The index as a complete audit trail (issue #13) and a read side that answers at 2022 size
-- (issue #14). A database indexed by an older xborder (schema 1 or 2, with a checkpoint) is not
-- upgraded in place: it has no raw logs to rebuild from; `db.migrate` says to index anew.
--
-- Binary payloads (topics, data) are BYTEA: PostgreSQL's bytea, and in SQLite a column of NUMERIC
-- affinity that keeps blobs as they are. Hashes stay lowercase 0x-hex TEXT like everywhere else.

-- ---------------------------------------------------------------- which chain, which deployment

-- Recorded at the first run, checked at every run and by every report: an index of another chain
-- (chain id, or the same id with another genesis block or another first indexed block, i.e. the
-- block the deployment starts in) or of another deployment is refused.
CREATE TABLE chain_identity (
    id INTEGER PRIMARY KEY,
    chain_id BIGINT NOT NULL,
    genesis_hash TEXT NOT NULL,
    first_block BIGINT NOT NULL,
    first_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);

-- The contracts' ABIs, so the raw logs can be decoded (and the projection rebuilt) from the
-- database alone.
ALTER TABLE indexed_contracts ADD COLUMN abi TEXT;

-- ---------------------------------------------------------------- the audit trail

-- Every log the three contracts emitted, exactly as eth_getLogs returns it, with its decoded event
-- name (NULL when the ABI does not know its topic0). Written in the same transaction as the
-- projection; removed by a reorg exactly like the projected rows. The domain tables are a
-- projection of this table (`xborder index reproject` rebuilds them from it).
CREATE TABLE raw_logs (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    tx_index INTEGER NOT NULL,
    address TEXT NOT NULL,
    contract TEXT NOT NULL,
    event TEXT,
    topic0 BYTEA,
    topic1 BYTEA,
    topic2 BYTEA,
    topic3 BYTEA,
    data BYTEA NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX raw_logs_event ON raw_logs (contract, event, block_number, log_index);

-- Logs per contract and event (event = the decoded name, or `topic0:0x...` when unknown), kept by
-- the indexer in the same transaction: what `report consistency` compares with the node.
CREATE TABLE log_counts (
    contract TEXT NOT NULL,
    event TEXT NOT NULL,
    logs BIGINT NOT NULL,
    PRIMARY KEY (contract, event)
);

-- ---------------------------------------------------------------- loans: keyset listings

-- The creditor's jurisdiction, copied at recording (it never changes), so listings filter on it
-- without a join.
ALTER TABLE loans ADD COLUMN creditor_country TEXT NOT NULL DEFAULT '';

-- Listings are newest first, (recorded_block, loan_id) descending, paged by keyset on that pair:
-- one index per filter, with the pair behind it.
DROP INDEX loans_borrower;
DROP INDEX loans_creditor;
DROP INDEX loans_currency;
CREATE INDEX loans_recorded ON loans (recorded_block, loan_id);
CREATE INDEX loans_borrower ON loans (borrower, recorded_block, loan_id);
CREATE INDEX loans_creditor ON loans (creditor, recorded_block, loan_id);
CREATE INDEX loans_recorder ON loans (recorder, recorded_block, loan_id);
CREATE INDEX loans_currency ON loans (currency, recorded_block, loan_id);
CREATE INDEX loans_country ON loans (creditor_country, recorded_block, loan_id);
CREATE INDEX loans_status ON loans (status, recorded_block, loan_id);

CREATE INDEX loan_events_event ON loan_events (event, block_number, log_index);

-- ---------------------------------------------------------------- summary tables

-- Loans by dimension (currency, creditor_country, financing_type, bank = the recorder, creditor,
-- currency_country = "USD|HK": the pair the listings filter on together), group, currency (''
-- for the groupings other than currency and currency_country) and status: count and sums of the
-- loans' current state. Kept by the projection from each loan's state before and after every
-- batch (and undone the same way by a reorg).
-- outstanding_cny: sum over loans of ceil(outstanding x rate / 1e8), CNY minor units.
CREATE TABLE loan_totals (
    dimension TEXT NOT NULL,
    group_key TEXT NOT NULL,
    currency TEXT NOT NULL,
    status SMALLINT NOT NULL,
    loans BIGINT NOT NULL,
    principal NUMERIC(40, 0) NOT NULL,
    drawn NUMERIC(40, 0) NOT NULL,
    outstanding NUMERIC(40, 0) NOT NULL,
    outstanding_cny NUMERIC(40, 0) NOT NULL,
    contribution NUMERIC(40, 0) NOT NULL,
    PRIMARY KEY (dimension, group_key, currency, status)
);

-- Drawdowns, repayments and recordings per day and month (UTC, block time) and currency; the
-- CNY figures are each event's amount at its rate, rounded up as the ledger does.
CREATE TABLE volume_buckets (
    period TEXT NOT NULL,
    bucket TEXT NOT NULL,
    currency TEXT NOT NULL,
    drawn NUMERIC(40, 0) NOT NULL,
    repaid NUMERIC(40, 0) NOT NULL,
    loans_recorded BIGINT NOT NULL,
    drawn_cny NUMERIC(40, 0) NOT NULL,
    repaid_cny NUMERIC(40, 0) NOT NULL,
    PRIMARY KEY (period, bucket, currency)
);

-- Loan events by event name and loan currency (the totals of the event listings).
CREATE TABLE event_counts (
    event TEXT NOT NULL,
    currency TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (event, currency)
);

-- Every institution that can borrow (or ever borrowed): the risk-weighted balance after its last
-- loan event, its limit under the current parameters, headroom and utilisation, and sort keys for
-- the rankings (all ascending, so a keyset page is one index range):
--   util_rank    = -utilisation (1.0 when the borrower has no limit: after everyone else)
--   balance_rank = -balance
CREATE TABLE borrower_positions (
    borrower BIGINT PRIMARY KEY,
    kind SMALLINT NOT NULL,
    status SMALLINT NOT NULL,
    capital_base NUMERIC(20, 0) NOT NULL,
    balance NUMERIC(40, 0) NOT NULL,
    limit_cny NUMERIC(40, 0) NOT NULL,
    headroom NUMERIC(40, 0) NOT NULL,
    utilisation DOUBLE PRECISION,
    util_rank DOUBLE PRECISION NOT NULL,
    balance_rank NUMERIC(40, 0) NOT NULL,
    no_limit SMALLINT NOT NULL,
    loans BIGINT NOT NULL,
    active_loans BIGINT NOT NULL
);
CREATE INDEX borrower_positions_util ON borrower_positions (util_rank, balance_rank, borrower);
CREATE INDEX borrower_positions_balance ON borrower_positions (balance_rank, borrower);
CREATE INDEX borrower_positions_headroom ON borrower_positions (no_limit, headroom, borrower);

-- A borrower's Active loans by currency (its exposure page).
CREATE TABLE borrower_currency (
    borrower BIGINT NOT NULL,
    currency TEXT NOT NULL,
    active_loans BIGINT NOT NULL,
    outstanding NUMERIC(40, 0) NOT NULL,
    PRIMARY KEY (borrower, currency)
);
