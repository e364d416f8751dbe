// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";
import {IMacroPrudentialPolicy} from "../interfaces/IMacroPrudentialPolicy.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {EIP712Domain} from "./base/EIP712Domain.sol";
import {InstitutionCore} from "./types/InstitutionCore.sol";
import {LoanAmounts, LoanAmountsLibrary} from "./types/LoanAmounts.sol";
import {LoanHeader, LoanHeaderLibrary} from "./types/LoanHeader.sol";

/**
 * @title LoanLedger
 * @notice See {ILoanLedger}. Enforces each borrower's macro-prudential cross-border financing limit
 * while the transaction executes, with the consent of both sides of every loan.
 *
 * Storage layout:
 *   `_loans[loanId]`               2 slots: {LoanHeader} and {LoanAmounts} (see {ILoanLedger-Loan});
 *   `_positions[borrower]`         1 slot: balance (uint128) | loanCount (uint32) | frozen (bool);
 *   `_documentLoan[docHash]`       1 slot: the latest loan that claimed the document. The guard is
 *                                  lazy: the document is free again as soon as that loan is no longer
 *                                  live (Active / Defaulted), so endings never touch this slot;
 *   `_pendingDocument[loanId]`     1 slot while a loan is Recorded (deleted on activation or ending);
 *   `_termsCommitment[loanId]`     1 slot: the salted commitment to the confidential terms;
 *   `_agents[principal][agent]`    1 slot per appointment;
 *   `_nonceBitmap[borrower][word]` consent nonces, 256 per slot (Permit2-style, unordered).
 * Loan ids are `borrower << 32 | ++loanCount`: no global counter slot.
 *
 * One caller check ({_authorize}) serves every loan function: one registry call returns the
 * caller's institution and the cores of borrower and creditor; the caller's roles on the loan
 * (borrower / lender side / recorder) are derived from them and the agent table. One route to the
 * limit ({_drawInto}) serves {drawdown} and the initial draw of {recordLoanWithConsent}.
 *
 * External calls go only to the registry and the policy, both trusted view functions fixed at
 * construction (STATICCALL); every write happens after them and nothing is called after a write.
 */
contract LoanLedger is ILoanLedger, AccessControl, Pausable, EIP712Domain {
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @notice EIP-712 type hash of the borrower's consent to a loan (field order = {LoanRequest} after the submitter).
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "LoanConsent(uint32 submitter,uint32 borrower,uint32 creditor,bytes3 currency,uint64 principal,uint32 valueDate,"
        "uint32 maturityDate,uint8 financingType,bytes32 documentHash,bytes32 termsHash,uint64 drawAmount,"
        "uint64 nonce,uint16 epoch,uint64 deadline)"
    );

    /// @notice EIP-712 type hash of the borrower's consent to an extension.
    bytes32 public constant EXTENSION_CONSENT_TYPEHASH = keccak256(
        "ExtensionConsent(uint32 submitter,uint64 loanId,uint32 newMaturityDate,uint64 nonce,uint16 epoch,uint64 deadline)"
    );

    // Roles of an institution on one loan (bit set).
    uint8 private constant _BORROWER = 1;
    uint8 private constant _LENDER = 2; // the creditor or a current agent of it, never the borrower
    uint8 private constant _RECORDER = 4;
    uint8 private constant _AGENT = 8; // set together with _LENDER when the lender side is an agent

    /// @dev `namedSubmitter` of {_authorize} when no consent is submitted: no uint32 submitter equals it,
    /// so a consent naming submitter 0 (nobody) is refused like any other mismatch.
    uint256 private constant _NO_CONSENT = type(uint256).max;

    uint8 private constant _BOTH_CONSENTED = LoanHeaderLibrary.BORROWER_CONSENTED | LoanHeaderLibrary.CREDITOR_CONSENTED;

    struct StoredLoan {
        LoanHeader header; // slot 0
        LoanAmounts amounts; // slot 1
    }

    IInstitutionRegistry private immutable _registry;
    IMacroPrudentialPolicy private immutable _policy;

    mapping(uint64 loanId => StoredLoan) private _loans;
    mapping(uint32 borrower => BorrowerPosition) private _positions;
    mapping(bytes32 documentHash => uint64 loanId) private _documentLoan;
    mapping(uint64 loanId => bytes32 documentHash) private _pendingDocument;
    mapping(uint64 loanId => bytes32 termsHash) private _termsCommitment;
    mapping(uint32 principal => mapping(uint32 agent => bool)) private _agents;
    mapping(uint32 borrower => mapping(uint256 wordPos => uint256 bitmap)) private _nonceBitmap;

    /// @param admin receives DEFAULT_ADMIN_ROLE, PAUSER_ROLE and REGULATOR_ROLE.
    constructor(address admin, IInstitutionRegistry registry_, IMacroPrudentialPolicy policy_) {
        if (admin == address(0) || address(registry_) == address(0) || address(policy_) == address(0)) {
            revert ZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(REGULATOR_ROLE, admin);
        _registry = registry_;
        _policy = policy_;
    }

    // ------------------------------------------------------------------ record and consent

    /// @inheritdoc ILoanLedger
    function recordLoan(LoanRequest calldata request, bytes calldata terms) external returns (uint64 loanId) {
        _requireNotPaused();
        (uint32 caller, uint8 roles, InstitutionCore bc) = _checkRecord(request, _BORROWER | _LENDER, _NO_CONSENT);
        IMacroPrudentialPolicy.RecordQuote memory q = _recordQuote(request, bc);
        _requireDocumentFree(request.documentHash);
        uint8 flags = roles & _BORROWER != 0 ? LoanHeaderLibrary.BORROWER_CONSENTED : LoanHeaderLibrary.CREDITOR_CONSENTED;
        if (q.shortTerm) flags |= LoanHeaderLibrary.SHORT_TERM;
        loanId = _nextLoanId(request.borrower);
        LoanHeader h = LoanHeaderLibrary.create(request, caller, LoanStatus.Recorded, flags, q.confirmBy);
        _loans[loanId] = StoredLoan(h, LoanAmountsLibrary.create(request.principal));
        _pendingDocument[loanId] = request.documentHash;
        _termsCommitment[loanId] = request.termsHash;
        _emitRecorded(loanId, request, h, _positions[request.borrower].balance, terms);
    }

    /// @inheritdoc ILoanLedger
    function recordLoanWithConsent(
        LoanRequest calldata request,
        bytes calldata terms,
        uint64 drawAmount,
        ConsentSignature calldata consent
    ) external returns (uint64 loanId) {
        _requireNotPaused();
        (uint32 caller,, InstitutionCore bc) = _checkRecord(request, _LENDER, consent.submitter);
        _useConsent(request.borrower, bc, consent, _consentHash(request, drawAmount, consent));
        loanId = _recordActive(request, caller, bc, drawAmount, terms);
    }

    /// @inheritdoc ILoanLedger
    function confirmLoan(uint64 loanId) external {
        _requireNotPaused();
        LoanHeader h = _header(loanId, LoanStatus.Recorded);
        if (block.timestamp > h.confirmBy()) revert ConfirmationWindowClosed(loanId, h.confirmBy());
        (uint32 caller, uint8 roles, InstitutionCore bc, InstitutionCore cc) = _authorize(h, _BORROWER | _LENDER, true, _NO_CONSENT);
        _requireActive(h.borrower(), bc);
        _requireActive(h.creditor(), cc);
        ConsentSide side = roles & _BORROWER != 0 ? ConsentSide.Borrower : ConsentSide.Creditor;
        uint8 flag = side == ConsentSide.Borrower ? LoanHeaderLibrary.BORROWER_CONSENTED : LoanHeaderLibrary.CREDITOR_CONSENTED;
        if (h.flags() & flag != 0) revert AlreadyConsented(loanId, side);
        h = h.withFlags(h.flags() | flag);
        if (h.flags() & _BOTH_CONSENTED == _BOTH_CONSENTED) {
            h = h.withStatus(LoanStatus.Active);
            bytes32 documentHash = _pendingDocument[loanId];
            delete _pendingDocument[loanId];
            _claimDocument(documentHash, loanId);
        }
        _loans[loanId].header = h;
        emit LoanConfirmed(loanId, h.borrower(), caller, side, h.status(), _positions[h.borrower()].balance);
    }

    // ------------------------------------------------------------------ money movements

    /// @inheritdoc ILoanLedger
    function drawdown(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = _header(loanId, LoanStatus.Active);
        LoanAmounts a = s.amounts;
        _checkDraw(loanId, h, a, amount);
        (uint32 caller,, InstitutionCore bc, InstitutionCore cc) = _authorize(h, _BORROWER | _LENDER, true, _NO_CONSENT);
        _requireActive(h.borrower(), bc);
        _requireActive(h.creditor(), cc);
        (uint64 rate, uint32 weightBps, uint256 limit) =
            _policy.drawdownQuote(h, bc);
        uint256 delta;
        uint256 balanceAfter;
        (a, delta, balanceAfter) = _drawInto(loanId, h.borrower(), a, amount, rate, weightBps, limit);
        s.amounts = a;
        _emitDrawn(loanId, h.borrower(), caller, amount, a, rate, weightBps, delta, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function repay(uint64 loanId, uint64 amount) external {
        _requireNotPaused();
        if (amount == 0) revert ZeroAmount();
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = s.header;
        LoanStatus status = h.status();
        if (status != LoanStatus.Active && status != LoanStatus.Defaulted) revert InvalidLoanStatus(loanId, status);
        LoanAmounts a = s.amounts;
        uint64 outstanding = a.outstanding();
        if (amount > outstanding) revert RepaymentExceedsOutstanding(loanId, amount, outstanding);
        (uint32 caller,,,) = _authorize(h, _LENDER, false, _NO_CONSENT);
        uint64 removed = _repaidContribution(a.contribution(), outstanding, amount);
        a = a.afterRepay(amount, removed);
        s.amounts = a;
        BorrowerPosition storage pos = _positions[h.borrower()];
        uint256 balanceAfter = pos.balance - removed;
        pos.balance = uint128(balanceAfter);
        // An Active loan closes when fully drawn and fully repaid, a Defaulted one when fully recovered.
        bool closes = a.outstanding() == 0 && (status == LoanStatus.Defaulted || a.drawn() == a.principal());
        if (closes) s.header = h.withStatus(LoanStatus.Closed);
        emit LoanRepaid(loanId, h.borrower(), caller, amount, a.outstanding(), removed, balanceAfter);
        if (closes) emit LoanClosed(loanId, h.borrower(), caller, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function extendMaturity(uint64 loanId, uint32 newMaturityDate) external {
        (LoanHeader h, uint32 caller,, bool shortTermAfter) = _prepareExtension(loanId, newMaturityDate, _NO_CONSENT);
        if (shortTermAfter != h.shortTerm()) revert BorrowerConsentRequired(loanId, h.shortTerm(), shortTermAfter);
        _extend(loanId, h, caller, newMaturityDate, shortTermAfter, false);
    }

    /// @inheritdoc ILoanLedger
    function extendMaturityWithConsent(uint64 loanId, uint32 newMaturityDate, ConsentSignature calldata consent)
        external
    {
        (LoanHeader h, uint32 caller, InstitutionCore bc, bool shortTermAfter) =
            _prepareExtension(loanId, newMaturityDate, consent.submitter);
        bytes32 structHash = keccak256(
            abi.encode(
                EXTENSION_CONSENT_TYPEHASH,
                consent.submitter,
                loanId,
                newMaturityDate,
                consent.nonce,
                consent.epoch,
                consent.deadline
            )
        );
        _useConsent(h.borrower(), bc, consent, structHash);
        _extend(loanId, h, caller, newMaturityDate, shortTermAfter, true);
    }

    // ------------------------------------------------------------------ endings

    /// @inheritdoc ILoanLedger
    function cancelLoan(uint64 loanId) external {
        _requireNotPaused();
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = s.header;
        LoanStatus status = h.status();
        uint8 allowed = _BORROWER | _LENDER;
        if (status == LoanStatus.Recorded) {
            allowed |= _RECORDER;
        } else if (status == LoanStatus.Active) {
            uint64 drawn = s.amounts.drawn();
            if (drawn != 0) revert LoanAlreadyDrawn(loanId, drawn);
        } else {
            revert InvalidLoanStatus(loanId, status);
        }
        (uint32 caller,,,) = _authorize(h, allowed, false, _NO_CONSENT);
        s.header = h.withStatus(LoanStatus.Cancelled);
        if (status == LoanStatus.Recorded) delete _pendingDocument[loanId];
        emit LoanCancelled(loanId, h.borrower(), caller, _positions[h.borrower()].balance);
    }

    /// @inheritdoc ILoanLedger
    function closeLoan(uint64 loanId) external {
        _requireNotPaused();
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = _header(loanId, LoanStatus.Active);
        uint64 outstanding = s.amounts.outstanding();
        if (outstanding != 0) revert OutstandingNotZero(loanId, outstanding);
        (uint32 caller,,,) = _authorize(h, _LENDER, false, _NO_CONSENT);
        // outstanding == 0 implies contribution == 0: nothing leaves the balance.
        s.header = h.withStatus(LoanStatus.Closed);
        emit LoanClosed(loanId, h.borrower(), caller, _positions[h.borrower()].balance);
    }

    /// @inheritdoc ILoanLedger
    function declareDefault(uint64 loanId) external {
        _requireNotPaused();
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = _header(loanId, LoanStatus.Active);
        uint64 outstanding = s.amounts.outstanding();
        if (outstanding == 0) revert NothingOutstanding(loanId);
        (uint32 caller, uint8 roles,,) = _authorize(h, _LENDER, false, _NO_CONSENT);
        s.header = h.withStatus(LoanStatus.Defaulted);
        emit LoanDefaulted(
            loanId, h.borrower(), caller, h.creditor(), roles & _AGENT != 0, outstanding, _positions[h.borrower()].balance
        );
    }

    // ------------------------------------------------------------------ regulator controls

    /// @inheritdoc ILoanLedger
    function writeOff(uint64 loanId, ReasonCode reason) external onlyRole(REGULATOR_ROLE) {
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = s.header;
        LoanStatus status = h.status();
        if (status != LoanStatus.Defaulted && !(status == LoanStatus.Active && _creditorRevoked(h))) {
            revert InvalidLoanStatus(loanId, status);
        }
        LoanAmounts a = s.amounts;
        BorrowerPosition storage pos = _positions[h.borrower()];
        uint256 balanceAfter = pos.balance - a.contribution();
        pos.balance = uint128(balanceAfter);
        s.header = h.withStatus(LoanStatus.WrittenOff);
        emit LoanWrittenOff(loanId, h.borrower(), msg.sender, a.outstanding(), a.contribution(), reason, balanceAfter);
    }

    /// @inheritdoc ILoanLedger
    function expireLoan(uint64 loanId, ReasonCode reason) external {
        bool byRegulator = hasRole(REGULATOR_ROLE, msg.sender);
        if (!byRegulator) _requireNotPaused();
        LoanHeader h = _header(loanId, LoanStatus.Recorded);
        if (!byRegulator) {
            if (block.timestamp <= h.confirmBy()) revert ConfirmationWindowOpen(loanId, h.confirmBy());
            reason = ReasonCode.ConfirmationWindowElapsed;
        }
        _loans[loanId].header = h.withStatus(LoanStatus.Expired);
        delete _pendingDocument[loanId];
        emit LoanExpired(loanId, h.borrower(), msg.sender, reason, _positions[h.borrower()].balance);
    }

    /// @inheritdoc ILoanLedger
    function releaseDocument(bytes32 documentHash, ReasonCode reason) external onlyRole(REGULATOR_ROLE) {
        uint64 loanId = _liveLoanOf(documentHash);
        if (loanId == 0) revert DocumentNotClaimed(documentHash);
        delete _documentLoan[documentHash];
        emit DocumentReleased(documentHash, loanId, reason, msg.sender);
    }

    /// @inheritdoc ILoanLedger
    function freezeDrawdowns(uint32 institution, ReasonCode reason) external onlyRole(REGULATOR_ROLE) {
        _setFrozen(institution, true);
        emit DrawdownsFrozen(institution, reason, msg.sender);
    }

    /// @inheritdoc ILoanLedger
    function unfreezeDrawdowns(uint32 institution, ReasonCode reason) external onlyRole(REGULATOR_ROLE) {
        _setFrozen(institution, false);
        emit DrawdownsUnfrozen(institution, reason, msg.sender);
    }

    // ------------------------------------------------------------------ agents, nonces, terms

    /// @inheritdoc ILoanLedger
    function appointAgent(uint32 agent) external {
        _requireNotPaused();
        // The fourth core is a zero placeholder (id 0).
        // slither-disable-next-line unused-return
        (uint32 principal, InstitutionCore pc, InstitutionCore ac,) = _registry.coreWords(msg.sender, agent, 0);
        if (principal == 0) revert UnauthorizedWallet(msg.sender, 0);
        _requireActive(principal, pc);
        if (agent == principal) revert InvalidAgent(principal, agent);
        _requireActive(agent, ac);
        if (!ac.isBank()) revert InvalidAgent(principal, agent);
        if (_agents[principal][agent]) revert AgentAlreadyAppointed(principal, agent);
        _agents[principal][agent] = true;
        emit AgentAppointed(principal, agent, msg.sender);
    }

    /// @inheritdoc ILoanLedger
    function dismissAgent(uint32 agent) external {
        _requireNotPaused();
        uint32 principal = _callerInstitution();
        if (!_agents[principal][agent]) revert NotAnAgent(principal, agent);
        delete _agents[principal][agent];
        emit AgentDismissed(principal, agent, msg.sender);
    }

    /// @inheritdoc ILoanLedger
    function invalidateConsentNonces(uint256 wordPos, uint256 mask) external {
        _requireNotPaused();
        uint32 borrower = _callerInstitution();
        _nonceBitmap[borrower][wordPos] |= mask;
        emit ConsentNoncesInvalidated(borrower, wordPos, mask, msg.sender);
    }

    /// @inheritdoc ILoanLedger
    function shareTerms(uint64 loanId, bytes calldata envelope) external {
        _requireNotPaused();
        LoanHeader h = _loans[loanId].header;
        if (h.status() == LoanStatus.None) revert InvalidLoanStatus(loanId, LoanStatus.None);
        if (envelope.length == 0) revert EmptyEnvelope(loanId);
        (uint32 caller,,,) = _authorize(h, _BORROWER | _LENDER, false, _NO_CONSENT);
        emit TermsShared(loanId, h.borrower(), caller, envelope);
    }

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
    function getLoan(uint64 loanId) external view returns (Loan memory loan) {
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = s.header;
        LoanAmounts a = s.amounts;
        loan.borrower = h.borrower();
        loan.creditor = h.creditor();
        loan.recorder = h.recorder();
        loan.currency = h.currency();
        loan.financingType = h.financingType();
        loan.status = h.status();
        loan.borrowerConsented = h.borrowerConsented();
        loan.creditorConsented = h.creditorConsented();
        loan.shortTerm = h.shortTerm();
        loan.valueDate = h.valueDate();
        loan.maturityDate = h.maturityDate();
        loan.confirmBy = h.confirmBy();
        loan.principal = a.principal();
        loan.drawn = a.drawn();
        loan.outstanding = a.outstanding();
        loan.contribution = a.contribution();
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
        InstitutionCore bc = _registry.institutionCore(borrower);
        return _policy.borrowingLimit(bc.kind(), bc.capitalBase());
    }

    /// @inheritdoc ILoanLedger
    function headroom(uint32 borrower) external view returns (uint256) {
        uint256 limit = borrowingLimit(borrower);
        uint256 balance = _positions[borrower].balance;
        return balance >= limit ? 0 : limit - balance;
    }

    /// @inheritdoc ILoanLedger
    function loanContribution(uint64 loanId) external view returns (uint256) {
        StoredLoan storage s = _loans[loanId];
        return _isLive(s.header.status()) ? s.amounts.contribution() : 0;
    }

    /// @inheritdoc ILoanLedger
    function termsCommitment(uint64 loanId) external view returns (bytes32) {
        return _termsCommitment[loanId];
    }

    /// @inheritdoc ILoanLedger
    function liveLoanOfDocument(bytes32 documentHash) external view returns (uint64) {
        return _liveLoanOf(documentHash);
    }

    /// @inheritdoc ILoanLedger
    function pendingDocumentOf(uint64 loanId) external view returns (bytes32) {
        return _pendingDocument[loanId];
    }

    /// @inheritdoc ILoanLedger
    function isAgent(uint32 principal, uint32 agent) external view returns (bool) {
        return _agents[principal][agent];
    }

    /// @inheritdoc ILoanLedger
    function consentNonceUsed(uint32 borrower, uint64 nonce) external view returns (bool) {
        return _nonceBitmap[borrower][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @inheritdoc ILoanLedger
    function previewDrawdown(uint64 loanId, uint64 amount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits)
    {
        StoredLoan storage s = _loans[loanId];
        LoanHeader h = _header(loanId, LoanStatus.Active);
        _checkDraw(loanId, h, s.amounts, amount);
        InstitutionCore bc = _registry.institutionCore(h.borrower());
        uint64 rate;
        uint32 weightBps;
        (rate, weightBps, limit) =
            _policy.drawdownQuote(h, bc);
        uint256 delta = _contribution(amount, rate, weightBps);
        balanceAfter = _positions[h.borrower()].balance + delta;
        fits = _fits(balanceAfter, delta, limit);
    }

    /// @inheritdoc ILoanLedger
    function previewNewLoan(LoanRequest calldata request, uint64 drawAmount)
        external
        view
        returns (uint256 balanceAfter, uint256 limit, bool fits)
    {
        if (request.principal == 0) revert ZeroAmount();
        InstitutionCore bc = _registry.institutionCore(request.borrower);
        _requireBorrower(request.borrower, bc);
        IMacroPrudentialPolicy.RecordQuote memory q = _recordQuote(request, bc);
        if (drawAmount > request.principal) revert DrawdownExceedsAvailable(0, drawAmount, request.principal);
        uint256 delta = _contribution(drawAmount, q.rate, q.weightBps);
        balanceAfter = _positions[request.borrower].balance + delta;
        limit = q.limit;
        fits = _fits(balanceAfter, delta, limit);
    }

    /// @inheritdoc ILoanLedger
    function consentDigest(
        LoanRequest calldata request,
        uint64 drawAmount,
        uint32 submitter,
        uint64 nonce,
        uint16 epoch,
        uint64 deadline
    ) external view returns (bytes32) {
        // LoanRequest has only static fields, so abi.encode lays them out inline, exactly as EIP-712
        // encodes the flat LoanConsent struct.
        return _hashTypedData(
            keccak256(abi.encode(CONSENT_TYPEHASH, submitter, request, drawAmount, nonce, epoch, deadline))
        );
    }

    /// @inheritdoc ILoanLedger
    function extensionConsentDigest(
        uint32 submitter,
        uint64 loanId,
        uint32 newMaturityDate,
        uint64 nonce,
        uint16 epoch,
        uint64 deadline
    ) external view returns (bytes32) {
        return _hashTypedData(
            keccak256(abi.encode(EXTENSION_CONSENT_TYPEHASH, submitter, loanId, newMaturityDate, nonce, epoch, deadline))
        );
    }

    /// @inheritdoc ILoanLedger
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ILoanLedger
    function policy() external view returns (address) {
        return address(_policy);
    }

    // ------------------------------------------------------------------ internals: callers

    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("xborder LoanLedger", "2");
    }

    /**
     * @dev The one caller check. Looks up the caller's institution (and, with `withParties`, the
     * cores of borrower `b` and creditor `c`) in one registry call; when a consent is being submitted
     * (`namedSubmitter` != _NO_CONSENT: the consent's uint32 submitter, 0 included) the caller must be
     * that institution; the caller must hold one of the `allowed` roles on the loan and be Active; an
     * agent acting for creditor `c` (not as the loan's recorder) needs `c` Active too.
     */
    function _authorize(uint32 b, uint32 c, uint32 recorder, uint8 allowed, bool withParties, uint256 namedSubmitter)
        private
        view
        returns (uint32 caller, uint8 roles, InstitutionCore bc, InstitutionCore cc)
    {
        InstitutionCore callerCore;
        if (withParties) {
            (caller, callerCore, bc, cc) = _registry.coreWords(msg.sender, b, c);
        } else {
            // The unused cores are zero placeholders (ids 0).
            // slither-disable-next-line unused-return
            (caller, callerCore,,) = _registry.coreWords(msg.sender, 0, 0);
        }
        if (namedSubmitter != _NO_CONSENT && namedSubmitter != caller) {
            revert ConsentSubmitterMismatch(uint32(namedSubmitter), caller);
        }
        if (caller != 0) {
            if (caller == b) {
                roles = _BORROWER; // never lender side of its own loan, even if appointed agent
            } else if (caller == c) {
                roles = _LENDER;
            } else if (_agents[c][caller]) {
                roles = _LENDER | _AGENT;
            }
            if (caller == recorder) roles |= _RECORDER;
        }
        if (roles & allowed == 0) revert UnauthorizedWallet(msg.sender, caller);
        _requireActive(caller, callerCore);
        // An agent acts for its principal: a creditor that is not Active (suspended, revoked) lends,
        // collects, defaults and closes nothing through the banks it appointed.
        if (roles & _AGENT != 0 && roles & allowed & _RECORDER == 0) {
            if (!withParties) {
                // The caller's and the borrower's cores are not needed here.
                // slither-disable-next-line unused-return
                (,,, cc) = _registry.coreWords(msg.sender, 0, c);
            }
            _requireActive(c, cc);
        }
    }

    /// @dev {_authorize} for an existing loan.
    function _authorize(LoanHeader h, uint8 allowed, bool withParties, uint256 namedSubmitter)
        private
        view
        returns (uint32 caller, uint8 roles, InstitutionCore bc, InstitutionCore cc)
    {
        return _authorize(h.borrower(), h.creditor(), h.recorder(), allowed, withParties, namedSubmitter);
    }

    /// @dev The caller's institution, which must be Active.
    function _callerInstitution() private view returns (uint32 caller) {
        // The unused cores are zero placeholders (ids 0).
        // slither-disable-next-line unused-return
        (uint32 id, InstitutionCore core,,) = _registry.coreWords(msg.sender, 0, 0);
        if (id == 0) revert UnauthorizedWallet(msg.sender, 0);
        _requireActive(id, core);
        return id;
    }

    function _creditorRevoked(LoanHeader h) private view returns (bool) {
        // Only the creditor's core is needed.
        // slither-disable-next-line unused-return
        (,,, InstitutionCore cc) = _registry.coreWords(msg.sender, 0, h.creditor());
        return cc.status() == IInstitutionRegistry.InstitutionStatus.Revoked;
    }

    function _requireActive(uint32 institutionId, InstitutionCore core) private pure {
        if (!core.isActive()) revert InstitutionNotActive(institutionId, core.status());
    }

    function _requireBorrower(uint32 borrower, InstitutionCore bc) private pure {
        _requireActive(borrower, bc);
        if (!bc.canBorrow()) revert InvalidBorrowerKind(borrower, bc.kind());
    }

    /// @dev Request data, the caller (one of `allowed`, named submitter), borrower and creditor.
    function _checkRecord(LoanRequest calldata r, uint8 allowed, uint256 namedSubmitter)
        private
        view
        returns (uint32 caller, uint8 roles, InstitutionCore bc)
    {
        if (r.principal == 0) revert ZeroAmount();
        if (r.documentHash == bytes32(0)) revert ZeroDocumentHash();
        InstitutionCore cc;
        (caller, roles, bc, cc) = _authorize(r.borrower, r.creditor, 0, allowed, true, namedSubmitter);
        _requireBorrower(r.borrower, bc);
        if (r.creditor == r.borrower || (InstitutionCore.unwrap(cc) != 0 && cc.kind() == IInstitutionRegistry.InstitutionKind.Observer)) {
            revert InvalidCreditor(r.creditor);
        }
        _requireActive(r.creditor, cc);
    }

    // ------------------------------------------------------------------ internals: consent

    function _consentHash(LoanRequest calldata r, uint64 drawAmount, ConsentSignature calldata c)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(CONSENT_TYPEHASH, c.submitter, r, drawAmount, c.nonce, c.epoch, c.deadline));
    }

    /// @dev Checks the borrower's consent (deadline, epoch, signer) and consumes its nonce.
    function _useConsent(uint32 borrower, InstitutionCore bc, ConsentSignature calldata c, bytes32 structHash) private {
        if (block.timestamp > c.deadline) revert SignatureExpired(c.deadline, block.timestamp);
        uint16 epoch = bc.signatureEpoch();
        if (c.epoch != epoch) revert ConsentRevoked(borrower, c.epoch, epoch);
        // The third value only details `err`, which is checked.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(_hashTypedData(structHash), c.signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidBorrowerSignature(address(0), borrower);
        // The admin wallet needs no registry call; any other wallet of the borrower costs one.
        if (signer != bc.admin() && _registry.institutionOf(signer) != borrower) {
            revert InvalidBorrowerSignature(signer, borrower);
        }
        mapping(uint256 => uint256) storage words = _nonceBitmap[borrower];
        uint256 bit = 1 << (c.nonce & 0xff);
        uint256 word = words[c.nonce >> 8];
        if (word & bit != 0) revert ConsentNonceUsed(borrower, c.nonce);
        words[c.nonce >> 8] = word | bit;
    }

    // ------------------------------------------------------------------ internals: loans

    function _header(uint64 loanId, LoanStatus expected) private view returns (LoanHeader h) {
        h = _loans[loanId].header;
        LoanStatus actual = h.status();
        if (actual != expected) revert InvalidLoanStatus(loanId, actual);
    }

    function _nextLoanId(uint32 borrower) private returns (uint64) {
        uint32 n = ++_positions[borrower].loanCount;
        return (uint64(borrower) << 32) | n;
    }

    function _recordQuote(LoanRequest calldata r, InstitutionCore bc)
        private
        view
        returns (IMacroPrudentialPolicy.RecordQuote memory)
    {
        return _policy.recordQuote(r.currency, r.financingType, r.valueDate, r.maturityDate, bc.kind(), bc.capitalBase());
    }

    function _emitRecorded(uint64 loanId, LoanRequest calldata r, LoanHeader h, uint256 balance, bytes calldata terms)
        private
    {
        emit LoanRecorded(
            loanId,
            r.borrower,
            r.creditor,
            h.recorder(),
            h.status(),
            r,
            h.shortTerm(),
            h.confirmBy(),
            h.borrowerConsented(),
            h.creditorConsented(),
            balance,
            terms
        );
    }

    /// @dev Second half of {recordLoanWithConsent}: an Active loan, its document, the initial draw, events.
    function _recordActive(
        LoanRequest calldata request,
        uint32 caller,
        InstitutionCore bc,
        uint64 drawAmount,
        bytes calldata terms
    ) private returns (uint64 loanId) {
        IMacroPrudentialPolicy.RecordQuote memory q = _recordQuote(request, bc);
        loanId = _nextLoanId(request.borrower);
        _claimDocument(request.documentHash, loanId);
        uint8 flags = q.shortTerm ? _BOTH_CONSENTED | LoanHeaderLibrary.SHORT_TERM : _BOTH_CONSENTED;
        LoanHeader h = LoanHeaderLibrary.create(request, caller, LoanStatus.Active, flags, q.confirmBy);
        LoanAmounts a = LoanAmountsLibrary.create(request.principal);
        uint256 delta = 0;
        uint256 balance = _positions[request.borrower].balance;
        if (drawAmount != 0) {
            if (drawAmount > request.principal) revert DrawdownExceedsAvailable(loanId, drawAmount, request.principal);
            (a, delta, balance) = _drawInto(loanId, request.borrower, a, drawAmount, q.rate, q.weightBps, q.limit);
        }
        _loans[loanId] = StoredLoan(h, a);
        _termsCommitment[loanId] = request.termsHash;
        _emitRecorded(loanId, request, h, balance, terms);
        if (drawAmount != 0) _emitDrawn(loanId, request.borrower, caller, drawAmount, a, q.rate, q.weightBps, delta, balance);
    }

    function _emitDrawn(
        uint64 loanId,
        uint32 borrower,
        uint32 by,
        uint64 amount,
        LoanAmounts a,
        uint64 rate,
        uint32 weightBps,
        uint256 delta,
        uint256 balance
    ) private {
        emit LoanDrawn(loanId, borrower, by, amount, a.drawn(), a.outstanding(), rate, weightBps, delta, balance);
    }

    /// @dev Amount and date checks shared by {drawdown} and {previewDrawdown}.
    function _checkDraw(uint64 loanId, LoanHeader h, LoanAmounts a, uint64 amount) private view {
        if (amount == 0) revert ZeroAmount();
        if (block.timestamp > h.maturityDate()) revert LoanMatured(loanId, h.maturityDate());
        uint64 available = a.available();
        if (amount > available) revert DrawdownExceedsAvailable(loanId, amount, available);
    }

    /**
     * @dev The one route to the borrower's limit: a drawdown of `amount` at `rate` and `weightBps`
     * adds delta to the loan's contribution and to the balance, if the borrower is not frozen and
     * the drawdown fits. Books the balance; returns the loan's new amounts for the caller to store.
     */
    function _drawInto(
        uint64 loanId,
        uint32 borrower,
        LoanAmounts a,
        uint64 amount,
        uint64 rate,
        uint32 weightBps,
        uint256 limit
    ) private returns (LoanAmounts, uint256 delta, uint256 balanceAfter) {
        BorrowerPosition storage pos = _positions[borrower];
        if (pos.frozen) revert BorrowerFrozen(borrower);
        delta = _contribution(amount, rate, weightBps);
        balanceAfter = pos.balance + delta;
        if (!_fits(balanceAfter, delta, limit)) revert BorrowingLimitExceeded(borrower, balanceAfter, limit);
        uint256 contributionAfter = a.contribution() + delta;
        if (contributionAfter > type(uint64).max) revert ContributionOverflow(loanId, contributionAfter);
        pos.balance = uint128(balanceAfter);
        return (a.afterDraw(amount, uint64(delta)), delta, balanceAfter);
    }

    /// @dev A drawdown fits when it adds nothing (a zero weight never adds) or stays within the limit.
    function _fits(uint256 balanceAfter, uint256 delta, uint256 limit) private pure returns (bool) {
        return delta == 0 || balanceAfter <= limit;
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

    /// @dev Contribution removed by repaying `amount` of `outstanding` (> 0): what remains is
    /// ceil(contribution x (outstanding - amount) / outstanding), rounded against the borrower.
    function _repaidContribution(uint64 contribution, uint64 outstanding, uint64 amount) private pure returns (uint64) {
        unchecked {
            // amount <= outstanding (checked); contribution x remainder < 2^128.
            uint256 remaining = (uint256(contribution) * (outstanding - amount) + outstanding - 1) / outstanding;
            return contribution - uint64(remaining); // remaining <= contribution
        }
    }

    /// @dev Shared checks of both extension functions; returns the caller and the new term class.
    function _prepareExtension(uint64 loanId, uint32 newMaturityDate, uint256 namedSubmitter)
        private
        view
        returns (LoanHeader h, uint32 caller, InstitutionCore bc, bool shortTermAfter)
    {
        _requireNotPaused();
        h = _header(loanId, LoanStatus.Active);
        if (newMaturityDate <= h.maturityDate()) revert InvalidExtension(loanId, h.maturityDate(), newMaturityDate);
        InstitutionCore cc;
        (caller,, bc, cc) = _authorize(h, _LENDER, true, namedSubmitter);
        _requireActive(h.borrower(), bc);
        _requireActive(h.creditor(), cc);
        shortTermAfter = _policy.extensionTerm(h.valueDate(), newMaturityDate);
    }

    function _extend(uint64 loanId, LoanHeader before, uint32 caller, uint32 newMaturityDate, bool shortTermAfter, bool consented)
        private
    {
        LoanHeader h = before.withMaturity(newMaturityDate, shortTermAfter);
        _loans[loanId].header = h;
        _emitExtended(loanId, before, h, caller, consented);
    }

    function _emitExtended(uint64 loanId, LoanHeader before, LoanHeader h, uint32 caller, bool consented) private {
        uint256 balance = _positions[h.borrower()].balance;
        emit LoanExtended(
            loanId,
            h.borrower(),
            caller,
            before.maturityDate(),
            h.maturityDate(),
            before.shortTerm(),
            h.shortTerm(),
            consented,
            balance
        );
    }

    // ------------------------------------------------------------------ internals: documents, freeze

    function _isLive(LoanStatus s) private pure returns (bool) {
        return s == LoanStatus.Active || s == LoanStatus.Defaulted;
    }

    /// @dev The live loan that claimed `documentHash`, 0 if none (lazy guard: see the storage layout).
    function _liveLoanOf(bytes32 documentHash) private view returns (uint64 loanId) {
        loanId = _documentLoan[documentHash];
        if (loanId != 0 && !_isLive(_loans[loanId].header.status())) loanId = 0;
    }

    function _requireDocumentFree(bytes32 documentHash) private view {
        uint64 holder = _liveLoanOf(documentHash);
        if (holder != 0) revert DocumentAlreadyBacksLoan(documentHash, holder);
    }

    function _claimDocument(bytes32 documentHash, uint64 loanId) private {
        _requireDocumentFree(documentHash);
        _documentLoan[documentHash] = loanId;
    }

    function _setFrozen(uint32 institution, bool frozen) private {
        InstitutionCore core = _registry.institutionCore(institution);
        if (InstitutionCore.unwrap(core) == 0) {
            revert InstitutionNotActive(institution, IInstitutionRegistry.InstitutionStatus.None);
        }
        BorrowerPosition storage pos = _positions[institution];
        if (pos.frozen == frozen) revert FreezeUnchanged(institution, frozen);
        pos.frozen = frozen;
    }
}
