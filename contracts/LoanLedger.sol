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
        (uint32 recorder, IInstitutionRegistry.InstitutionCore memory bc) = _checkRequest(request);
        IMacroPrudentialPolicy.Quote memory q = _quote(request, bc.kind);
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
        (uint32 recorder, IInstitutionRegistry.InstitutionCore memory bc) = _checkRequest(request);
        BorrowerPosition memory pos = _positions[request.borrower];
        _checkConsent(request, bc.admin, drawAmount, pos.nonce, deadline, signature);
        loanId = _recordActive(request, recorder, bc, pos, drawAmount, terms);
    }

    /// @inheritdoc ILoanLedger
    function confirmLoan(uint64 loanId) external {
        _requireNotPaused();
        Loan storage loan = _loans[loanId];
        (LoanStatus status, uint32 borrower) = (loan.status, loan.borrower);
        if (status != LoanStatus.Recorded) revert InvalidLoanStatus(loanId, status);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        if (caller != borrower) revert UnauthorizedWallet(msg.sender, caller);
        if (cc.status != IInstitutionRegistry.InstitutionStatus.Active) revert InstitutionNotActive(caller, cc.status);
        loan.status = LoanStatus.Active;
        emit LoanConfirmed(loanId, borrower, msg.sender, _positions[borrower].balance);
    }

    // ------------------------------------------------------------------ money movements

    /// @inheritdoc ILoanLedger
    function drawdown(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        Loan memory ln = _activeLoan(loanId, amount);
        uint64 available = ln.principal - ln.drawn;
        if (amount > available) revert DrawdownExceedsAvailable(loanId, amount, available);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc, IInstitutionRegistry.InstitutionCore memory bc,) =
            _registry.lookup(msg.sender, ln.borrower, 0);
        _requireParty(caller, cc, ln, false);
        _requireActive(ln.borrower, bc.status);
        uint64 outstanding = ln.outstanding + amount;
        (uint256 balanceAfter, uint256 limit) = _balanceAfter(ln, outstanding, ln.weightBps, bc);
        if (balanceAfter > limit) revert BorrowingLimitExceeded(ln.borrower, balanceAfter, limit);
        Loan storage loan = _loans[loanId];
        loan.drawn = ln.drawn + amount;
        loan.outstanding = outstanding;
        _positions[ln.borrower].balance = uint128(balanceAfter);
        emit LoanDrawn(loanId, ln.borrower, amount, ln.drawn + amount, outstanding, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function repay(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        Loan memory ln = _activeLoan(loanId, amount);
        if (amount > ln.outstanding) revert RepaymentExceedsOutstanding(loanId, amount, ln.outstanding);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        _requireParty(caller, cc, ln, false);
        uint64 outstanding = ln.outstanding - amount;
        BorrowerPosition storage pos = _positions[ln.borrower];
        uint256 balanceAfter = pos.balance - _contribution(ln.outstanding, ln.rate, ln.weightBps)
            + _contribution(outstanding, ln.rate, ln.weightBps);
        Loan storage loan = _loans[loanId];
        loan.outstanding = outstanding;
        bool closes = outstanding == 0 && ln.drawn == ln.principal;
        if (closes) loan.status = LoanStatus.Closed;
        pos.balance = uint128(balanceAfter);
        emit LoanRepaid(loanId, ln.borrower, amount, outstanding, balanceAfter);
        if (closes) emit LoanClosed(loanId, ln.borrower, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function extendMaturity(uint64 loanId, uint32 newMaturityDate) external {
        _requireNotPaused();
        Loan memory ln = _loanIn(loanId, LoanStatus.Active);
        if (newMaturityDate <= ln.maturityDate) revert InvalidExtension(loanId, ln.maturityDate, newMaturityDate);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc, IInstitutionRegistry.InstitutionCore memory bc,) =
            _registry.lookup(msg.sender, ln.borrower, 0);
        _requireParty(caller, cc, ln, true);
        _requireActive(ln.borrower, bc.status);
        uint32 newWeight = _policy.combinedWeight(ln.currency, ln.financingType, newMaturityDate - ln.valueDate);
        (uint256 balanceAfter, uint256 limit) = _balanceAfter(ln, ln.outstanding, newWeight, bc);
        if (balanceAfter > limit) revert BorrowingLimitExceeded(ln.borrower, balanceAfter, limit);
        Loan storage loan = _loans[loanId];
        loan.maturityDate = newMaturityDate;
        loan.weightBps = newWeight;
        _positions[ln.borrower].balance = uint128(balanceAfter);
        emit LoanExtended(loanId, ln.borrower, ln.maturityDate, newMaturityDate, ln.weightBps, newWeight, balanceAfter);
    }

    // ------------------------------------------------------------------ endings

    /// @inheritdoc ILoanLedger
    function cancelLoan(uint64 loanId) external {
        _requireNotPaused();
        Loan memory ln = _loans[loanId];
        if (ln.status != LoanStatus.Recorded && ln.status != LoanStatus.Active) revert InvalidLoanStatus(loanId, ln.status);
        if (ln.drawn != 0) revert LoanAlreadyDrawn(loanId, ln.drawn);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        _requireParty(caller, cc, ln, false);
        _loans[loanId].status = LoanStatus.Cancelled;
        emit LoanCancelled(loanId, ln.borrower, caller, _positions[ln.borrower].balance);
    }

    /// @inheritdoc ILoanLedger
    function closeLoan(uint64 loanId) external {
        _requireNotPaused();
        Loan memory ln = _loanIn(loanId, LoanStatus.Active);
        if (ln.outstanding != 0) revert OutstandingNotZero(loanId, ln.outstanding);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        _requireParty(caller, cc, ln, true);
        _loans[loanId].status = LoanStatus.Closed;
        emit LoanClosed(loanId, ln.borrower, _positions[ln.borrower].balance);
    }

    /// @inheritdoc ILoanLedger
    function declareDefault(uint64 loanId) external {
        _requireNotPaused();
        Loan memory ln = _loanIn(loanId, LoanStatus.Active);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        _requireParty(caller, cc, ln, true);
        BorrowerPosition storage pos = _positions[ln.borrower];
        uint256 balanceAfter = pos.balance - _contribution(ln.outstanding, ln.rate, ln.weightBps);
        _loans[loanId].status = LoanStatus.Defaulted;
        pos.balance = uint128(balanceAfter);
        emit LoanDefaulted(loanId, ln.borrower, caller, ln.outstanding, balanceAfter);
    }

    // ------------------------------------------------------------------ confidential terms

    /// @inheritdoc ILoanLedger
    function shareTerms(uint64 loanId, bytes calldata envelope) external {
        _requireNotPaused();
        Loan memory ln = _loans[loanId];
        if (ln.status == LoanStatus.None) revert InvalidLoanStatus(loanId, ln.status);
        if (envelope.length == 0) revert EmptyEnvelope(loanId);
        // Unused cores are zeroed placeholders (ids 0): ignoring them is intended.
        // slither-disable-next-line unused-return
        (uint32 caller, IInstitutionRegistry.InstitutionCore memory cc,,) = _registry.lookup(msg.sender, 0, 0);
        _requireParty(caller, cc, ln, false);
        emit TermsShared(loanId, ln.borrower, caller, envelope);
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
        Loan memory ln = _activeLoan(loanId, amount);
        uint64 available = ln.principal - ln.drawn;
        if (amount > available) revert DrawdownExceedsAvailable(loanId, amount, available);
        IInstitutionRegistry.InstitutionCore memory bc = _registry.institutionCore(ln.borrower);
        (balanceAfter, limit) = _balanceAfter(ln, ln.outstanding + amount, ln.weightBps, bc);
        fits = balanceAfter <= limit;
    }

    /// @inheritdoc ILoanLedger
    function previewNewLoan(LoanRequest calldata request, uint64 drawAmount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits)
    {
        _checkRequestData(request);
        IInstitutionRegistry.InstitutionCore memory bc = _registry.institutionCore(request.borrower);
        _checkBorrower(request.borrower, bc);
        IMacroPrudentialPolicy.Quote memory q = _quote(request, bc.kind);
        if (drawAmount > request.principal) revert DrawdownExceedsAvailable(0, drawAmount, request.principal);
        balanceAfter = _positions[request.borrower].balance + _contribution(drawAmount, q.rate, q.weightBps);
        limit = _limit(bc.capitalBase, q.leverageBps, q.adjustmentBps);
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
        uint256 base = (uint256(amount) * rate + 1e8 - 1) / 1e8;
        return (base * weightBps + 1e4 - 1) / 1e4;
    }

    function _limit(uint64 capitalBase, uint16 leverage, uint16 adjustment) private pure returns (uint256) {
        return uint256(capitalBase) * leverage * adjustment / 1e8;
    }

    function _isLive(LoanStatus s) private pure returns (bool) {
        return s == LoanStatus.Recorded || s == LoanStatus.Active;
    }

    /// @dev Balance after replacing `ln`'s contribution by one for (`outstanding`, `weight`), and the limit.
    function _balanceAfter(
        Loan memory ln,
        uint64 outstanding,
        uint32 weight,
        IInstitutionRegistry.InstitutionCore memory bc
    ) private view returns (uint256 balanceAfter, uint256 limit) {
        (uint16 leverage, uint16 adjustment) = _policy.limitFactors(bc.kind);
        balanceAfter = _positions[ln.borrower].balance - _contribution(ln.outstanding, ln.rate, ln.weightBps)
            + _contribution(outstanding, ln.rate, weight);
        limit = _limit(bc.capitalBase, leverage, adjustment);
    }

    function _loanIn(uint64 loanId, LoanStatus status) private view returns (Loan memory ln) {
        ln = _loans[loanId];
        if (ln.status != status) revert InvalidLoanStatus(loanId, ln.status);
    }

    function _activeLoan(uint64 loanId, uint64 amount) private view returns (Loan memory ln) {
        if (amount == 0) revert ZeroAmount();
        ln = _loanIn(loanId, LoanStatus.Active);
    }

    function _requireActive(uint32 institutionId, IInstitutionRegistry.InstitutionStatus status) private pure {
        if (status != IInstitutionRegistry.InstitutionStatus.Active) revert InstitutionNotActive(institutionId, status);
    }

    /// @dev Caller's institution must be a party (lender side only if `lenderOnly`) and Active.
    function _requireParty(
        uint32 caller,
        IInstitutionRegistry.InstitutionCore memory cc,
        Loan memory ln,
        bool lenderOnly
    ) private view {
        bool party = caller != 0
            && (caller == ln.creditor || caller == ln.recorder || (!lenderOnly && caller == ln.borrower));
        if (!party) revert UnauthorizedWallet(msg.sender, caller);
        _requireActive(caller, cc.status);
    }

    function _checkRequestData(LoanRequest calldata r) private pure {
        if (r.principal == 0) revert ZeroAmount();
        if (r.maturityDate <= r.valueDate) revert InvalidDates(r.valueDate, r.maturityDate);
        if (r.documentHash == bytes32(0)) revert ZeroDocumentHash();
    }

    function _checkBorrower(uint32 borrower, IInstitutionRegistry.InstitutionCore memory bc) private pure {
        _requireActive(borrower, bc.status);
        if (
            bc.kind == IInstitutionRegistry.InstitutionKind.ForeignCreditor
                || bc.kind == IInstitutionRegistry.InstitutionKind.Observer
        ) revert InvalidBorrowerKind(borrower, bc.kind);
    }

    /// @dev Validates request data, the caller (recorder), the borrower and the creditor.
    function _checkRequest(LoanRequest calldata r)
        private
        view
        returns (uint32 recorder, IInstitutionRegistry.InstitutionCore memory bc)
    {
        _checkRequestData(r);
        IInstitutionRegistry.InstitutionCore memory rc;
        IInstitutionRegistry.InstitutionCore memory cc;
        (recorder, rc, bc, cc) = _registry.lookup(msg.sender, r.borrower, r.creditor);
        if (recorder == 0) revert UnauthorizedWallet(msg.sender, 0);
        if (
            recorder != r.creditor && rc.kind != IInstitutionRegistry.InstitutionKind.DomesticBank
                && rc.kind != IInstitutionRegistry.InstitutionKind.ForeignBankBranch
        ) revert UnauthorizedWallet(msg.sender, recorder);
        _requireActive(recorder, rc.status);
        _checkBorrower(r.borrower, bc);
        if (r.creditor == r.borrower || cc.kind == IInstitutionRegistry.InstitutionKind.Observer) {
            revert InvalidCreditor(r.creditor);
        }
        _requireActive(r.creditor, cc.status);
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
        IInstitutionRegistry.InstitutionCore memory bc,
        BorrowerPosition memory pos,
        uint64 drawAmount,
        bytes calldata terms
    ) private returns (uint64 loanId) {
        IMacroPrudentialPolicy.Quote memory q = _quote(request, bc.kind);
        loanId = _newLoanId(request.borrower, ++pos.loanCount);
        uint256 balanceAfter = pos.balance;
        if (drawAmount != 0) {
            if (drawAmount > request.principal) revert DrawdownExceedsAvailable(loanId, drawAmount, request.principal);
            balanceAfter += _contribution(drawAmount, q.rate, q.weightBps);
            uint256 limit = _limit(bc.capitalBase, q.leverageBps, q.adjustmentBps);
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
