// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @notice Slot 1 of a loan: its amounts, rewritten with one SSTORE by every drawdown and repayment.
 *
 * Layout, from the low bits:
 *   principal (uint64, 0-63) | drawn (uint64, 64-127) | outstanding (uint64, 128-191) |
 *   contribution (uint64, 192-255)
 * principal, drawn, outstanding: minor units of the loan currency; contribution: the loan's share of
 * its borrower's risk-weighted balance, CNY minor units. Always outstanding <= drawn <= principal,
 * and outstanding == 0 implies contribution == 0.
 */
type LoanAmounts is uint256;

using LoanAmountsLibrary for LoanAmounts global;

/// @title LoanAmountsLibrary
/// @notice Typed getters and the two state changes of {LoanAmounts}.
library LoanAmountsLibrary {
    uint256 internal constant DRAWN_OFFSET = 64;
    uint256 internal constant OUTSTANDING_OFFSET = 128;
    uint256 internal constant CONTRIBUTION_OFFSET = 192;

    function create(uint64 principal_) internal pure returns (LoanAmounts) {
        return LoanAmounts.wrap(principal_);
    }

    function principal(LoanAmounts a) internal pure returns (uint64) {
        return uint64(LoanAmounts.unwrap(a));
    }

    function drawn(LoanAmounts a) internal pure returns (uint64) {
        return uint64(LoanAmounts.unwrap(a) >> DRAWN_OFFSET);
    }

    function outstanding(LoanAmounts a) internal pure returns (uint64) {
        return uint64(LoanAmounts.unwrap(a) >> OUTSTANDING_OFFSET);
    }

    function contribution(LoanAmounts a) internal pure returns (uint64) {
        return uint64(LoanAmounts.unwrap(a) >> CONTRIBUTION_OFFSET);
    }

    /// @notice Undrawn principal.
    function available(LoanAmounts a) internal pure returns (uint64) {
        unchecked {
            return principal(a) - drawn(a); // drawn <= principal always
        }
    }

    /// @notice After drawing `amount` (<= available) that adds `added` (fits uint64 with the
    /// current contribution: checked by the caller) to the contribution.
    function afterDraw(LoanAmounts a, uint64 amount, uint64 added) internal pure returns (LoanAmounts) {
        unchecked {
            // drawn + amount <= principal and outstanding + amount <= drawn + amount: no field carries
            // into the next; contribution + added < 2^64 (checked by the caller).
            return LoanAmounts.wrap(
                LoanAmounts.unwrap(a) + (uint256(amount) << DRAWN_OFFSET) + (uint256(amount) << OUTSTANDING_OFFSET)
                    + (uint256(added) << CONTRIBUTION_OFFSET)
            );
        }
    }

    /// @notice After repaying `amount` (<= outstanding) that removes `removed` (<= contribution).
    function afterRepay(LoanAmounts a, uint64 amount, uint64 removed) internal pure returns (LoanAmounts) {
        unchecked {
            return LoanAmounts.wrap(
                LoanAmounts.unwrap(a) - (uint256(amount) << OUTSTANDING_OFFSET) - (uint256(removed) << CONTRIBUTION_OFFSET)
            );
        }
    }
}
