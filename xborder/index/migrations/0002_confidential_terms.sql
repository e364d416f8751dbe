-- Confidential terms (docs/confidential-terms.md): what this index's operator could read of each
-- terms envelope (LoanRecorded.terms and every TermsShared.envelope). Filled only when the indexer
-- runs with decryption keys (`xborder index run --keys-wallet NAME`); everyone else's index holds
-- the public part of the loans only.
--
-- One row per envelope event: append-only history, so a rollback is
-- `DELETE FROM loan_terms WHERE block_number > N`. The loan's terms are its newest row with
-- readable = 1 and commitment_ok = 1 (view `loan_terms_current`).
--
-- readable       1: one of the operator's keys is a recipient (or the terms were published in clear)
-- commitment_ok  1: authentic and keccak256(salt || encoding) == the loan's termsHash;
--                0: TAMPERED (AEAD failure, wrong key wrap, or a plaintext that does not open the
--                   commitment): never to be trusted; NULL: not readable
-- key_institution, key_version: the operator key that opened it (NULL for clear terms)

CREATE TABLE loan_terms (
    block_number BIGINT NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    loan_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    shared_by BIGINT,
    encrypted SMALLINT NOT NULL,
    readable SMALLINT NOT NULL,
    commitment_ok SMALLINT,
    key_institution BIGINT,
    key_version BIGINT,
    terms_json TEXT,
    interest_rate TEXT,
    error TEXT,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX loan_terms_loan ON loan_terms (loan_id, block_number, log_index);

CREATE VIEW loan_terms_current AS
    SELECT t.loan_id, t.block_number, t.log_index, t.source, t.key_institution, t.key_version,
           t.terms_json, t.interest_rate
    FROM loan_terms t
    WHERE t.readable = 1 AND t.commitment_ok = 1
      AND NOT EXISTS (SELECT 1 FROM loan_terms u
                      WHERE u.loan_id = t.loan_id AND u.readable = 1 AND u.commitment_ok = 1
                        AND (u.block_number > t.block_number
                             OR (u.block_number = t.block_number AND u.log_index > t.log_index)));
