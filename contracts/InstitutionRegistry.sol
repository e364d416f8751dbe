// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";

/**
 * @title InstitutionRegistry
 * @notice See {IInstitutionRegistry}. The regulator (REGULATOR_ROLE) onboards institutions and
 * changes their status and capital base; an institution's admin wallet manages its other wallets.
 * Pausing (PAUSER_ROLE) stops the institutions' own writes; the regulator's writes stay available
 * so that it can still suspend or revoke during an incident.
 *
 * Storage layout per institution (`_institutions[id]`):
 *   slot 0: admin (address, 160) | kind (uint8) | status (uint8) | capitalBase (uint64)  = 240 bits
 *   slot 1: identifier (bytes20) | jurisdiction (bytes2) | walletCount (uint32)         = 208 bits
 * The ledger reads slot 0 only.
 * Encryption keys (`_encryptionKeys[id]`): an append-only array of X25519 public keys; key
 * version v is element v - 1. Id 0 holds the regulator's keys (REGULATOR_ROLE only).
 */
contract InstitutionRegistry is IInstitutionRegistry, AccessControl, Pausable {
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct InstitutionRecord {
        // slot 0
        address admin;
        InstitutionKind kind;
        InstitutionStatus status;
        uint64 capitalBase;
        // slot 1
        bytes20 identifier;
        bytes2 jurisdiction;
        uint32 walletCount;
    }

    uint32 private _count;
    mapping(uint32 institutionId => InstitutionRecord) private _institutions;
    mapping(address wallet => uint32 institutionId) private _walletInstitution;
    mapping(bytes20 identifier => uint32 institutionId) private _byIdentifier;
    /// @dev Every encryption key an institution (0 = the regulator) registered; version = index + 1.
    mapping(uint32 institutionId => bytes32[] keys) private _encryptionKeys;

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
        address admin
    ) external onlyRole(REGULATOR_ROLE) returns (uint32 institutionId) {
        if (!_isValidIdentifier(identifier)) revert InvalidIdentifier(identifier);
        if (!_isUpper(jurisdiction[0]) || !_isUpper(jurisdiction[1])) revert InvalidJurisdiction(jurisdiction);
        uint32 holder = _byIdentifier[identifier];
        if (holder != 0) revert IdentifierTaken(identifier, holder);
        if (admin == address(0)) revert ZeroAddress();
        uint32 adminOwner = _walletInstitution[admin];
        if (adminOwner != 0) revert WalletAlreadyRegistered(admin, adminOwner);

        institutionId = ++_count;
        _institutions[institutionId] = InstitutionRecord({
            admin: admin,
            kind: kind,
            status: InstitutionStatus.Active,
            capitalBase: capitalBase,
            identifier: identifier,
            jurisdiction: jurisdiction,
            walletCount: 1
        });
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
        uint64 old = inst.capitalBase;
        inst.capitalBase = capitalBase;
        emit CapitalBaseUpdated(institutionId, old, capitalBase);
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
    function addWallet(uint32 institutionId, address wallet) external {
        InstitutionRecord storage inst = _managed(institutionId);
        _addWallet(institutionId, inst, wallet);
    }

    /// @inheritdoc IInstitutionRegistry
    function removeWallet(uint32 institutionId, address wallet) external {
        InstitutionRecord storage inst = _managed(institutionId);
        if (_walletInstitution[wallet] != institutionId) revert WalletNotRegistered(wallet, institutionId);
        if (inst.admin == wallet) revert CannotRemoveAdminWallet(institutionId, wallet);
        delete _walletInstitution[wallet];
        unchecked {
            --inst.walletCount;
        }
        emit WalletRemoved(institutionId, wallet, _msgSender());
    }

    /// @inheritdoc IInstitutionRegistry
    function setAdminWallet(uint32 institutionId, address newAdmin) external {
        InstitutionRecord storage inst = _managed(institutionId);
        if (_walletInstitution[newAdmin] != institutionId) _addWallet(institutionId, inst, newAdmin);
        address old = inst.admin;
        inst.admin = newAdmin;
        emit AdminWalletChanged(institutionId, old, newAdmin);
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
        return Institution({
            id: institutionId,
            kind: inst.kind,
            status: inst.status,
            capitalBase: inst.capitalBase,
            admin: inst.admin,
            identifier: inst.identifier,
            jurisdiction: inst.jurisdiction,
            walletCount: inst.walletCount
        });
    }

    /// @inheritdoc IInstitutionRegistry
    function institutionCore(uint32 institutionId) external view returns (InstitutionCore memory) {
        return _core(institutionId);
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
    function lookup(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, InstitutionCore memory walletCore, InstitutionCore memory coreA, InstitutionCore memory coreB)
    {
        walletInstitution = _walletInstitution[wallet];
        // Each institution slot is read at most once.
        if (walletInstitution != 0) walletCore = _core(walletInstitution);
        if (a != 0) coreA = a == walletInstitution ? walletCore : _core(a);
        if (b != 0) coreB = b == a ? coreA : (b == walletInstitution ? walletCore : _core(b));
    }

    /// @inheritdoc IInstitutionRegistry
    function coreWords(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, uint256 walletCore, uint256 coreA, uint256 coreB)
    {
        walletInstitution = _walletInstitution[wallet];
        // Each institution slot is read at most once.
        if (walletInstitution != 0) walletCore = _coreWord(walletInstitution);
        if (a != 0) coreA = a == walletInstitution ? walletCore : _coreWord(a);
        if (b != 0) coreB = b == a ? coreA : (b == walletInstitution ? walletCore : _coreWord(b));
    }

    /// @inheritdoc IInstitutionRegistry
    function isValidIdentifier(bytes20 identifier) external pure returns (bool) {
        return _isValidIdentifier(identifier);
    }

    // ------------------------------------------------------------------ internals

    function _core(uint32 institutionId) private view returns (InstitutionCore memory core) {
        InstitutionRecord storage inst = _institutions[institutionId];
        core.kind = inst.kind;
        core.status = inst.status;
        core.capitalBase = inst.capitalBase;
        core.admin = inst.admin;
    }

    /// @dev Slot 0 of the record as one word (layout in {IInstitutionRegistry-coreWords}).
    function _coreWord(uint32 institutionId) private view returns (uint256 word) {
        InstitutionRecord storage inst = _institutions[institutionId];
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            word := sload(inst.slot)
        }
    }

    function _existing(uint32 institutionId) private view returns (InstitutionRecord storage inst) {
        inst = _institutions[institutionId];
        if (inst.status == InstitutionStatus.None) revert UnknownInstitution(institutionId);
    }

    /// @dev The regulator, or the Active institution's admin wallet while not paused. Not Revoked.
    function _managed(uint32 institutionId) private view returns (InstitutionRecord storage inst) {
        inst = _existing(institutionId);
        address sender = _msgSender();
        if (!hasRole(REGULATOR_ROLE, sender)) {
            _requireNotPaused();
            if (inst.admin != sender) revert UnauthorizedWallet(sender, _walletInstitution[sender]);
            if (inst.status != InstitutionStatus.Active) revert InstitutionNotActive(institutionId, inst.status);
        } else if (inst.status == InstitutionStatus.Revoked) {
            revert InstitutionNotActive(institutionId, inst.status);
        }
    }

    function _addWallet(uint32 institutionId, InstitutionRecord storage inst, address wallet) private {
        if (wallet == address(0)) revert ZeroAddress();
        uint32 owner = _walletInstitution[wallet];
        if (owner != 0) revert WalletAlreadyRegistered(wallet, owner);
        _walletInstitution[wallet] = institutionId;
        ++inst.walletCount;
        emit WalletAdded(institutionId, wallet, _msgSender());
    }

    function _transition(uint32 institutionId, InstitutionStatus fromA, InstitutionStatus fromB, InstitutionStatus to)
        private
    {
        InstitutionRecord storage inst = _existing(institutionId);
        InstitutionStatus old = inst.status;
        if (old != fromA && old != fromB) revert InvalidStatusTransition(institutionId, old, to);
        inst.status = to;
        emit InstitutionStatusChanged(institutionId, old, to, _msgSender());
    }

    function _isUpper(bytes1 c) private pure returns (bool) {
        return c >= "A" && c <= "Z";
    }

    function _isDigit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }

    /// @dev LEI: 20 x [0-9A-Z] with ISO 7064 MOD 97-10 == 1. USCC: 18 x USCC charset + 2 zero bytes.
    function _isValidIdentifier(bytes20 id) private pure returns (bool) {
        if (id[18] == 0 && id[19] == 0) {
            for (uint256 i; i < 18; ++i) {
                bytes1 c = id[i];
                bool ok = _isDigit(c)
                    || (_isUpper(c) && c != "I" && c != "O" && c != "Z" && c != "S" && c != "V");
                if (!ok) return false;
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
}
