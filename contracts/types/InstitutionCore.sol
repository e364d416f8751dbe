// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInstitutionRegistry} from "../../interfaces/IInstitutionRegistry.sol";

/**
 * @notice Slot 0 of an institution in the registry, as one word: everything the ledger needs on a
 * write, read with one SLOAD in the registry and passed to the ledger unencoded ({coreWords}).
 *
 * Layout, from the low bits:
 *   admin (address, 0-159) | kind (uint8, 160-167) | status (uint8, 168-175) |
 *   capitalBase (uint64, 176-239) | signatureEpoch (uint16, 240-255)
 * A zero word = unregistered (status None).
 */
type InstitutionCore is uint256;

using InstitutionCoreLibrary for InstitutionCore global;

/// @title InstitutionCoreLibrary
/// @notice Typed getters and (pure, copy-returning) setters of {InstitutionCore}.
library InstitutionCoreLibrary {
    uint256 internal constant KIND_OFFSET = 160;
    uint256 internal constant STATUS_OFFSET = 168;
    uint256 internal constant CAPITAL_OFFSET = 176;
    uint256 internal constant EPOCH_OFFSET = 240;
    uint256 private constant _ADDRESS_MASK = type(uint160).max;

    function pack(
        address admin_,
        IInstitutionRegistry.InstitutionKind kind_,
        IInstitutionRegistry.InstitutionStatus status_,
        uint64 capitalBase_,
        uint16 signatureEpoch_
    ) internal pure returns (InstitutionCore) {
        return InstitutionCore.wrap(
            uint256(uint160(admin_)) | (uint256(kind_) << KIND_OFFSET) | (uint256(status_) << STATUS_OFFSET)
                | (uint256(capitalBase_) << CAPITAL_OFFSET) | (uint256(signatureEpoch_) << EPOCH_OFFSET)
        );
    }

    function admin(InstitutionCore c) internal pure returns (address) {
        return address(uint160(InstitutionCore.unwrap(c)));
    }

    function kind(InstitutionCore c) internal pure returns (IInstitutionRegistry.InstitutionKind) {
        return IInstitutionRegistry.InstitutionKind(uint8(InstitutionCore.unwrap(c) >> KIND_OFFSET));
    }

    function status(InstitutionCore c) internal pure returns (IInstitutionRegistry.InstitutionStatus) {
        return IInstitutionRegistry.InstitutionStatus(uint8(InstitutionCore.unwrap(c) >> STATUS_OFFSET));
    }

    function capitalBase(InstitutionCore c) internal pure returns (uint64) {
        return uint64(InstitutionCore.unwrap(c) >> CAPITAL_OFFSET);
    }

    function signatureEpoch(InstitutionCore c) internal pure returns (uint16) {
        return uint16(InstitutionCore.unwrap(c) >> EPOCH_OFFSET);
    }

    function isActive(InstitutionCore c) internal pure returns (bool) {
        return uint8(InstitutionCore.unwrap(c) >> STATUS_OFFSET) == uint8(IInstitutionRegistry.InstitutionStatus.Active);
    }

    /// @notice DomesticBank or ForeignBankBranch (the kinds that may act as a creditor's agent).
    function isBank(InstitutionCore c) internal pure returns (bool) {
        uint8 k = uint8(InstitutionCore.unwrap(c) >> KIND_OFFSET);
        return k == uint8(IInstitutionRegistry.InstitutionKind.DomesticBank)
            || k == uint8(IInstitutionRegistry.InstitutionKind.ForeignBankBranch);
    }

    /// @notice Every kind but ForeignCreditor and Observer may borrow.
    function canBorrow(InstitutionCore c) internal pure returns (bool) {
        return uint8(InstitutionCore.unwrap(c) >> KIND_OFFSET) < uint8(IInstitutionRegistry.InstitutionKind.ForeignCreditor);
    }

    function withAdmin(InstitutionCore c, address admin_) internal pure returns (InstitutionCore) {
        return InstitutionCore.wrap((InstitutionCore.unwrap(c) & ~_ADDRESS_MASK) | uint256(uint160(admin_)));
    }

    function withStatus(InstitutionCore c, IInstitutionRegistry.InstitutionStatus status_)
        internal
        pure
        returns (InstitutionCore)
    {
        uint256 w = InstitutionCore.unwrap(c) & ~(uint256(type(uint8).max) << STATUS_OFFSET);
        return InstitutionCore.wrap(w | (uint256(status_) << STATUS_OFFSET));
    }

    function withCapitalBase(InstitutionCore c, uint64 capitalBase_) internal pure returns (InstitutionCore) {
        uint256 w = InstitutionCore.unwrap(c) & ~(uint256(type(uint64).max) << CAPITAL_OFFSET);
        return InstitutionCore.wrap(w | (uint256(capitalBase_) << CAPITAL_OFFSET));
    }

    /// @notice The next signature epoch (wraps from 65535 to 0: a consent would need to survive
    /// 65,536 revocations of its signer to come back, and each carries a deadline).
    function withNextEpoch(InstitutionCore c) internal pure returns (InstitutionCore) {
        uint16 next;
        unchecked {
            next = signatureEpoch(c) + 1;
        }
        uint256 w = InstitutionCore.unwrap(c) & ~(uint256(type(uint16).max) << EPOCH_OFFSET);
        return InstitutionCore.wrap(w | (uint256(next) << EPOCH_OFFSET));
    }
}
