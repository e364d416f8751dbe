// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInstitutionRegistry} from "../../interfaces/IInstitutionRegistry.sol";
import {IMacroPrudentialPolicy} from "../../interfaces/IMacroPrudentialPolicy.sol";

/**
 * @notice Every scalar parameter of the policy in one word: 15 x uint16, parameter `p` in bits
 * [16p, 16p + 16) (order of {IMacroPrudentialPolicy-Parameter}; 240 bits used). One SLOAD gives
 * the policy everything a drawdown, a record or an extension needs.
 */
type PolicyParameters is uint256;

using PolicyParametersLibrary for PolicyParameters global;

/// @title PolicyParametersLibrary
/// @notice Typed access to {PolicyParameters} and the limit formula (its one implementation).
library PolicyParametersLibrary {
    function get(PolicyParameters ps, IMacroPrudentialPolicy.Parameter p) internal pure returns (uint16) {
        return uint16(PolicyParameters.unwrap(ps) >> (16 * uint256(p)));
    }

    function set(PolicyParameters ps, IMacroPrudentialPolicy.Parameter p, uint16 value)
        internal
        pure
        returns (PolicyParameters)
    {
        uint256 shift = 16 * uint256(p);
        uint256 w = PolicyParameters.unwrap(ps) & ~(uint256(type(uint16).max) << shift);
        return PolicyParameters.wrap(w | (uint256(value) << shift));
    }

    /// @notice Leverage ratio and adjustment parameter (bps) of a borrower kind; (0, 0) for kinds that cannot borrow.
    /// The leverage parameters are declared in InstitutionKind order (DomesticBank .. Enterprise = 0 .. 3),
    /// so the kind is the leverage parameter's index.
    function limitFactors(PolicyParameters ps, IInstitutionRegistry.InstitutionKind kind)
        internal
        pure
        returns (uint16 leverageBps, uint16 adjustmentBps)
    {
        if (kind > IInstitutionRegistry.InstitutionKind.Enterprise) return (0, 0);
        leverageBps = get(ps, IMacroPrudentialPolicy.Parameter(uint8(kind)));
        adjustmentBps = get(
            ps,
            kind == IInstitutionRegistry.InstitutionKind.Enterprise
                ? IMacroPrudentialPolicy.Parameter.AdjustmentEnterprise
                : IMacroPrudentialPolicy.Parameter.AdjustmentFinancial
        );
    }

    /// @notice Upper limit = floor(capitalBase x leverage x adjustment / 1e8), CNY minor units.
    function limit(PolicyParameters ps, IInstitutionRegistry.InstitutionKind kind, uint64 capitalBase)
        internal
        pure
        returns (uint256)
    {
        (uint16 leverage, uint16 adjustment) = limitFactors(ps, kind);
        unchecked {
            return uint256(capitalBase) * leverage * adjustment / 1e8; // < 2^96: no overflow
        }
    }

    /// @notice Days parameter `p` in seconds.
    function daysOf(PolicyParameters ps, IMacroPrudentialPolicy.Parameter p) internal pure returns (uint256) {
        return uint256(get(ps, p)) * 1 days;
    }
}
