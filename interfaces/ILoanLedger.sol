// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInstitutionRegistry} from "./IInstitutionRegistry.sol";

/**
 * @title ILoanLedger
 * @notice Cross-border financing ledger (v2): banks and enterprises record loans from their own
 * wallets; a loan is live only with the consent of both sides, and every drawdown is checked,
 * while the transaction executes, against the borrower's macro-prudential upper limit (see
 * {IMacroPrudentialPolicy}) at the reference rate and policy of the drawdown date.
 *
 * Parties and rights. Each loan has a borrower B, a creditor C (!= B) and a recorder R (the
 * institution that submitted the record; R has no rights of its own beyond cancelling a Recorded
 * loan). C may appoint banks as its agents ({appointAgent}); agency is checked at the time of each
 * action. "Lender side" = C or a current agent of C, never B. A caller acts through any wallet of
 * its institution, and the institution must be Active; an agent acts for C only while C is Active
 * (else `InstitutionNotActive(C, status)`; withdrawing a Recorded loan it recorded stays open).
 *
 * | action                | who                                                               |
 * |-----------------------|-------------------------------------------------------------------|
 * | recordLoan            | B, C or C's agent (sets the consent flag of the side it speaks for) |
 * | recordLoanWithConsent | the lender side named as submitter in B's EIP-712 `LoanConsent`   |
 * | confirmLoan           | B (borrower consent) or lender side (creditor consent)            |
 * | drawdown              | B or lender side; B and C Active, B not frozen, not after maturity  |
 * | repay                 | lender side (the creditor acknowledges receipt)                   |
 * | extendMaturity        | lender side; B's `ExtensionConsent` when the term class changes   |
 * | cancelLoan            | Recorded: B, lender side or R; Active undrawn: B or lender side   |
 * | closeLoan             | lender side, nothing outstanding                                  |
 * | declareDefault        | lender side; the loan keeps counting until the regulator writes it off |
 * | writeOff, expireLoan, releaseDocument, freeze/unfreezeDrawdowns | the regulator (REGULATOR_ROLE) |
 * | shareTerms            | B, C or C's current agent                                         |
 *
 * Scales and rounding (see docs/contracts.md):
 * - amounts (principal, drawn, outstanding, drawdown, repayment) are integers in 1/100 of the loan
 *   currency's unit (uint64), JPY included;
 * - `rate` = CNY per 1 unit x 1e8 at the drawdown's block (CNY = 1e8); `weightBps` = combined
 *   weight for the loan's currency, type and term class under the policy at that block;
 * - a drawdown of `amount` adds delta = ceil(ceil(amount x rate / 1e8) x weightBps / 1e4) to the
 *   loan's contribution and to the borrower's risk-weighted balance; it fits when delta == 0 or
 *   balance + delta <= limit (exactly at the limit fits);
 * - a repayment of r out of outstanding o leaves contribution' = ceil(contribution x (o - r) / o)
 *   (pro rata, rounded against the borrower; all of it goes at o - r == 0);
 * - balance(B) == sum of the contributions of B's Active and Defaulted loans, always.
 *
 * Term class: short-term iff maturityDate <= valueDate + one calendar year (29 Feb -> 28 Feb),
 * decided at recording and re-decided on extension.
 *
 * Loan ids: loanId = borrowerId << 32 | n, where n = 1, 2, ... counts the borrower's loans.
 */
interface ILoanLedger {
    /// @notice Lifecycle of a loan. Live (holds its document, counts) = Active or Defaulted.
    enum LoanStatus {
        None, // 0: no such loan
        Recorded, // 1: awaiting one or both consents; claims no document; expires after confirmBy
        Active, // 2: both sides consented; drawdowns, repayments, extension allowed
        Closed, // 3: nothing outstanding (repaid after full drawdown, explicit close, or a defaulted loan recovered)
        Cancelled, // 4: cancelled before any drawdown
        Defaulted, // 5: declared by the lender side; still counts; repayments (recoveries) allowed
        WrittenOff, // 6: the regulator confirmed the write-off of a Defaulted loan; leaves the balance
        Expired // 7: a Recorded loan that was not consented in time (or expired by the regulator)
    }

    /// @notice Which side a consent speaks for.
    enum ConsentSide {
        Borrower, // 0
        Creditor // 1
    }

    /// @notice Why the regulator (or, for an elapsed window, anyone) acted; uint8 on the wire.
    enum ReasonCode {
        Unspecified, // 0
        ConfirmationWindowElapsed, // 1
        DocumentDispute, // 2
        SuspectedFraud, // 3
        CourtOrSanctions, // 4
        DataCorrection, // 5
        WriteOffApproved // 6
    }

    /// @notice What the recorder submits. `termsHash` commits to the commercial terms passed as `terms`.
    struct LoanRequest {
        uint32 borrower;
        uint32 creditor;
        bytes3 currency; // ISO 4217, e.g. "USD"
        uint64 principal; // minor units of `currency`
        uint32 valueDate; // unix seconds (UTC)
        uint32 maturityDate; // unix seconds (UTC)
        uint8 financingType; // id in the policy's financing-type table
        bytes32 documentHash; // hash of the loan contract document; one live loan per hash
        bytes32 termsHash; // salted commitment to the commercial terms
    }

    /**
     * @notice The borrower's EIP-712 signature over a `LoanConsent` or `ExtensionConsent`, and the
     * fields it signed besides the loan data.
     */
    struct ConsentSignature {
        uint32 submitter; // the institution whose wallet must send the transaction (0 names nobody: refused)
        uint64 nonce; // unordered, single use per borrower ({consentNonceUsed})
        uint16 epoch; // the borrower's signature epoch in the registry when signed
        uint64 deadline; // unix seconds; refused after it
        bytes signature; // 65-byte (r, s, v) or 64-byte EIP-2098, by any wallet of the borrower
    }

    /**
     * @notice A loan as stored: exactly two storage slots (typed words {LoanHeader}, {LoanAmounts}).
     * slot 0: borrower|creditor|recorder (3 x uint32) currency (bytes3) financingType (uint8)
     *         status (uint8) flags (uint8: borrowerConsented, creditorConsented, shortTerm)
     *         valueDate|maturityDate|confirmBy (3 x uint32)                        = 240 bits
     * slot 1: principal|drawn|outstanding|contribution (4 x uint64)                = 256 bits
     * The document hash is kept outside the loan: for a Recorded loan in {pendingDocumentOf}, for a
     * live one as the key of {liveLoanOfDocument}; it is in {LoanRecorded}. The terms hash is in
     * {termsCommitment}.
     */
    struct Loan {
        uint32 borrower;
        uint32 creditor;
        uint32 recorder;
        bytes3 currency;
        uint8 financingType;
        LoanStatus status;
        bool borrowerConsented;
        bool creditorConsented;
        bool shortTerm;
        uint32 valueDate;
        uint32 maturityDate;
        uint32 confirmBy;
        uint64 principal;
        uint64 drawn;
        uint64 outstanding;
        uint64 contribution; // CNY minor units: this loan's part of the borrower's balance
    }

    /// @notice Per-borrower state: one storage slot.
    struct BorrowerPosition {
        uint128 balance; // risk-weighted balance, CNY minor units
        uint32 loanCount; // loans recorded for this borrower (low half of the next loan id)
        bool frozen; // the regulator froze new drawdowns
    }

    // ------------------------------------------------------------------ events
    // Every loan event has loanId and borrower indexed and carries the borrower's risk-weighted
    // balance after the change (CNY minor units). `by` is the acting institution.

    /**
     * @notice A loan was recorded by `recorder`. `status` is Recorded (awaiting consent;
     * `borrowerConsented` / `creditorConsented` say which side already spoke; it expires after
     * `confirmBy`) or Active (co-signed by the borrower and submitted by the lender side). `terms`
     * are the commercial terms (opaque, not stored: an encrypted envelope, see
     * docs/confidential-terms.md); `request.termsHash` commits to them ({termsCommitment}).
     */
    event LoanRecorded(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed creditor,
        uint32 recorder,
        LoanStatus status,
        LoanRequest request,
        bool shortTerm,
        uint32 confirmBy,
        bool borrowerConsented,
        bool creditorConsented,
        uint256 borrowerBalance,
        bytes terms
    );

    /// @notice `by` consented for `side` to a Recorded loan; `status` is Active when both sides have.
    event LoanConfirmed(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed by,
        ConsentSide side,
        LoanStatus status,
        uint256 borrowerBalance
    );

    /**
     * @notice A drawdown of `amount`, converted at `rate` and weighted with `weightBps` (both as in
     * force at this block), added `contributionAdded` to the loan's contribution and the balance.
     */
    event LoanDrawn(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed by,
        uint64 amount,
        uint64 drawn,
        uint64 outstanding,
        uint64 rate,
        uint32 weightBps,
        uint256 contributionAdded,
        uint256 borrowerBalance
    );

    /// @notice The lender side `by` acknowledged a repayment; `contributionRemoved` left the balance (pro rata).
    event LoanRepaid(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed by,
        uint64 amount,
        uint64 outstanding,
        uint256 contributionRemoved,
        uint256 borrowerBalance
    );

    /**
     * @notice The maturity was extended by the lender side `by`. The contribution of what is drawn
     * does not change; the term class of later drawdowns is `shortTermAfter`.
     * `borrowerConsented`: the borrower's `ExtensionConsent` came with it (required when the class changes).
     */
    event LoanExtended(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed by,
        uint32 oldMaturityDate,
        uint32 newMaturityDate,
        bool shortTermBefore,
        bool shortTermAfter,
        bool borrowerConsented,
        uint256 borrowerBalance
    );

    /// @notice `by` cancelled a loan before any drawdown.
    event LoanCancelled(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, uint256 borrowerBalance);

    /// @notice The loan closed with nothing outstanding (`by`: who closed it or made the last repayment).
    event LoanClosed(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, uint256 borrowerBalance);

    /**
     * @notice A Recorded loan expired: `by` is the regulator (any `reason`) or anyone after
     * `confirmBy` (reason ConfirmationWindowElapsed).
     */
    event LoanExpired(uint64 indexed loanId, uint32 indexed borrower, address indexed by, ReasonCode reason, uint256 borrowerBalance);

    /**
     * @notice The lender side `by` declared the loan in default: `byAgent` when `by` is an agent of
     * `creditor`. The loan keeps counting in the balance until the regulator writes it off.
     */
    event LoanDefaulted(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed by,
        uint32 creditor,
        bool byAgent,
        uint64 outstanding,
        uint256 borrowerBalance
    );

    /// @notice The regulator `by` wrote off a Defaulted loan (or an Active one of a Revoked creditor):
    /// `contributionRemoved` left the balance.
    event LoanWrittenOff(
        uint64 indexed loanId,
        uint32 indexed borrower,
        address indexed by,
        uint64 outstanding,
        uint256 contributionRemoved,
        ReasonCode reason,
        uint256 borrowerBalance
    );

    /// @notice The regulator released `documentHash` from live loan `loanId` (the loan stays as it is).
    event DocumentReleased(bytes32 indexed documentHash, uint64 indexed loanId, ReasonCode reason, address by);

    /// @notice The regulator froze `institution`'s new drawdowns (as borrower).
    event DrawdownsFrozen(uint32 indexed institution, ReasonCode reason, address indexed by);

    /// @notice The regulator lifted the freeze of `institution`'s drawdowns.
    event DrawdownsUnfrozen(uint32 indexed institution, ReasonCode reason, address indexed by);

    /// @notice `principal` appointed bank `agent` as its agent on the ledger (from `wallet`).
    event AgentAppointed(uint32 indexed principal, uint32 indexed agent, address wallet);

    /// @notice `principal` dismissed `agent` (from `wallet`); effective at once.
    event AgentDismissed(uint32 indexed principal, uint32 indexed agent, address wallet);

    /// @notice `borrower` (from `wallet`) voided its consent nonces `wordPos * 256 + i` for each bit i set in `mask`.
    event ConsentNoncesInvalidated(uint32 indexed borrower, uint256 wordPos, uint256 mask, address wallet);

    /**
     * @notice Emitted when party `by` re-shares the loan's terms: `envelope` holds the same terms
     * (opening the loan's {termsCommitment}) sealed for other recipient keys, e.g. a party's
     * rotated key (docs/confidential-terms.md).
     */
    event TermsShared(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, bytes envelope);

    // ------------------------------------------------------------------ errors

    /// @notice The drawdown would put `borrower` above its limit.
    error BorrowingLimitExceeded(uint32 borrower, uint256 balanceAfter, uint256 limit);
    /// @notice `documentHash` already backs live loan `loanId`.
    error DocumentAlreadyBacksLoan(bytes32 documentHash, uint64 loanId);
    /// @notice `documentHash` backs no live loan (nothing to release).
    error DocumentNotClaimed(bytes32 documentHash);
    /// @notice Institution `institutionId` is not Active (status None = not registered).
    error InstitutionNotActive(uint32 institutionId, IInstitutionRegistry.InstitutionStatus status);
    /// @notice `wallet` (of institution `walletInstitution`, 0 if none) may not perform this action.
    error UnauthorizedWallet(address wallet, uint32 walletInstitution);
    /// @notice `borrower` is of a kind that cannot borrow (foreign creditor, observer).
    error InvalidBorrowerKind(uint32 borrower, IInstitutionRegistry.InstitutionKind kind);
    /// @notice `creditor` equals the borrower or is an observer.
    error InvalidCreditor(uint32 creditor);
    /// @notice `agent` cannot be `principal`'s agent: it is `principal` itself or not a bank.
    error InvalidAgent(uint32 principal, uint32 agent);
    /// @notice `agent` already is `principal`'s agent.
    error AgentAlreadyAppointed(uint32 principal, uint32 agent);
    /// @notice `agent` is not `principal`'s agent.
    error NotAnAgent(uint32 principal, uint32 agent);
    /// @notice An extension must move the maturity later.
    error InvalidExtension(uint64 loanId, uint32 maturityDate, uint32 newMaturityDate);
    /// @notice The extension changes the term class (`shortTermBefore` -> `shortTermAfter`): the
    /// borrower's `ExtensionConsent` is required ({extendMaturityWithConsent}).
    error BorrowerConsentRequired(uint64 loanId, bool shortTermBefore, bool shortTermAfter);
    /// @notice `amount` exceeds the undrawn principal `available`.
    error DrawdownExceedsAvailable(uint64 loanId, uint64 amount, uint64 available);
    /// @notice `amount` exceeds `outstanding`.
    error RepaymentExceedsOutstanding(uint64 loanId, uint64 amount, uint64 outstanding);
    /// @notice The operation is not allowed while loan `loanId` is in `status` (None = no such loan).
    error InvalidLoanStatus(uint64 loanId, LoanStatus status);
    /// @notice A loan with drawdowns cannot be cancelled.
    error LoanAlreadyDrawn(uint64 loanId, uint64 drawn);
    /// @notice A loan with outstanding principal cannot be closed.
    error OutstandingNotZero(uint64 loanId, uint64 outstanding);
    /// @notice Nothing is outstanding on `loanId` (no default to declare).
    error NothingOutstanding(uint64 loanId);
    /// @notice No drawdown after the maturity date.
    error LoanMatured(uint64 loanId, uint32 maturityDate);
    /// @notice The Recorded loan's confirmation window closed at `confirmBy`.
    error ConfirmationWindowClosed(uint64 loanId, uint32 confirmBy);
    /// @notice The Recorded loan's confirmation window is open until `confirmBy` (only the regulator may expire it now).
    error ConfirmationWindowOpen(uint64 loanId, uint32 confirmBy);
    /// @notice `side` already consented to `loanId`.
    error AlreadyConsented(uint64 loanId, ConsentSide side);
    /// @notice The regulator froze `borrower`'s drawdowns.
    error BorrowerFrozen(uint32 borrower);
    /// @notice The freeze of `institution` already is `frozen`.
    error FreezeUnchanged(uint32 institution, bool frozen);
    /// @notice The loan's contribution would exceed uint64 (`contribution` CNY minor units).
    error ContributionOverflow(uint64 loanId, uint256 contribution);
    /// @notice The consent expired at `deadline` (now `timestamp`).
    error SignatureExpired(uint64 deadline, uint256 timestamp);
    /// @notice The consent was signed by `signer` (0 if unrecoverable), not by a wallet of `borrower`.
    error InvalidBorrowerSignature(address signer, uint32 borrower);
    /// @notice The consent names institution `named` as its submitter, but `caller` sent it.
    error ConsentSubmitterMismatch(uint32 named, uint32 caller);
    /// @notice `borrower`'s consent nonce `nonce` is used (or voided).
    error ConsentNonceUsed(uint32 borrower, uint64 nonce);
    /// @notice The consent was signed at `borrower`'s signature epoch `signedEpoch`; it is `currentEpoch` now.
    error ConsentRevoked(uint32 borrower, uint16 signedEpoch, uint16 currentEpoch);
    /// @notice Amounts must be non-zero.
    error ZeroAmount();
    /// @notice The document hash must be non-zero.
    error ZeroDocumentHash();
    /// @notice A terms envelope must not be empty.
    error EmptyEnvelope(uint64 loanId);
    /// @notice Zero address given for the admin, the registry or the policy.
    error ZeroAddress();

    // ------------------------------------------------------------------ record and consent

    /**
     * @notice Record a loan awaiting consent ({confirmLoan}). The caller's side counts as consented
     * (borrower if the caller is B, creditor if it is the lender side). The document is claimed only
     * when the loan becomes Active.
     * @param terms commercial terms (opaque; emitted, not stored)
     * @return loanId the new loan's id
     *
     * Requirements:
     * - ledger not paused; caller is a wallet of an Active institution that is B, C or C's agent;
     * - borrower Active and of a borrowing kind; creditor Active, not the borrower, not an observer;
     * - principal > 0; documentHash non-zero and backing no live loan;
     * - dates within the policy's windows ({IMacroPrudentialPolicy-recordQuote}); currency has a
     *   reference rate; financingType exists.
     *
     * May emit {LoanRecorded}.
     */
    function recordLoan(LoanRequest calldata request, bytes calldata terms) external returns (uint64 loanId);

    /**
     * @notice Record a loan co-signed by the borrower (EIP-712 `LoanConsent`), submitted by the
     * lender side the consent names, and optionally draw `drawAmount` at once. The loan is Active
     * immediately (both sides consented) and claims its document.
     *
     *   LoanConsent(uint32 submitter,uint32 borrower,uint32 creditor,bytes3 currency,uint64 principal,
     *               uint32 valueDate,uint32 maturityDate,uint8 financingType,bytes32 documentHash,
     *               bytes32 termsHash,uint64 drawAmount,uint64 nonce,uint16 epoch,uint64 deadline)
     *
     * Requirements: as {recordLoan}, plus
     * - `consent.submitter` is the caller's institution, which is C or a current agent of C;
     * - block.timestamp <= deadline; `consent.epoch` is B's current signature epoch; the nonce is unused;
     * - `consent.signature` recovers to a wallet of B;
     * - if drawAmount > 0: as {drawdown} (not frozen, fits the limit).
     *
     * May emit {LoanRecorded}, {LoanDrawn}.
     */
    function recordLoanWithConsent(
        LoanRequest calldata request,
        bytes calldata terms,
        uint64 drawAmount,
        ConsentSignature calldata consent
    ) external returns (uint64 loanId);

    /**
     * @notice Consent to a Recorded loan for the caller's side; when both sides have consented the
     * loan becomes Active and claims its document.
     *
     * Requirements: not paused; loan Recorded and block.timestamp <= confirmBy; caller is B
     * (borrower side) or the lender side (creditor side), that side not yet consented; B and C Active;
     * on activation the document backs no other live loan.
     *
     * May emit {LoanConfirmed}.
     */
    function confirmLoan(uint64 loanId) external;

    // ------------------------------------------------------------------ money movements

    /**
     * @notice Draw `amount` of an Active loan at today's reference rate and weight; limit-checked.
     *
     * Requirements: not paused; loan Active; block.timestamp <= maturityDate; caller is B or the
     * lender side; B and C Active; B not frozen; 0 < amount <= principal - drawn; the drawdown fits.
     *
     * May emit {LoanDrawn}.
     */
    function drawdown(uint64 loanId, uint64 amount) external;

    /**
     * @notice Acknowledge a repayment of `amount` on an Active or Defaulted loan; the contribution
     * falls pro rata. Closes the loan when an Active loan is fully drawn and fully repaid, or a
     * Defaulted loan is fully recovered.
     *
     * Requirements: not paused; loan Active or Defaulted; caller is the lender side;
     * 0 < amount <= outstanding.
     *
     * May emit {LoanRepaid}, {LoanClosed}.
     */
    function repay(uint64 loanId, uint64 amount) external;

    /**
     * @notice Extend the maturity of an Active loan without a borrower's consent: only when the term
     * class does not change. Drawn amounts keep their contribution.
     *
     * Requirements: not paused; loan Active; caller is the lender side; B and C Active;
     * newMaturityDate > maturityDate, after now, at most MaxTermDays after the value date; the term
     * class stays.
     *
     * May emit {LoanExtended}.
     */
    function extendMaturity(uint64 loanId, uint32 newMaturityDate) external;

    /**
     * @notice {extendMaturity} with the borrower's EIP-712 consent (required when the term class changes):
     *
     *   ExtensionConsent(uint32 submitter,uint64 loanId,uint32 newMaturityDate,uint64 nonce,uint16 epoch,uint64 deadline)
     *
     * Requirements: as {extendMaturity} (the class may change), and the consent checks of
     * {recordLoanWithConsent}.
     *
     * May emit {LoanExtended}.
     */
    function extendMaturityWithConsent(uint64 loanId, uint32 newMaturityDate, ConsentSignature calldata consent)
        external;

    // ------------------------------------------------------------------ endings

    /**
     * @notice Cancel a Recorded loan, or an Active loan that has no drawdown.
     *
     * Requirements: not paused; caller Active and: for a Recorded loan B, the lender side or the
     * recorder; for an Active loan with drawn == 0, B or the lender side.
     *
     * May emit {LoanCancelled}.
     */
    function cancelLoan(uint64 loanId) external;

    /**
     * @notice Close an Active loan with nothing outstanding (e.g. the undrawn rest is given up).
     *
     * Requirements: not paused; loan Active; outstanding == 0; caller is the lender side.
     *
     * May emit {LoanClosed}.
     */
    function closeLoan(uint64 loanId) external;

    /**
     * @notice Declare an Active loan in default. It keeps its contribution (still debt owed) and its
     * document until the regulator writes it off ({writeOff}); recoveries are acknowledged with {repay}.
     *
     * Requirements: not paused; loan Active with outstanding > 0; caller is the lender side.
     *
     * May emit {LoanDefaulted}.
     */
    function declareDefault(uint64 loanId) external;

    // ------------------------------------------------------------------ regulator controls

    /**
     * @notice Confirm the write-off of a Defaulted loan: its contribution leaves the balance, its
     * document is free. The regulator confirms because a write-off frees the borrower's limit and a
     * creditor colluding with the borrower loses nothing on chain. An Active loan whose creditor is
     * Revoked can be written off too: nobody is left to repay or default it (its agents act for it
     * in nothing), and without this its contribution would hold the borrower's limit for ever.
     *
     * Requirements: caller has REGULATOR_ROLE (works while paused); loan Defaulted, or Active with
     * its creditor Revoked (else `InvalidLoanStatus(loanId, status)`).
     *
     * May emit {LoanWrittenOff}.
     */
    function writeOff(uint64 loanId, ReasonCode reason) external;

    /**
     * @notice Expire a Recorded loan. The regulator may at any time with any reason; anyone else
     * only after `confirmBy` (the event then says ConfirmationWindowElapsed, whatever `reason`).
     *
     * Requirements: loan Recorded; caller has REGULATOR_ROLE (works while paused), or
     * block.timestamp > confirmBy and the ledger is not paused.
     *
     * May emit {LoanExpired}.
     */
    function expireLoan(uint64 loanId, ReasonCode reason) external;

    /**
     * @notice Free `documentHash` from the live loan that holds it (e.g. squatted by a colluding
     * pair, disputed); the loan itself is unchanged.
     *
     * Requirements: caller has REGULATOR_ROLE (works while paused); the document backs a live loan.
     *
     * May emit {DocumentReleased}.
     */
    function releaseDocument(bytes32 documentHash, ReasonCode reason) external;

    /**
     * @notice Freeze the new drawdowns of `institution` as borrower (repayments and the rest go on).
     *
     * Requirements: caller has REGULATOR_ROLE (works while paused); institution registered; not frozen.
     *
     * May emit {DrawdownsFrozen}.
     */
    function freezeDrawdowns(uint32 institution, ReasonCode reason) external;

    /**
     * @notice Lift a freeze.
     *
     * Requirements: caller has REGULATOR_ROLE (works while paused); frozen.
     *
     * May emit {DrawdownsUnfrozen}.
     */
    function unfreezeDrawdowns(uint32 institution, ReasonCode reason) external;

    // ------------------------------------------------------------------ agents, nonces, terms

    /**
     * @notice Appoint bank `agent` as the caller's institution's agent: it becomes lender side of
     * every loan where the caller's institution is the creditor (never of a loan it borrows itself).
     *
     * Requirements: not paused; caller's institution Active; `agent` a DomesticBank or
     * ForeignBankBranch, Active, not the caller's institution, not already an agent.
     *
     * May emit {AgentAppointed}.
     */
    function appointAgent(uint32 agent) external;

    /**
     * @notice Dismiss `agent`; effective at once for every later action.
     *
     * Requirements: not paused; caller's institution Active; `agent` is its agent.
     *
     * May emit {AgentDismissed}.
     */
    function dismissAgent(uint32 agent) external;

    /**
     * @notice Void consent nonces of the caller's institution (as borrower): nonce
     * `wordPos * 256 + i` for every bit i set in `mask`. Revoking all consents at once is the
     * registry's {IInstitutionRegistry-revokeSignatures}.
     *
     * Requirements: not paused; caller's institution Active.
     *
     * May emit {ConsentNoncesInvalidated}.
     */
    function invalidateConsentNonces(uint256 wordPos, uint256 mask) external;

    /**
     * @notice Re-share the terms of `loanId` as a new `envelope` (e.g. for a party's rotated
     * encryption key). The ledger does not read the envelope; recipients check that it opens
     * {termsCommitment}.
     *
     * Requirements: not paused; the loan exists (any status); caller is B, C or C's current agent
     * (Active); `envelope` non-empty.
     *
     * May emit {TermsShared}.
     */
    function shareTerms(uint64 loanId, bytes calldata envelope) external;

    /// @notice Stop all members' loan writes. Requirements: caller has PAUSER_ROLE; not paused. May emit {Paused}.
    function pause() external;

    /// @notice Resume loan writes. Requirements: caller has PAUSER_ROLE; paused. May emit {Unpaused}.
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice Loan `loanId` (status None if absent).
    function getLoan(uint64 loanId) external view returns (Loan memory);

    /// @notice Balance, loan count and freeze flag of `borrower`.
    function borrowerPosition(uint32 borrower) external view returns (BorrowerPosition memory);

    /// @notice Risk-weighted balance of `borrower`, CNY minor units.
    function riskWeightedBalance(uint32 borrower) external view returns (uint256);

    /// @notice Current upper limit of `borrower`, CNY minor units.
    function borrowingLimit(uint32 borrower) external view returns (uint256);

    /// @notice limit - balance, or 0 when the borrower is at or above its limit.
    function headroom(uint32 borrower) external view returns (uint256);

    /// @notice Contribution of `loanId` to its borrower's balance (0 unless Active or Defaulted).
    function loanContribution(uint64 loanId) external view returns (uint256);

    /// @notice The salted commitment to the terms of `loanId` (its `request.termsHash`), 0 if none.
    function termsCommitment(uint64 loanId) external view returns (bytes32);

    /// @notice The live loan backed by `documentHash`, 0 if none.
    function liveLoanOfDocument(bytes32 documentHash) external view returns (uint64);

    /// @notice The document a Recorded loan will claim on activation, 0 otherwise.
    function pendingDocumentOf(uint64 loanId) external view returns (bytes32);

    /// @notice True when `agent` is currently `principal`'s agent.
    function isAgent(uint32 principal, uint32 agent) external view returns (bool);

    /// @notice True when `borrower`'s consent nonce `nonce` is used or voided.
    function consentNonceUsed(uint32 borrower, uint64 nonce) external view returns (bool);

    /**
     * @notice Dry run of {drawdown} at this block: same numbers as the real check. Reverts like
     * {drawdown} on a bad loan status, maturity or amount (not on caller, party, freeze or pause checks).
     */
    function previewDrawdown(uint64 loanId, uint64 amount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits);

    /**
     * @notice Dry run of recording `request` and drawing `drawAmount` at once (as
     * {recordLoanWithConsent}). Reverts like it on invalid request data (not on caller, consent,
     * pause, freeze or duplicate-document checks).
     */
    function previewNewLoan(LoanRequest calldata request, uint64 drawAmount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits);

    /// @notice EIP-712 digest the borrower signs for {recordLoanWithConsent}.
    function consentDigest(
        LoanRequest calldata request,
        uint64 drawAmount,
        uint32 submitter,
        uint64 nonce,
        uint16 epoch,
        uint64 deadline
    ) external view returns (bytes32);

    /// @notice EIP-712 digest the borrower signs for {extendMaturityWithConsent}.
    function extensionConsentDigest(
        uint32 submitter,
        uint64 loanId,
        uint32 newMaturityDate,
        uint64 nonce,
        uint16 epoch,
        uint64 deadline
    ) external view returns (bytes32);

    /// @notice The institution registry this ledger reads.
    function registry() external view returns (address);

    /// @notice The policy this ledger reads.
    function policy() external view returns (address);
}
