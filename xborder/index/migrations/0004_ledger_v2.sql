-- Ledger v2 (issue #10): both sides consent, drawdown-date FX and weight, write-offs confirmed by the
-- regulator, expiry of unconsented loans, regulator controls, agents, signature epochs. A database
-- indexed from a v1 ledger (schema 3 with a checkpoint) is not upgraded in place: its raw logs are
-- v1 events; `db.migrate` says to index anew.
--
-- Scales as before (docs/contracts.md): loan amounts in 1/100 of the loan currency; contributions,
-- balances and *_cny in CNY minor units; rates CNY per unit x 1e8; weights in bps.

-- ---------------------------------------------------------------- registry

-- The signature epoch (SignatureEpochChanged): consents signed at an older epoch are void.
ALTER TABLE institutions ADD COLUMN signature_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE institution_events ADD COLUMN signature_epoch INTEGER NOT NULL DEFAULT 0;

-- ---------------------------------------------------------------- loans

-- v2 loans carry no rate at recording: every drawdown converts at the rate of its block and weighs
-- with the policy of its block (LoanDrawn.rate, .weightBps, .contributionAdded). So `loans.rate` and
-- `loans.weight_bps` now hold those of the loan's LATEST drawdown (0 before the first one), and
-- `loans.contribution` is the sum of the events' contributionAdded less their contributionRemoved:
-- what the ledger's `loanContribution` view answers (0 unless Active or Defaulted).
--
-- outstanding_cny: the outstanding in CNY at the drawdown dates' rates: each drawdown adds
--   ceil(amount x rate / 1e8); a repayment r of o leaves ceil(outstanding_cny x (o - r) / o), the
--   ledger's pro-rata rule for contributions (docs/contracts.md).
-- short_term: term class (re-decided on extension); confirm_by: a Recorded loan expires after it;
-- borrower_consented / creditor_consented: which sides consented (a loan is Active with both);
-- document_released: the regulator freed the loan's document (DocumentReleased; the loan is unchanged).
ALTER TABLE loans ADD COLUMN short_term SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN confirm_by BIGINT NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN borrower_consented SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN creditor_consented SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN outstanding_cny NUMERIC(40, 0) NOT NULL DEFAULT 0;
ALTER TABLE loans ADD COLUMN document_released SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX loans_document ON loans (document_hash);

-- loan_events keeps the loan's state after each event (the new state columns above, so a rollback
-- restores them), and what the event itself says:
--   side              LoanConfirmed: ConsentSide (0 borrower, 1 creditor)
--   reason            LoanExpired, LoanWrittenOff, DocumentReleased: ReasonCode
--   by_agent          LoanDefaulted: declared by an agent of the creditor
--   with_consent      LoanExtended: the borrower's ExtensionConsent came with it
--   contribution_change  LoanDrawn: +contributionAdded; LoanRepaid, LoanWrittenOff: -contributionRemoved
--   amount_cny        LoanDrawn: ceil(amount x rate / 1e8); LoanRepaid: the outstanding_cny it removed
-- `wallet` is the acting address where the event names one (LoanExpired, LoanWrittenOff,
-- DocumentReleased); `by_institution` the acting institution where it names one.
ALTER TABLE loan_events ADD COLUMN short_term SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN borrower_consented SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN creditor_consented SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN rate NUMERIC(20, 0) NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN outstanding_cny NUMERIC(40, 0) NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN document_released SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE loan_events ADD COLUMN side SMALLINT;
ALTER TABLE loan_events ADD COLUMN reason SMALLINT;
ALTER TABLE loan_events ADD COLUMN by_agent SMALLINT;
ALTER TABLE loan_events ADD COLUMN with_consent SMALLINT;
ALTER TABLE loan_events ADD COLUMN contribution_change NUMERIC(40, 0);
ALTER TABLE loan_events ADD COLUMN amount_cny NUMERIC(40, 0);

-- ---------------------------------------------------------------- ledger controls

-- A borrower's drawdowns frozen by the regulator (the ledger's BorrowerPosition.frozen), kept with
-- the position; restored from `drawdown_freezes` by a rollback.
ALTER TABLE borrower_positions ADD COLUMN frozen SMALLINT NOT NULL DEFAULT 0;

-- DrawdownsFrozen (frozen = 1) / DrawdownsUnfrozen (frozen = 0), with the regulator's reason.
CREATE TABLE drawdown_freezes (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    institution_id BIGINT NOT NULL,
    frozen SMALLINT NOT NULL,
    reason SMALLINT NOT NULL,
    by_wallet TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX drawdown_freezes_institution ON drawdown_freezes (institution_id, block_number, log_index);

-- AgentAppointed / AgentDismissed: `agent` (a bank) is lender side of `principal`'s loans while
-- appointed. The current appointments are each pair's latest row (`xborder.index.queries.agents`).
CREATE TABLE agent_events (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    principal BIGINT NOT NULL,
    agent BIGINT NOT NULL,
    event TEXT NOT NULL,
    wallet TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX agent_events_pair ON agent_events (principal, agent, block_number, log_index);
CREATE INDEX agent_events_agent ON agent_events (agent, block_number, log_index);

-- ConsentNoncesInvalidated: `borrower` voided its consent nonces word_pos * 256 + i for each bit i
-- of `mask` (uint256, 0x hex).
CREATE TABLE consent_nonce_invalidations (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    borrower BIGINT NOT NULL,
    word_pos NUMERIC(78, 0) NOT NULL,
    mask TEXT NOT NULL,
    wallet TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX consent_nonce_invalidations_borrower ON consent_nonce_invalidations (borrower, block_number, log_index);
