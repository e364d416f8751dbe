// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";
import {EIP712Domain} from "./base/EIP712Domain.sol";
import {InstitutionCore, InstitutionCoreLibrary} from "./types/InstitutionCore.sol";

/**
 * @title InstitutionRegistry
 * @notice See {IInstitutionRegistry}. The regulator (REGULATOR_ROLE) onboards institutions and
 * changes their status and capital base; an institution's admin wallet manages its other wallets.
 * Every wallet binding carries the wallet's own EIP-712 proof. Pausing (PAUSER_ROLE) stops the
 * institutions' own writes; the regulator's writes stay available so that it can still suspend or
 * revoke during an incident.
 *
 * Storage layout per institution (`_institutions[id]`):
 *   slot 0: {InstitutionCore} admin (160) | kind (8) | status (8) | capitalBase (64) | signatureEpoch (16)
 *   slot 1: identifier (bytes20) | jurisdiction (bytes2) | walletCount (uint32)   = 208 bits
 * The ledger reads slot 0 only ({coreWords}).
 * `_bindingNonce[wallet]`: the nonce of the wallet's next binding proof.
 * Encryption keys (`_encryptionKeys[id]`): an append-only array of X25519 public keys; key
 * version v is element v - 1. Id 0 holds the regulator's keys (REGULATOR_ROLE only).
 */
contract InstitutionRegistry is IInstitutionRegistry, AccessControl, Pausable, EIP712Domain {
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice EIP-712 type hash of a wallet's proof of key possession.
    bytes32 public constant WALLET_BINDING_TYPEHASH =
        keccak256("WalletBinding(bytes20 identifier,address wallet,uint64 nonce,uint64 deadline)");

    /// @dev USCC charset index of 'A'..'Z' (0xff = not in "0123456789ABCDEFGHJKLMNPQRTUWXY": I O S V Z).
    bytes private constant _USCC_LETTER_VALUE = hex"0a0b0c0d0e0f1011ff1213141516ff171819ff1a1bff1c1d1eff";
    /// @dev GB 32100-2015 weights 3^(i-1) mod 31, i = 1..17.
    bytes private constant _USCC_WEIGHTS = hex"0103091b131a1011141d190d08180a1e1c";

    struct InstitutionRecord {
        InstitutionCore core; // slot 0
        bytes20 identifier; // slot 1
        bytes2 jurisdiction;
        uint32 walletCount;
    }

    uint32 private _count;
    mapping(uint32 institutionId => InstitutionRecord) private _institutions;
    mapping(address wallet => uint32 institutionId) private _walletInstitution;
    mapping(bytes20 identifier => uint32 institutionId) private _byIdentifier;
    /// @dev Every encryption key an institution (0 = the regulator) registered; version = index + 1.
    mapping(uint32 institutionId => bytes32[] keys) private _encryptionKeys;
    mapping(address wallet => uint64 nonce) private _bindingNonce;

    /// @param admin receives DEFAULT_ADMIN_ROLE, REGULATOR_ROLE and PAUSER_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGULATOR_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ------------------------------------------------------------------ regulator

    /// @inheritdoc IInstitutionRegistry
    function registerInstitution(
        InstitutionKind kind,
        bytes20 identifier,
        bytes2 jurisdiction,
        uint64 capitalBase,
        string calldata name,
        address admin,
        WalletProof calldata adminProof
    ) external onlyRole(REGULATOR_ROLE) returns (uint32 institutionId) {
        if (!_isValidIdentifier(identifier)) revert InvalidIdentifier(identifier);
        if (!_isUpper(jurisdiction[0]) || !_isUpper(jurisdiction[1])) revert InvalidJurisdiction(jurisdiction);
        uint32 holder = _byIdentifier[identifier];
        if (holder != 0) revert IdentifierTaken(identifier, holder);
        _checkUnbound(admin);
        _useProof(identifier, admin, adminProof);

        institutionId = ++_count;
        InstitutionRecord storage inst = _institutions[institutionId];
        inst.core = InstitutionCoreLibrary.pack(admin, kind, InstitutionStatus.Active, capitalBase, 0);
        inst.identifier = identifier;
        inst.jurisdiction = jurisdiction;
        inst.walletCount = 1;
        _byIdentifier[identifier] = institutionId;
        _walletInstitution[admin] = institutionId;
        emit InstitutionRegistered(institutionId, admin, kind, identifier, jurisdiction, capitalBase, name);
        emit WalletAdded(institutionId, admin, _msgSender());
    }

    /// @inheritdoc IInstitutionRegistry
    function suspendInstitution(uint32 institutionId) external onlyRole(REGULATOR_ROLE) {
        _transition(institutionId, InstitutionStatus.Active, InstitutionStatus.Active, InstitutionStatus.Suspended);
    }

    /// @inheritdoc IInstitutionRegistry
    function reinstateInstitution(uint32 institutionId) external onlyRole(REGULATOR_ROLE) {
        _transition(institutionId, InstitutionStatus.Suspended, InstitutionStatus.Suspended, InstitutionStatus.Active);
    }

    /// @inheritdoc IInstitutionRegistry
    function revokeInstitution(uint32 institutionId) external onlyRole(REGULATOR_ROLE) {
        _transition(institutionId, InstitutionStatus.Active, InstitutionStatus.Suspended, InstitutionStatus.Revoked);
    }

    /// @inheritdoc IInstitutionRegistry
    function setCapitalBase(uint32 institutionId, uint64 capitalBase) external onlyRole(REGULATOR_ROLE) {
        InstitutionRecord storage inst = _existing(institutionId);
        InstitutionCore core = inst.core;
        inst.core = core.withCapitalBase(capitalBase);
        emit CapitalBaseUpdated(institutionId, core.capitalBase(), capitalBase);
    }

    /// @notice Stop the institutions' own writes. Requirements: PAUSER_ROLE; not paused. May emit {Paused}.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume the institutions' own writes. Requirements: PAUSER_ROLE; paused. May emit {Unpaused}.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ institution admin

    /// @inheritdoc IInstitutionRegistry
    function addWallet(uint32 institutionId, address wallet, WalletProof calldata proof) external {
        InstitutionRecord storage inst = _managed(institutionId);
        _addWallet(institutionId, inst, wallet, proof);
    }

    /// @inheritdoc IInstitutionRegistry
    function removeWallet(uint32 institutionId, address wallet) external {
        InstitutionRecord storage inst = _managed(institutionId);
        if (_walletInstitution[wallet] != institutionId) revert WalletNotRegistered(wallet, institutionId);
        InstitutionCore core = inst.core;
        if (core.admin() == wallet) revert CannotRemoveAdminWallet(institutionId, wallet);
        delete _walletInstitution[wallet];
        unchecked {
            --inst.walletCount;
        }
        emit WalletRemoved(institutionId, wallet, _msgSender());
        _bumpEpoch(institutionId, inst, core);
    }

    /// @inheritdoc IInstitutionRegistry
    function setAdminWallet(uint32 institutionId, address newAdmin, WalletProof calldata proof) external {
        InstitutionRecord storage inst = _managed(institutionId);
        if (_walletInstitution[newAdmin] != institutionId) _addWallet(institutionId, inst, newAdmin, proof);
        InstitutionCore core = inst.core;
        inst.core = core.withAdmin(newAdmin);
        emit AdminWalletChanged(institutionId, core.admin(), newAdmin);
        _bumpEpoch(institutionId, inst, inst.core);
    }

    /// @inheritdoc IInstitutionRegistry
    function revokeSignatures(uint32 institutionId) external {
        InstitutionRecord storage inst = _managed(institutionId);
        _bumpEpoch(institutionId, inst, inst.core);
    }

    /// @inheritdoc IInstitutionRegistry
    function setEncryptionKey(uint32 institutionId, bytes32 publicKey) external returns (uint32 version) {
        if (institutionId == 0) {
            _checkRole(REGULATOR_ROLE);
        } else {
            _managed(institutionId);
        }
        if (publicKey == bytes32(0)) revert InvalidEncryptionKey(publicKey);
        _encryptionKeys[institutionId].push(publicKey);
        version = uint32(_encryptionKeys[institutionId].length);
        emit EncryptionKeyRegistered(institutionId, version, publicKey, _msgSender());
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IInstitutionRegistry
    function encryptionKey(uint32 institutionId) external view returns (bytes32 publicKey, uint32 version) {
        bytes32[] storage keys = _encryptionKeys[institutionId];
        version = uint32(keys.length);
        if (version != 0) publicKey = keys[version - 1];
    }

    /// @inheritdoc IInstitutionRegistry
    function encryptionKeyAt(uint32 institutionId, uint32 version) external view returns (bytes32 publicKey) {
        bytes32[] storage keys = _encryptionKeys[institutionId];
        if (version == 0 || version > keys.length) {
            revert UnknownEncryptionKey(institutionId, version, uint32(keys.length));
        }
        return keys[version - 1];
    }

    /// @inheritdoc IInstitutionRegistry
    function getInstitution(uint32 institutionId) external view returns (Institution memory) {
        InstitutionRecord storage inst = _existing(institutionId);
        InstitutionCore core = inst.core;
        return Institution({
            id: institutionId,
            kind: core.kind(),
            status: core.status(),
            capitalBase: core.capitalBase(),
            admin: core.admin(),
            identifier: inst.identifier,
            jurisdiction: inst.jurisdiction,
            walletCount: inst.walletCount,
            signatureEpoch: core.signatureEpoch()
        });
    }

    /// @inheritdoc IInstitutionRegistry
    function institutionCore(uint32 institutionId) external view returns (InstitutionCore) {
        return _institutions[institutionId].core;
    }

    /// @inheritdoc IInstitutionRegistry
    function signatureEpoch(uint32 institutionId) external view returns (uint16) {
        return _institutions[institutionId].core.signatureEpoch();
    }

    /// @inheritdoc IInstitutionRegistry
    function bindingNonce(address wallet) external view returns (uint64) {
        return _bindingNonce[wallet];
    }

    /// @inheritdoc IInstitutionRegistry
    function walletBindingDigest(bytes20 identifier, address wallet, uint64 nonce, uint64 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedData(keccak256(abi.encode(WALLET_BINDING_TYPEHASH, identifier, wallet, nonce, deadline)));
    }

    /// @inheritdoc IInstitutionRegistry
    function institutionOf(address wallet) external view returns (uint32) {
        return _walletInstitution[wallet];
    }

    /// @inheritdoc IInstitutionRegistry
    function institutionByIdentifier(bytes20 identifier) external view returns (uint32) {
        return _byIdentifier[identifier];
    }

    /// @inheritdoc IInstitutionRegistry
    function institutionCount() external view returns (uint32) {
        return _count;
    }

    /// @inheritdoc IInstitutionRegistry
    function coreWords(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, InstitutionCore walletCore, InstitutionCore coreA, InstitutionCore coreB)
    {
        walletInstitution = _walletInstitution[wallet];
        // Each institution slot is read at most once.
        if (walletInstitution != 0) walletCore = _institutions[walletInstitution].core;
        if (a != 0) coreA = a == walletInstitution ? walletCore : _institutions[a].core;
        if (b != 0) coreB = b == a ? coreA : (b == walletInstitution ? walletCore : _institutions[b].core);
    }

    /// @inheritdoc IInstitutionRegistry
    function isValidIdentifier(bytes20 identifier) external pure returns (bool) {
        return _isValidIdentifier(identifier);
    }

    // ------------------------------------------------------------------ internals

    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("xborder InstitutionRegistry", "2");
    }

    function _existing(uint32 institutionId) private view returns (InstitutionRecord storage inst) {
        inst = _institutions[institutionId];
        if (InstitutionCore.unwrap(inst.core) == 0) revert UnknownInstitution(institutionId);
    }

    /// @dev The regulator, or the Active institution's admin wallet while not paused. Not Revoked.
    function _managed(uint32 institutionId) private view returns (InstitutionRecord storage inst) {
        inst = _existing(institutionId);
        InstitutionCore core = inst.core;
        address sender = _msgSender();
        if (!hasRole(REGULATOR_ROLE, sender)) {
            _requireNotPaused();
            if (core.admin() != sender) revert UnauthorizedWallet(sender, _walletInstitution[sender]);
            if (!core.isActive()) revert InstitutionNotActive(institutionId, core.status());
        } else if (core.status() == InstitutionStatus.Revoked) {
            revert InstitutionNotActive(institutionId, InstitutionStatus.Revoked);
        }
    }

    function _checkUnbound(address wallet) private view {
        if (wallet == address(0)) revert ZeroAddress();
        uint32 owner = _walletInstitution[wallet];
        if (owner != 0) revert WalletAlreadyRegistered(wallet, owner);
    }

    /// @dev Verifies and consumes `wallet`'s proof that it agrees to be bound to `identifier`.
    function _useProof(bytes20 identifier, address wallet, WalletProof calldata proof) private {
        if (block.timestamp > proof.deadline) revert SignatureExpired(proof.deadline, block.timestamp);
        uint64 nonce = _bindingNonce[wallet];
        bytes32 digest = walletBindingDigest(identifier, wallet, nonce, proof.deadline);
        // The third value only details a failure, which `signer != wallet` already reports.
        // slither-disable-next-line unused-return
        (address signer,,) = ECDSA.tryRecoverCalldata(digest, proof.signature);
        if (signer != wallet) revert InvalidWalletProof(wallet, signer);
        _bindingNonce[wallet] = nonce + 1;
    }

    function _addWallet(uint32 institutionId, InstitutionRecord storage inst, address wallet, WalletProof calldata proof)
        private
    {
        _checkUnbound(wallet);
        _useProof(inst.identifier, wallet, proof);
        _walletInstitution[wallet] = institutionId;
        ++inst.walletCount;
        emit WalletAdded(institutionId, wallet, _msgSender());
    }

    function _bumpEpoch(uint32 institutionId, InstitutionRecord storage inst, InstitutionCore core) private {
        InstitutionCore next = core.withNextEpoch();
        inst.core = next;
        emit SignatureEpochChanged(institutionId, next.signatureEpoch(), _msgSender());
    }

    function _transition(uint32 institutionId, InstitutionStatus fromA, InstitutionStatus fromB, InstitutionStatus to)
        private
    {
        InstitutionRecord storage inst = _existing(institutionId);
        InstitutionCore core = inst.core;
        InstitutionStatus old = core.status();
        if (old != fromA && old != fromB) revert InvalidStatusTransition(institutionId, old, to);
        core = core.withStatus(to);
        inst.core = core;
        emit InstitutionStatusChanged(institutionId, old, to, _msgSender());
        _bumpEpoch(institutionId, inst, core);
    }

    function _isUpper(bytes1 c) private pure returns (bool) {
        return c >= "A" && c <= "Z";
    }

    function _isDigit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }

    /// @dev LEI: 20 x [0-9A-Z] with ISO 7064 MOD 97-10 == 1. USCC: 18 chars of the USCC charset + 2
    /// zero bytes, the 18th the GB 32100-2015 check character of the first 17.
    function _isValidIdentifier(bytes20 id) private pure returns (bool) {
        if (id[18] == 0 && id[19] == 0) {
            uint256 sum = 0;
            for (uint256 i; i < 18; ++i) {
                uint256 v = _usccValue(id[i]);
                if (v > 30) return false;
                if (i < 17) {
                    sum += v * uint8(_USCC_WEIGHTS[i]);
                } else if (v != (31 - sum % 31) % 31) {
                    return false;
                }
            }
            return true;
        }
        uint256 rem = 0;
        for (uint256 i; i < 20; ++i) {
            bytes1 c = id[i];
            if (_isDigit(c)) {
                rem = (rem * 10 + (uint8(c) - 48)) % 97;
            } else if (_isUpper(c)) {
                rem = (rem * 100 + (uint8(c) - 55)) % 97;
            } else {
                return false;
            }
        }
        return rem == 1;
    }

    /// @dev Index of `c` in the USCC charset, 0xff when it is not in it.
    function _usccValue(bytes1 c) private pure returns (uint256) {
        if (_isDigit(c)) return uint8(c) - 48;
        if (_isUpper(c)) return uint8(_USCC_LETTER_VALUE[uint8(c) - 65]);
        return 0xff;
    }
}
