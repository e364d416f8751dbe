// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInstitutionRegistry} from "./IInstitutionRegistry.sol";

/**
 * @title ILoanLedger
 * @notice Cross-border financing ledger: banks and enterprises record loans from their own wallets
 * and every drawdown and extension is checked, while the transaction executes, against the
 * borrower's macro-prudential upper limit (see {IMacroPrudentialPolicy}).
 *
 * Scales and rounding (see docs/contracts.md):
 * - amounts (principal, drawn, outstanding, drawdown, repayment) are integers in 1/100 of the loan
 *   currency's unit (uint64), JPY included;
 * - `rate` = CNY per 1 unit x 1e8, snapshotted when the loan is recorded (CNY = 1e8);
 * - base amount (CNY minor units) = ceil(amount x rate / 1e8);
 * - `weightBps` = combined weight snapshotted at recording and re-derived on extension;
 * - contribution of a loan to its borrower's risk-weighted balance
 *   = ceil(ceil(outstanding x rate / 1e8) x weightBps / 1e4); the balance is the running sum of
 *   the contributions of the borrower's Active loans (rounding is always against the borrower);
 * - a drawdown / extension fits when balanceAfter <= limit (exactly at the limit fits).
 *
 * Loan ids: loanId = borrowerId << 32 | n, where n = 1, 2, ... counts the borrower's loans. Ids are
 * unique, never 0, and need no global counter.
 *
 * Parties of a loan: the borrower institution, the creditor institution, and the recorder
 * institution (the creditor itself or the borrower's bank that recorded the loan). "Lender side" =
 * creditor or recorder. A caller acts through any Active wallet of its institution.
 */
interface ILoanLedger {
    /// @notice Lifecycle of a loan. Live = Recorded or Active; the others are terminal.
    enum LoanStatus {
        None, // 0: no such loan
        Recorded, // 1: recorded by the lender side, awaiting the borrower's confirmation
        Active, // 2: confirmed by the borrower; drawdowns, repayments, extension allowed
        Closed, // 3: fully repaid after full drawdown (automatic) or closed explicitly
        Cancelled, // 4: cancelled before any drawdown
        Defaulted // 5: defaulted / written off by the lender side; leaves the balance
    }

    /// @notice What the recorder submits. `termsHash` commits to the commercial terms passed as `terms`.
    struct LoanRequest {
        uint32 borrower;
        uint32 creditor;
        bytes3 currency; // ISO 4217, e.g. "USD"
        uint64 principal; // minor units of `currency`
        uint32 valueDate; // unix seconds (UTC)
        uint32 maturityDate; // unix seconds (UTC), > valueDate
        uint8 financingType; // id in the policy's financing-type table
        bytes32 documentHash; // hash of the loan contract document; one live loan per hash
        bytes32 termsHash; // salted commitment to the commercial terms
    }

    /**
     * @notice A loan as stored: exactly two storage slots.
     * slot 0: borrower|creditor|recorder (3 x uint32) currency (bytes3) financingType (uint8)
     *         status (uint8) weightBps|valueDate|maturityDate (3 x uint32)      = 232 bits
     * slot 1: principal|drawn|outstanding|rate (4 x uint64)                       = 256 bits
     * The document hash is not stored in the loan: it keys the duplicate-financing guard
     * ({liveLoanOfDocument}) and is in {LoanRecorded}. The terms hash (salted commitment to the
     * confidential terms) is kept in its own slot ({termsCommitment}), is in {LoanRecorded} and is
     * covered by the borrower's EIP-712 consent.
     */
    struct Loan {
        uint32 borrower;
        uint32 creditor;
        uint32 recorder;
        bytes3 currency;
        uint8 financingType;
        LoanStatus status;
        uint32 weightBps;
        uint32 valueDate;
        uint32 maturityDate;
        uint64 principal;
        uint64 drawn;
        uint64 outstanding;
        uint64 rate;
    }

    /// @notice Per-borrower state: one storage slot.
    struct BorrowerPosition {
        uint128 balance; // risk-weighted balance, CNY minor units
        uint32 loanCount; // loans recorded for this borrower (low half of the next loan id)
        uint32 nonce; // next EIP-712 consent nonce
    }

    // ------------------------------------------------------------------ events
    // Every loan event has loanId and borrower indexed and carries the borrower's risk-weighted
    // balance after the change (CNY minor units).

    /**
     * @notice Emitted when a loan is recorded. `status` is Recorded (awaiting confirmation) or
     * Active (co-signed by the borrower in the same transaction). `terms` are the commercial terms
     * (opaque bytes, not stored: an encrypted envelope, see docs/confidential-terms.md);
     * `request.termsHash` commits to them and is stored ({termsCommitment}).
     */
    event LoanRecorded(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 indexed creditor,
        uint32 recorder,
        LoanStatus status,
        LoanRequest request,
        uint64 rate,
        uint32 weightBps,
        uint256 borrowerBalance,
        bytes terms
    );

    /// @notice Emitted when the borrower confirms a Recorded loan from one of its wallets.
    event LoanConfirmed(uint64 indexed loanId, uint32 indexed borrower, address indexed wallet, uint256 borrowerBalance);

    /// @notice Emitted on each drawdown.
    event LoanDrawn(
        uint64 indexed loanId, uint32 indexed borrower, uint64 amount, uint64 drawn, uint64 outstanding, uint256 borrowerBalance
    );

    /// @notice Emitted on each repayment.
    event LoanRepaid(uint64 indexed loanId, uint32 indexed borrower, uint64 amount, uint64 outstanding, uint256 borrowerBalance);

    /// @notice Emitted when the maturity is extended; the weight is re-derived from current policy.
    event LoanExtended(
        uint64 indexed loanId,
        uint32 indexed borrower,
        uint32 oldMaturityDate,
        uint32 newMaturityDate,
        uint32 oldWeightBps,
        uint32 newWeightBps,
        uint256 borrowerBalance
    );

    /// @notice Emitted when a loan is cancelled before any drawdown, by institution `by`.
    event LoanCancelled(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, uint256 borrowerBalance);

    /// @notice Emitted when a loan is closed (automatically on full repayment after full drawdown, or explicitly).
    event LoanClosed(uint64 indexed loanId, uint32 indexed borrower, uint256 borrowerBalance);

    /// @notice Emitted when the lender side `by` declares a default; `outstanding` is written off.
    event LoanDefaulted(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, uint64 outstanding, uint256 borrowerBalance);

    /**
     * @notice Emitted when party `by` re-shares the loan's terms: `envelope` holds the same terms
     * (opening the loan's {termsCommitment}) sealed for other recipient keys, e.g. a party's
     * rotated key (docs/confidential-terms.md).
     */
    event TermsShared(uint64 indexed loanId, uint32 indexed borrower, uint32 indexed by, bytes envelope);

    // ------------------------------------------------------------------ errors

    /// @notice The drawdown / extension / new loan would put `borrower` above its limit.
    error BorrowingLimitExceeded(uint32 borrower, uint256 balanceAfter, uint256 limit);
    /// @notice `documentHash` already backs live loan `loanId`.
    error DocumentAlreadyBacksLoan(bytes32 documentHash, uint64 loanId);
    /// @notice Institution `institutionId` is not Active (status None = not registered).
    error InstitutionNotActive(uint32 institutionId, IInstitutionRegistry.InstitutionStatus status);
    /// @notice `wallet` (of institution `walletInstitution`, 0 if none) may not perform this action.
    error UnauthorizedWallet(address wallet, uint32 walletInstitution);
    /// @notice `borrower` is of a kind that cannot borrow (foreign creditor, observer).
    error InvalidBorrowerKind(uint32 borrower, IInstitutionRegistry.InstitutionKind kind);
    /// @notice `creditor` equals the borrower or is an observer.
    error InvalidCreditor(uint32 creditor);
    /// @notice maturityDate must be after valueDate.
    error InvalidDates(uint32 valueDate, uint32 maturityDate);
    /// @notice An extension must move the maturity later.
    error InvalidExtension(uint64 loanId, uint32 maturityDate, uint32 newMaturityDate);
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
    /// @notice The borrower's consent expired at `deadline` (now `timestamp`).
    error SignatureExpired(uint64 deadline, uint256 timestamp);
    /// @notice The consent was signed by `signer` (0 if unrecoverable), not by a wallet of `borrower`.
    error InvalidBorrowerSignature(address signer, uint32 borrower);
    /// @notice Amounts must be non-zero.
    error ZeroAmount();
    /// @notice The document hash must be non-zero.
    error ZeroDocumentHash();
    /// @notice A terms envelope must not be empty.
    error EmptyEnvelope(uint64 loanId);

    // ------------------------------------------------------------------ writes

    /**
     * @notice Record a loan awaiting the borrower's confirmation ({confirmLoan}).
     * @param terms commercial terms (opaque; emitted, not stored)
     * @return loanId the new loan's id
     *
     * Requirements:
     * - ledger not paused;
     * - caller is a wallet of an Active institution that is the creditor or a bank
     *   (DomesticBank / ForeignBankBranch);
     * - borrower Active and of a borrowing kind; creditor Active, not the borrower, not an observer;
     * - principal > 0; valueDate < maturityDate; documentHash non-zero and backing no live loan;
     * - currency has a reference rate; financingType exists.
     *
     * May emit {LoanRecorded}.
     */
    function recordLoan(LoanRequest calldata request, bytes calldata terms) external returns (uint64 loanId);

    /**
     * @notice Record a loan co-signed by the borrower (EIP-712 `LoanConsent`), and optionally draw
     * `drawAmount` at once. The loan is Active immediately.
     *
     * Replay protection: the consent binds every request field, `drawAmount`, the borrower's
     * current `nonce` (consumed here) and `deadline`; the EIP-712 domain binds chain id and this
     * ledger's address.
     *
     * Requirements: as {recordLoan}, plus
     * - block.timestamp <= deadline;
     * - `signature` recovers to a wallet of the borrower institution;
     * - if drawAmount > 0: drawAmount <= principal and the borrower stays within its limit.
     *
     * May emit {LoanRecorded}, {LoanDrawn}.
     */
    function recordLoanWithConsent(
        LoanRequest calldata request,
        bytes calldata terms,
        uint64 drawAmount,
        uint64 deadline,
        bytes calldata signature
    ) external returns (uint64 loanId);

    /**
     * @notice Borrower confirms a Recorded loan.
     *
     * Requirements: not paused; loan Recorded; caller is a wallet of the Active borrower.
     *
     * May emit {LoanConfirmed}.
     */
    function confirmLoan(uint64 loanId) external;

    /**
     * @notice Draw `amount` of an Active loan; limit-checked.
     *
     * Requirements: not paused; loan Active; caller is a wallet of an Active party; borrower
     * Active; 0 < amount <= principal - drawn; balanceAfter <= limit.
     *
     * May emit {LoanDrawn}.
     */
    function drawdown(uint64 loanId, uint64 amount) external;

    /**
     * @notice Repay `amount` of an Active loan. Closes the loan when it is fully drawn and fully repaid.
     *
     * Requirements: not paused; loan Active; caller is a wallet of an Active party;
     * 0 < amount <= outstanding.
     *
     * May emit {LoanRepaid}, {LoanClosed}.
     */
    function repay(uint64 loanId, uint64 amount) external;

    /**
     * @notice Extend the maturity of an Active loan; the weight is re-derived from the current
     * policy for the new term and the result is limit-checked.
     *
     * Requirements: not paused; loan Active; caller is a wallet of the Active lender side; borrower
     * Active; newMaturityDate > maturityDate; balanceAfter <= limit.
     *
     * May emit {LoanExtended}.
     */
    function extendMaturity(uint64 loanId, uint32 newMaturityDate) external;

    /**
     * @notice Cancel a Recorded or Active loan that has no drawdown.
     *
     * Requirements: not paused; loan Recorded or Active with drawn == 0; caller is a wallet of an
     * Active party.
     *
     * May emit {LoanCancelled}.
     */
    function cancelLoan(uint64 loanId) external;

    /**
     * @notice Close an Active loan with nothing outstanding (e.g. the undrawn rest is given up).
     *
     * Requirements: not paused; loan Active; outstanding == 0; caller is a wallet of the Active
     * lender side.
     *
     * May emit {LoanClosed}.
     */
    function closeLoan(uint64 loanId) external;

    /**
     * @notice Declare an Active loan in default and write off its outstanding: it leaves the
     * borrower's balance and the document hash is released.
     *
     * Requirements: not paused; loan Active; caller is a wallet of the Active lender side.
     *
     * May emit {LoanDefaulted}.
     */
    function declareDefault(uint64 loanId) external;

    /**
     * @notice Re-share the terms of `loanId` as a new `envelope` (e.g. for a party's rotated
     * encryption key). The ledger does not read the envelope; recipients check that it opens
     * {termsCommitment}.
     *
     * Requirements: not paused; the loan exists (any status); caller is a wallet of an Active
     * party (borrower, creditor or recorder); `envelope` non-empty.
     *
     * May emit {TermsShared}.
     */
    function shareTerms(uint64 loanId, bytes calldata envelope) external;

    /**
     * @notice Stop all loan writes. Requirements: caller has PAUSER_ROLE; not paused. May emit {Paused}.
     */
    function pause() external;

    /**
     * @notice Resume loan writes. Requirements: caller has PAUSER_ROLE; paused. May emit {Unpaused}.
     */
    function unpause() external;

    // ------------------------------------------------------------------ views

    /// @notice Loan `loanId` (status None if absent).
    function getLoan(uint64 loanId) external view returns (Loan memory);

    /// @notice Balance, loan count and consent nonce of `borrower`.
    function borrowerPosition(uint32 borrower) external view returns (BorrowerPosition memory);

    /// @notice Risk-weighted balance of `borrower`, CNY minor units.
    function riskWeightedBalance(uint32 borrower) external view returns (uint256);

    /// @notice Current upper limit of `borrower`, CNY minor units.
    function borrowingLimit(uint32 borrower) external view returns (uint256);

    /// @notice limit - balance, or 0 when the borrower is at or above its limit.
    function headroom(uint32 borrower) external view returns (uint256);

    /// @notice Contribution of `loanId` to its borrower's balance (0 unless Active).
    function loanContribution(uint64 loanId) external view returns (uint256);

    /// @notice The salted commitment to the terms of `loanId` (its `request.termsHash`), 0 if none.
    function termsCommitment(uint64 loanId) external view returns (bytes32);

    /// @notice The live loan backed by `documentHash`, 0 if none.
    function liveLoanOfDocument(bytes32 documentHash) external view returns (uint64);

    /**
     * @notice Dry run of {drawdown}: same numbers as the real check. Reverts like {drawdown} on a
     * bad loan status or amount (not on caller or pause checks).
     */
    function previewDrawdown(uint64 loanId, uint64 amount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits);

    /**
     * @notice Dry run of recording `request` and drawing `drawAmount` at once (as
     * {recordLoanWithConsent}). Reverts like it on invalid request data (not on caller, signature,
     * pause or duplicate-document checks).
     */
    function previewNewLoan(LoanRequest calldata request, uint64 drawAmount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits);

    /// @notice EIP-712 digest the borrower signs for {recordLoanWithConsent}.
    function consentDigest(LoanRequest calldata request, uint64 drawAmount, uint32 nonce, uint64 deadline)
        external
        view
        returns (bytes32);

    /// @notice The institution registry this ledger reads.
    function registry() external view returns (address);

    /// @notice The policy this ledger reads.
    function policy() external view returns (address);
}
