-- The regulator's read side: every event of InstitutionRegistry, MacroPrudentialPolicy and
-- LoanLedger, in chain order. One schema for SQLite and PostgreSQL (portable SQL only).
--
-- Reorg rule: every row carries the block it came from. History tables (*_events, *_changes) are
-- append-only, so rolling back to block N is `DELETE ... WHERE block_number > N`; the current-state
-- tables (institutions, wallets, loans) carry `updated_block` and are restored from their history
-- tables (whose rows hold the state after each event).
--
-- Conventions: addresses and hashes are lowercase 0x-hex TEXT; codes (currency, jurisdiction,
-- identifier) are ASCII TEXT; times are unix seconds; amounts are integers in 1/100 of the unit
-- (loan currency, or CNY for capital base, balances and limits).

CREATE TABLE checkpoint (
    id INTEGER PRIMARY KEY,
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL
);

CREATE TABLE indexed_contracts (
    name TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    start_block BIGINT NOT NULL
);

-- Every block that holds an indexed event, plus the checkpoint's own hash in `checkpoint`.
CREATE TABLE blocks (
    block_number BIGINT PRIMARY KEY,
    block_hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL
);

-- ---------------------------------------------------------------- registry

CREATE TABLE institutions (
    institution_id BIGINT PRIMARY KEY,
    kind SMALLINT NOT NULL,
    identifier TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    name TEXT NOT NULL,
    status SMALLINT NOT NULL,
    capital_base NUMERIC(20, 0) NOT NULL,
    admin TEXT NOT NULL,
    registered_block BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    updated_block BIGINT NOT NULL
);
CREATE INDEX institutions_updated ON institutions (updated_block);
CREATE INDEX institutions_jurisdiction ON institutions (jurisdiction);

-- Registered / status changed / capital base updated / admin changed, with the state after each.
CREATE TABLE institution_events (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    institution_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    status SMALLINT NOT NULL,
    capital_base NUMERIC(20, 0) NOT NULL,
    admin TEXT NOT NULL,
    old_value TEXT,
    by_wallet TEXT,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX institution_events_institution ON institution_events (institution_id, block_number, log_index);

CREATE TABLE wallets (
    wallet TEXT PRIMARY KEY,
    institution_id BIGINT NOT NULL,
    active SMALLINT NOT NULL,
    updated_block BIGINT NOT NULL
);
CREATE INDEX wallets_institution ON wallets (institution_id);
CREATE INDEX wallets_updated ON wallets (updated_block);

CREATE TABLE wallet_events (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    wallet TEXT NOT NULL,
    institution_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    by_wallet TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX wallet_events_wallet ON wallet_events (wallet, block_number, log_index);

-- ---------------------------------------------------------------- policy

CREATE TABLE parameter_changes (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    parameter SMALLINT NOT NULL,
    name TEXT NOT NULL,
    old_value NUMERIC(78, 0) NOT NULL,
    new_value NUMERIC(78, 0) NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX parameter_changes_parameter ON parameter_changes (parameter, block_number, log_index);

-- FX reference rates: CNY per 1 unit x 1e8 (0 = currency removed).
CREATE TABLE reference_rate_changes (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    currency TEXT NOT NULL,
    old_rate NUMERIC(20, 0) NOT NULL,
    new_rate NUMERIC(20, 0) NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX reference_rate_changes_currency ON reference_rate_changes (currency, block_number, log_index);

CREATE TABLE financing_type_changes (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    type_id INTEGER NOT NULL,
    name TEXT,
    old_weight_bps INTEGER NOT NULL,
    weight_bps INTEGER NOT NULL,
    old_off_balance SMALLINT NOT NULL,
    off_balance SMALLINT NOT NULL,
    removed SMALLINT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX financing_type_changes_type ON financing_type_changes (type_id, block_number, log_index);

-- ---------------------------------------------------------------- ledger

CREATE TABLE loans (
    loan_id BIGINT PRIMARY KEY,
    borrower BIGINT NOT NULL,
    creditor BIGINT NOT NULL,
    recorder BIGINT NOT NULL,
    currency TEXT NOT NULL,
    financing_type INTEGER NOT NULL,
    principal NUMERIC(20, 0) NOT NULL,
    rate NUMERIC(20, 0) NOT NULL,
    value_date BIGINT NOT NULL,
    document_hash TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    recorded_block BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    recorded_tx TEXT NOT NULL,
    status SMALLINT NOT NULL,
    drawn NUMERIC(20, 0) NOT NULL,
    outstanding NUMERIC(20, 0) NOT NULL,
    maturity_date BIGINT NOT NULL,
    weight_bps BIGINT NOT NULL,
    -- this loan's share of its borrower's risk-weighted balance (0 unless Active), CNY minor units
    contribution NUMERIC(40, 0) NOT NULL,
    updated_block BIGINT NOT NULL
);
CREATE INDEX loans_borrower ON loans (borrower, status, currency, outstanding);
CREATE INDEX loans_creditor ON loans (creditor, status);
CREATE INDEX loans_currency ON loans (currency, value_date);
CREATE INDEX loans_value_date ON loans (value_date);
CREATE INDEX loans_updated ON loans (updated_block);

-- Every loan event in chain order, with the loan's state and the borrower's risk-weighted
-- balance after it.
CREATE TABLE loan_events (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    loan_id BIGINT NOT NULL,
    borrower BIGINT NOT NULL,
    event TEXT NOT NULL,
    amount NUMERIC(20, 0),
    by_institution BIGINT,
    wallet TEXT,
    status SMALLINT NOT NULL,
    drawn NUMERIC(20, 0) NOT NULL,
    outstanding NUMERIC(20, 0) NOT NULL,
    maturity_date BIGINT NOT NULL,
    weight_bps BIGINT NOT NULL,
    contribution NUMERIC(40, 0) NOT NULL,
    borrower_balance NUMERIC(40, 0) NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX loan_events_loan ON loan_events (loan_id, block_number, log_index);
CREATE INDEX loan_events_borrower ON loan_events (borrower, block_number, log_index);
CREATE INDEX loan_events_time ON loan_events (block_time);

-- Each borrower's risk-weighted balance after every change (the ledger's events carry it).
CREATE VIEW exposures AS
    SELECT borrower, block_number, log_index, block_time, loan_id, event, borrower_balance
    FROM loan_events;
