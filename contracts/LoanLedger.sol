// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";
import {IMacroPrudentialPolicy} from "../interfaces/IMacroPrudentialPolicy.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";

/**
 * @title LoanLedger
 * @notice See {ILoanLedger}. Enforces each borrower's macro-prudential cross-border financing limit
 * while the transaction executes.
 *
 * Storage layout:
 *   `_loans[loanId]`            2 slots (see {ILoanLedger-Loan});
 *   `_positions[borrower]`      1 slot: balance (uint128) | loanCount (uint32) | nonce (uint32);
 *   `_documentLoan[docHash]`    1 slot: the latest loan the document backed. The guard is lazy:
 *                               the document is free again as soon as that loan is no longer live,
 *                               so closing, cancelling or defaulting never has to touch this slot;
 *   `_termsCommitment[loanId]`  1 slot: the salted commitment to the confidential terms.
 * Loan ids are `borrower << 32 | ++loanCount`: no global counter slot.
 *
 * EIP-712: OpenZeppelin 5.7's EIP712 pulls in utils/Bytes.sol, which uses `mcopy` (Cancun) and so
 * does not compile for the paris target Ganache needs; the domain separator is therefore built
 * here exactly as OZ's EIP712 builds it (name "xborder LoanLedger", version "1", chainid, this).
 *
 * External calls go only to the registry and the policy, both trusted view functions fixed at
 * construction; every write happens after them and nothing is called after a write.
 */
contract LoanLedger is ILoanLedger, AccessControl, Pausable {
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice EIP-712 type hash of the borrower's consent; field order = {LoanRequest}, then the rest.
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "LoanConsent(uint32 borrower,uint32 creditor,bytes3 currency,uint64 principal,uint32 valueDate,"
        "uint32 maturityDate,uint8 financingType,bytes32 documentHash,bytes32 termsHash,uint64 drawAmount,"
        "uint32 nonce,uint64 deadline)"
    );

    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _NAME_HASH = keccak256("xborder LoanLedger");
    bytes32 private constant _VERSION_HASH = keccak256("1");

    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    IInstitutionRegistry private immutable _registry;
    IMacroPrudentialPolicy private immutable _policy;

    // Bit offsets of the fields in the two packed loan words (see {ILoanLedger-Loan}): the hot paths
    // read each loan slot once as a word instead of decoding the whole struct into memory.
    uint256 private constant _CREDITOR = 32;
    uint256 private constant _RECORDER = 64;
    uint256 private constant _CURRENCY = 96;
    uint256 private constant _FINANCING_TYPE = 120;
    uint256 private constant _STATUS = 128;
    uint256 private constant _WEIGHT = 136;
    uint256 private constant _VALUE_DATE = 168;
    uint256 private constant _MATURITY = 200;
    uint256 private constant _DRAWN = 64; // slot 1; principal is bits 0-63
    uint256 private constant _OUTSTANDING = 128;
    uint256 private constant _RATE = 192;
    // Registry core word (see {IInstitutionRegistry-coreWords}): admin | kind | status | capitalBase.
    uint256 private constant _KIND = 160;
    uint256 private constant _INST_STATUS = 168;
    uint256 private constant _CAPITAL = 176;

    mapping(uint64 loanId => Loan) private _loans;
    mapping(uint32 borrower => BorrowerPosition) private _positions;
    mapping(bytes32 documentHash => uint64 loanId) private _documentLoan;
    mapping(uint64 loanId => bytes32 termsHash) private _termsCommitment;

    /// @param admin receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE.
    constructor(address admin, IInstitutionRegistry registry_, IMacroPrudentialPolicy policy_) {
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _registry = registry_;
        _policy = policy_;
    }

    // ------------------------------------------------------------------ record

    /// @inheritdoc ILoanLedger
    function recordLoan(LoanRequest calldata request, bytes calldata terms) external returns (uint64 loanId) {
        _requireNotPaused();
        (uint32 recorder, uint256 bc) = _checkRequest(request);
        IMacroPrudentialPolicy.Quote memory q = _quote(request, _kind(bc));
        BorrowerPosition memory pos = _positions[request.borrower];
        loanId = _newLoanId(request.borrower, ++pos.loanCount);
        _claimDocument(request.documentHash, loanId);
        _positions[request.borrower].loanCount = pos.loanCount;
        _store(loanId, request, recorder, LoanStatus.Recorded, q, 0);
        _emitRecorded(loanId, request, recorder, LoanStatus.Recorded, q, pos.balance, terms);
    }

    /// @inheritdoc ILoanLedger
    function recordLoanWithConsent(
        LoanRequest calldata request,
        bytes calldata terms,
        uint64 drawAmount,
        uint64 deadline,
        bytes calldata signature
    ) external returns (uint64 loanId) {
        _requireNotPaused();
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        (uint32 recorder, uint256 bc) = _checkRequest(request);
        BorrowerPosition memory pos = _positions[request.borrower];
        _checkConsent(request, address(uint160(bc)), drawAmount, pos.nonce, deadline, signature);
        loanId = _recordActive(request, recorder, bc, pos, drawAmount, terms);
    }

    /// @inheritdoc ILoanLedger
    function confirmLoan(uint64 loanId) external {
        _requireNotPaused();
        Loan storage loan = _loans[loanId];
        uint256 w0 = _loanWord0(loanId, LoanStatus.Recorded);
        uint32 borrower = uint32(w0);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        if (caller != borrower) revert UnauthorizedWallet(msg.sender, caller);
        _requireActive(caller, cc);
        loan.status = LoanStatus.Active;
        emit LoanConfirmed(loanId, borrower, msg.sender, _positions[borrower].balance);
    }

    // ------------------------------------------------------------------ money movements

    /// @inheritdoc ILoanLedger
    function drawdown(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _activeLoan(loanId, amount);
        {
            uint64 available;
            unchecked {
                available = uint64(w1) - uint64(w1 >> _DRAWN); // drawn <= principal always
            }
            if (amount > available) revert DrawdownExceedsAvailable(loanId, amount, available);
        }
        uint256 limit = _limitOf(_requirePartyAndBorrower(w0, false));
        uint64 outstanding = uint64(w1 >> _OUTSTANDING);
        unchecked {
            // amount <= principal - drawn and outstanding <= drawn: both stay <= principal < 2^64,
            // so adding amount to the two packed fields cannot carry into the next field.
            w1 += (uint256(amount) << _DRAWN) + (uint256(amount) << _OUTSTANDING);
        }
        uint32 borrower = uint32(w0);
        BorrowerPosition storage pos = _positions[borrower];
        uint256 balanceAfter = pos.balance + _delta(w0, w1, outstanding, outstanding + amount);
        if (balanceAfter > limit) revert BorrowingLimitExceeded(borrower, balanceAfter, limit);
        _setLoanWord1(loanId, w1);
        pos.balance = uint128(balanceAfter);
        emit LoanDrawn(loanId, borrower, amount, uint64(w1 >> _DRAWN), uint64(w1 >> _OUTSTANDING), balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function repay(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _activeLoan(loanId, amount);
        uint64 outstanding = uint64(w1 >> _OUTSTANDING);
        if (amount > outstanding) revert RepaymentExceedsOutstanding(loanId, amount, outstanding);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        _requireParty(caller, cc, w0, false);
        uint32 borrower = uint32(w0);
        uint64 outstandingAfter;
        unchecked {
            outstandingAfter = outstanding - amount; // amount <= outstanding (checked above)
            w1 -= uint256(amount) << _OUTSTANDING; // no borrow out of the field: same reason
        }
        BorrowerPosition storage pos = _positions[borrower];
        // A repayment never raises the balance: no limit (and no policy call) is needed.
        uint256 balanceAfter = pos.balance - _delta(w0, w1, outstandingAfter, outstanding);
        _setLoanWord1(loanId, w1);
        // Closes when fully drawn (drawn == principal) and fully repaid.
        bool closes = outstandingAfter == 0 && uint64(w1 >> _DRAWN) == uint64(w1);
        if (closes) _loans[loanId].status = LoanStatus.Closed;
        pos.balance = uint128(balanceAfter);
        emit LoanRepaid(loanId, borrower, amount, outstandingAfter, balanceAfter);
        if (closes) emit LoanClosed(loanId, borrower, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function extendMaturity(uint64 loanId, uint32 newMaturityDate) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _loanWords(loanId, LoanStatus.Active);
        uint32 maturityDate = uint32(w0 >> _MATURITY);
        if (newMaturityDate <= maturityDate) revert InvalidExtension(loanId, maturityDate, newMaturityDate);
        uint256 bc = _requirePartyAndBorrower(w0, true);
        uint32 borrower = uint32(w0);
        // newMaturityDate > maturityDate > valueDate: the term cannot underflow.
        uint32 newWeight = _policy.combinedWeight(
            bytes3(uint24(w0 >> _CURRENCY)), uint8(w0 >> _FINANCING_TYPE), newMaturityDate - uint32(w0 >> _VALUE_DATE)
        );
        uint256 balanceAfter = _positions[borrower].balance
            - _contribution(uint64(w1 >> _OUTSTANDING), uint64(w1 >> _RATE), uint32(w0 >> _WEIGHT))
            + _contribution(uint64(w1 >> _OUTSTANDING), uint64(w1 >> _RATE), newWeight);
        uint256 limit = _limitOf(bc);
        if (balanceAfter > limit) revert BorrowingLimitExceeded(borrower, balanceAfter, limit);
        Loan storage loan = _loans[loanId];
        loan.maturityDate = newMaturityDate;
        loan.weightBps = newWeight;
        _positions[borrower].balance = uint128(balanceAfter);
        emit LoanExtended(loanId, borrower, maturityDate, newMaturityDate, uint32(w0 >> _WEIGHT), newWeight, balanceAfter);
    }

    // ------------------------------------------------------------------ endings

    /// @inheritdoc ILoanLedger
    function cancelLoan(uint64 loanId) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _loanWords(loanId);
        LoanStatus status = _loanStatus(w0);
        if (status != LoanStatus.Recorded && status != LoanStatus.Active) revert InvalidLoanStatus(loanId, status);
        uint64 drawn = uint64(w1 >> _DRAWN);
        if (drawn != 0) revert LoanAlreadyDrawn(loanId, drawn);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        _requireParty(caller, cc, w0, false);
        _loans[loanId].status = LoanStatus.Cancelled;
        emit LoanCancelled(loanId, uint32(w0), caller, _positions[uint32(w0)].balance);
    }

    /// @inheritdoc ILoanLedger
    function closeLoan(uint64 loanId) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _loanWords(loanId, LoanStatus.Active);
        uint64 outstanding = uint64(w1 >> _OUTSTANDING);
        if (outstanding != 0) revert OutstandingNotZero(loanId, outstanding);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        _requireParty(caller, cc, w0, true);
        _loans[loanId].status = LoanStatus.Closed;
        emit LoanClosed(loanId, uint32(w0), _positions[uint32(w0)].balance);
    }

    /// @inheritdoc ILoanLedger
    function declareDefault(uint64 loanId) external {
        _requireNotPaused();
        (uint256 w0, uint256 w1) = _loanWords(loanId, LoanStatus.Active);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        _requireParty(caller, cc, w0, true);
        uint32 borrower = uint32(w0);
        uint64 outstanding = uint64(w1 >> _OUTSTANDING);
        BorrowerPosition storage pos = _positions[borrower];
        uint256 balanceAfter = pos.balance - _contribution(outstanding, uint64(w1 >> _RATE), uint32(w0 >> _WEIGHT));
        _loans[loanId].status = LoanStatus.Defaulted;
        pos.balance = uint128(balanceAfter);
        emit LoanDefaulted(loanId, borrower, caller, outstanding, balanceAfter);
    }

    // ------------------------------------------------------------------ confidential terms

    /// @inheritdoc ILoanLedger
    function shareTerms(uint64 loanId, bytes calldata envelope) external {
        _requireNotPaused();
        (uint256 w0,) = _loanWords(loanId);
        if (_loanStatus(w0) == LoanStatus.None) revert InvalidLoanStatus(loanId, LoanStatus.None);
        if (envelope.length == 0) revert EmptyEnvelope(loanId);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc,,) = _registry.coreWords(msg.sender, 0, 0);
        _requireParty(caller, cc, w0, false);
        emit TermsShared(loanId, uint32(w0), caller, envelope);
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc ILoanLedger
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ILoanLedger
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ILoanLedger
    function getLoan(uint64 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    /// @inheritdoc ILoanLedger
    function borrowerPosition(uint32 borrower) external view returns (BorrowerPosition memory) {
        return _positions[borrower];
    }

    /// @inheritdoc ILoanLedger
    function riskWeightedBalance(uint32 borrower) external view returns (uint256) {
        return _positions[borrower].balance;
    }

    /// @inheritdoc ILoanLedger
    function borrowingLimit(uint32 borrower) public view returns (uint256) {
        IInstitutionRegistry.InstitutionCore memory bc = _registry.institutionCore(borrower);
        (uint16 leverage, uint16 adjustment) = _policy.limitFactors(bc.kind);
        return _limit(bc.capitalBase, leverage, adjustment);
    }

    /// @inheritdoc ILoanLedger
    function headroom(uint32 borrower) external view returns (uint256) {
        uint256 limit = borrowingLimit(borrower);
        uint256 balance = _positions[borrower].balance;
        return balance >= limit ? 0 : limit - balance;
    }

    /// @inheritdoc ILoanLedger
    function loanContribution(uint64 loanId) external view returns (uint256) {
        Loan storage ln = _loans[loanId];
        if (ln.status != LoanStatus.Active) return 0;
        return _contribution(ln.outstanding, ln.rate, ln.weightBps);
    }

    /// @inheritdoc ILoanLedger
    function termsCommitment(uint64 loanId) external view returns (bytes32) {
        return _termsCommitment[loanId];
    }

    /// @inheritdoc ILoanLedger
    function liveLoanOfDocument(bytes32 documentHash) external view returns (uint64) {
        uint64 loanId = _documentLoan[documentHash];
        return _isLive(_loans[loanId].status) ? loanId : 0;
    }

    /// @inheritdoc ILoanLedger
    function previewDrawdown(uint64 loanId, uint64 amount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits)
    {
        (uint256 w0, uint256 w1) = _activeLoan(loanId, amount);
        uint64 available = uint64(w1) - uint64(w1 >> _DRAWN);
        if (amount > available) revert DrawdownExceedsAvailable(loanId, amount, available);
        uint64 outstanding = uint64(w1 >> _OUTSTANDING);
        balanceAfter = _positions[uint32(w0)].balance + _delta(w0, w1, outstanding, outstanding + amount);
        limit = _limitOf(_coreOf(uint32(w0)));
        fits = balanceAfter <= limit;
    }

    /// @inheritdoc ILoanLedger
    function previewNewLoan(LoanRequest calldata request, uint64 drawAmount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits)
    {
        _checkRequestData(request);
        uint256 bc = _coreOf(request.borrower);
        _checkBorrower(request.borrower, bc);
        IMacroPrudentialPolicy.Quote memory q = _quote(request, _kind(bc));
        if (drawAmount > request.principal) revert DrawdownExceedsAvailable(0, drawAmount, request.principal);
        balanceAfter = _positions[request.borrower].balance + _contribution(drawAmount, q.rate, q.weightBps);
        limit = _limit(_capital(bc), q.leverageBps, q.adjustmentBps);
        fits = balanceAfter <= limit;
    }

    /// @inheritdoc ILoanLedger
    function consentDigest(LoanRequest calldata request, uint64 drawAmount, uint32 nonce, uint64 deadline)
        public
        view
        returns (bytes32)
    {
        // LoanRequest has only static fields, so abi.encode lays them out inline, exactly as EIP-712
        // encodes the flat LoanConsent struct.
        bytes32 structHash = keccak256(abi.encode(CONSENT_TYPEHASH, request, drawAmount, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
    }

    /// @notice EIP-712 domain separator of this ledger (recomputed if the chain id changes).
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        // solhint-disable-previous-line func-name-mixedcase
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /// @inheritdoc ILoanLedger
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ILoanLedger
    function policy() external view returns (address) {
        return address(_policy);
    }

    // ------------------------------------------------------------------ internals

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    function _newLoanId(uint32 borrower, uint32 n) private pure returns (uint64) {
        return (uint64(borrower) << 32) | n;
    }

    /// @dev ceil(ceil(amount x rate / 1e8) x weight / 1e4). Cannot overflow uint256 (64+64+32 bits).
    /// Dividing before multiplying is the documented rule: the base-currency amount is rounded to
    /// a CNY minor unit first (as the Python model and the regulator's reports do), then weighted.
    // slither-disable-next-line divide-before-multiply
    function _contribution(uint64 amount, uint64 rate, uint32 weightBps) private pure returns (uint256) {
        unchecked {
            uint256 base = (uint256(amount) * rate + 1e8 - 1) / 1e8;
            return (base * weightBps + 1e4 - 1) / 1e4;
        }
    }

    /// @dev contribution(hi) - contribution(lo) at the loan's snapshotted rate and weight, hi >= lo.
    /// The contribution is monotone in the amount, so the difference cannot underflow.
    function _delta(uint256 w0, uint256 w1, uint64 lo, uint64 hi) private pure returns (uint256) {
        uint64 rate = uint64(w1 >> _RATE);
        uint32 weight = uint32(w0 >> _WEIGHT);
        uint256 high = _contribution(hi, rate, weight);
        uint256 low = _contribution(lo, rate, weight);
        unchecked {
            return high - low;
        }
    }

    function _limit(uint64 capitalBase, uint16 leverage, uint16 adjustment) private pure returns (uint256) {
        return uint256(capitalBase) * leverage * adjustment / 1e8;
    }

    function _isLive(LoanStatus s) private pure returns (bool) {
        return s == LoanStatus.Recorded || s == LoanStatus.Active;
    }

    /// @dev The two loan slots as words (layout in {ILoanLedger-Loan}); a missing loan reads as zeros.
    function _loanWords(uint64 loanId) private view returns (uint256 w0, uint256 w1) {
        Loan storage loan = _loans[loanId];
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            w0 := sload(loan.slot)
            w1 := sload(add(loan.slot, 1))
        }
    }

    function _loanWords(uint64 loanId, LoanStatus status) private view returns (uint256 w0, uint256 w1) {
        (w0, w1) = _loanWords(loanId);
        LoanStatus actual = _loanStatus(w0);
        if (actual != status) revert InvalidLoanStatus(loanId, actual);
    }

    function _loanWord0(uint64 loanId, LoanStatus status) private view returns (uint256 w0) {
        Loan storage loan = _loans[loanId];
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            w0 := sload(loan.slot)
        }
        LoanStatus actual = _loanStatus(w0);
        if (actual != status) revert InvalidLoanStatus(loanId, actual);
    }

    /// @dev Writes loan slot 1 (principal | drawn | outstanding | rate) in one store.
    function _setLoanWord1(uint64 loanId, uint256 w1) private {
        Loan storage loan = _loans[loanId];
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            sstore(add(loan.slot, 1), w1)
        }
    }

    function _loanStatus(uint256 w0) private pure returns (LoanStatus) {
        return LoanStatus(uint8(w0 >> _STATUS));
    }

    function _activeLoan(uint64 loanId, uint64 amount) private view returns (uint256 w0, uint256 w1) {
        if (amount == 0) revert ZeroAmount();
        (w0, w1) = _loanWords(loanId, LoanStatus.Active);
    }

    /// @dev Core word of one institution (zero if unregistered).
    function _coreOf(uint32 institutionId) private view returns (uint256 core) {
        // Wallet 0 is never registered; the other outputs are unused placeholders.
        // slither-disable-next-line unused-return
        (,, core,) = _registry.coreWords(address(0), institutionId, 0);
    }

    function _kind(uint256 core) private pure returns (IInstitutionRegistry.InstitutionKind) {
        return IInstitutionRegistry.InstitutionKind(uint8(core >> _KIND));
    }

    function _capital(uint256 core) private pure returns (uint64) {
        return uint64(core >> _CAPITAL);
    }

    /// @dev The borrower's current upper limit (current policy parameters, one policy slot).
    function _limitOf(uint256 core) private view returns (uint256) {
        return _policy.borrowingLimit(_kind(core), _capital(core));
    }

    /// @dev {_requireParty} for the caller, and the borrower Active; returns the borrower's core word.
    function _requirePartyAndBorrower(uint256 w0, bool lenderOnly) private view returns (uint256 bc) {
        // Unused core is a zeroed placeholder (id 0): ignoring it is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, uint256 cc, uint256 core,) = _registry.coreWords(msg.sender, uint32(w0), 0);
        _requireParty(caller, cc, w0, lenderOnly);
        _requireActive(uint32(w0), core);
        return core;
    }

    function _requireActive(uint32 institutionId, uint256 core) private pure {
        uint8 status = uint8(core >> _INST_STATUS);
        if (status != uint8(IInstitutionRegistry.InstitutionStatus.Active)) {
            revert InstitutionNotActive(institutionId, IInstitutionRegistry.InstitutionStatus(status));
        }
    }

    /// @dev Caller's institution must be a party (lender side only if `lenderOnly`) and Active.
    function _requireParty(uint32 caller, uint256 cc, uint256 w0, bool lenderOnly) private view {
        bool party = caller != 0
            && (
                caller == uint32(w0 >> _CREDITOR) || caller == uint32(w0 >> _RECORDER)
                    || (!lenderOnly && caller == uint32(w0))
            );
        if (!party) revert UnauthorizedWallet(msg.sender, caller);
        _requireActive(caller, cc);
    }

    function _checkRequestData(LoanRequest calldata r) private pure {
        if (r.principal == 0) revert ZeroAmount();
        if (r.maturityDate <= r.valueDate) revert InvalidDates(r.valueDate, r.maturityDate);
        if (r.documentHash == bytes32(0)) revert ZeroDocumentHash();
    }

    function _checkBorrower(uint32 borrower, uint256 bc) private pure {
        _requireActive(borrower, bc);
        IInstitutionRegistry.InstitutionKind kind = _kind(bc);
        if (
            kind == IInstitutionRegistry.InstitutionKind.ForeignCreditor
                || kind == IInstitutionRegistry.InstitutionKind.Observer
        ) revert InvalidBorrowerKind(borrower, kind);
    }

    /// @dev Validates request data, the caller (recorder), the borrower and the creditor.
    function _checkRequest(LoanRequest calldata r)
        private
        view
        returns (uint32 recorder, uint256 bc)
    {
        _checkRequestData(r);
        uint256 rc;
        uint256 cc;
        (recorder, rc, bc, cc) = _registry.coreWords(msg.sender, r.borrower, r.creditor);
        if (recorder == 0) revert UnauthorizedWallet(msg.sender, 0);
        if (
            recorder != r.creditor && _kind(rc) != IInstitutionRegistry.InstitutionKind.DomesticBank
                && _kind(rc) != IInstitutionRegistry.InstitutionKind.ForeignBankBranch
        ) revert UnauthorizedWallet(msg.sender, recorder);
        _requireActive(recorder, rc);
        _checkBorrower(r.borrower, bc);
        if (r.creditor == r.borrower || _kind(cc) == IInstitutionRegistry.InstitutionKind.Observer) {
            revert InvalidCreditor(r.creditor);
        }
        _requireActive(r.creditor, cc);
    }

    function _quote(LoanRequest calldata r, IInstitutionRegistry.InstitutionKind kind)
        private
        view
        returns (IMacroPrudentialPolicy.Quote memory)
    {
        return _policy.quote(r.currency, r.financingType, r.maturityDate - r.valueDate, kind);
    }

    function _checkConsent(
        LoanRequest calldata r,
        address borrowerAdmin,
        uint64 drawAmount,
        uint32 nonce,
        uint64 deadline,
        bytes calldata signature
    ) private view {
        bytes32 digest = consentDigest(r, drawAmount, nonce, deadline);
        // The third value (error argument) only details `err`, which is checked below.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        // The admin wallet needs no registry call; any other wallet of the borrower costs one.
        if (err != ECDSA.RecoverError.NoError) revert InvalidBorrowerSignature(address(0), r.borrower);
        if (signer != borrowerAdmin && _registry.institutionOf(signer) != r.borrower) {
            revert InvalidBorrowerSignature(signer, r.borrower);
        }
    }

    /// @dev Duplicate-financing guard (lazy: see the storage layout note).
    function _claimDocument(bytes32 documentHash, uint64 loanId) private {
        uint64 previous = _documentLoan[documentHash];
        if (previous != 0 && _isLive(_loans[previous].status)) revert DocumentAlreadyBacksLoan(documentHash, previous);
        _documentLoan[documentHash] = loanId;
    }

    /// @dev Second half of {recordLoanWithConsent}: quote, initial drawdown check, effects, events.
    function _recordActive(
        LoanRequest calldata request,
        uint32 recorder,
        uint256 bc,
        BorrowerPosition memory pos,
        uint64 drawAmount,
        bytes calldata terms
    ) private returns (uint64 loanId) {
        IMacroPrudentialPolicy.Quote memory q = _quote(request, _kind(bc));
        loanId = _newLoanId(request.borrower, ++pos.loanCount);
        uint256 balanceAfter = pos.balance;
        if (drawAmount != 0) {
            if (drawAmount > request.principal) revert DrawdownExceedsAvailable(loanId, drawAmount, request.principal);
            balanceAfter += _contribution(drawAmount, q.rate, q.weightBps);
            uint256 limit = _limit(_capital(bc), q.leverageBps, q.adjustmentBps);
            if (balanceAfter > limit) revert BorrowingLimitExceeded(request.borrower, balanceAfter, limit);
        }
        _claimDocument(request.documentHash, loanId);
        unchecked {
            ++pos.nonce;
        }
        pos.balance = uint128(balanceAfter);
        _positions[request.borrower] = pos;
        _store(loanId, request, recorder, LoanStatus.Active, q, drawAmount);
        _emitRecorded(loanId, request, recorder, LoanStatus.Active, q, balanceAfter, terms);
        if (drawAmount != 0) emit LoanDrawn(loanId, request.borrower, drawAmount, drawAmount, drawAmount, balanceAfter);
    }

    function _emitRecorded(
        uint64 loanId,
        LoanRequest calldata r,
        uint32 recorder,
        LoanStatus status,
        IMacroPrudentialPolicy.Quote memory q,
        uint256 balance,
        bytes calldata terms
    ) private {
        emit LoanRecorded(loanId, r.borrower, r.creditor, recorder, status, r, q.rate, q.weightBps, balance, terms);
    }

    function _store(
        uint64 loanId,
        LoanRequest calldata r,
        uint32 recorder,
        LoanStatus status,
        IMacroPrudentialPolicy.Quote memory q,
        uint64 drawn
    ) private {
        _loans[loanId] = Loan({
            borrower: r.borrower,
            creditor: r.creditor,
            recorder: recorder,
            currency: r.currency,
            financingType: r.financingType,
            status: status,
            weightBps: q.weightBps,
            valueDate: r.valueDate,
            maturityDate: r.maturityDate,
            principal: r.principal,
            drawn: drawn,
            outstanding: drawn,
            rate: q.rate
        });
        _termsCommitment[loanId] = r.termsHash;
    }
}
