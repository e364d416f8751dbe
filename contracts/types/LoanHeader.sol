// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILoanLedger} from "../../interfaces/ILoanLedger.sol";

/**
 * @notice Slot 0 of a loan: who, what, which state, which dates. Written at recording, changed by
 * consent (flags), status changes and extensions.
 *
 * Layout, from the low bits (240 bits used):
 *   borrower (uint32, 0-31) | creditor (uint32, 32-63) | recorder (uint32, 64-95) |
 *   currency (bytes3, 96-119) | financingType (uint8, 120-127) | status (uint8, 128-135) |
 *   flags (uint8, 136-143: bit 0 borrowerConsented, bit 1 creditorConsented, bit 2 shortTerm) |
 *   valueDate (uint32, 144-175) | maturityDate (uint32, 176-207) | confirmBy (uint32, 208-239)
 */
type LoanHeader is uint256;

using LoanHeaderLibrary for LoanHeader global;

/// @title LoanHeaderLibrary
/// @notice Typed getters and (pure, copy-returning) setters of {LoanHeader}.
library LoanHeaderLibrary {
    uint256 internal constant CREDITOR_OFFSET = 32;
    uint256 internal constant RECORDER_OFFSET = 64;
    uint256 internal constant CURRENCY_OFFSET = 96;
    uint256 internal constant FINANCING_TYPE_OFFSET = 120;
    uint256 internal constant STATUS_OFFSET = 128;
    uint256 internal constant FLAGS_OFFSET = 136;
    uint256 internal constant VALUE_DATE_OFFSET = 144;
    uint256 internal constant MATURITY_OFFSET = 176;
    uint256 internal constant CONFIRM_BY_OFFSET = 208;

    uint8 internal constant BORROWER_CONSENTED = 1;
    uint8 internal constant CREDITOR_CONSENTED = 2;
    uint8 internal constant SHORT_TERM = 4;

    /// @notice A new header; `flags` is a combination of the flag constants.
    function create(ILoanLedger.LoanRequest calldata r, uint32 recorder_, ILoanLedger.LoanStatus status_, uint8 flags_, uint32 confirmBy_)
        internal
        pure
        returns (LoanHeader)
    {
        return LoanHeader.wrap(
            uint256(r.borrower) | (uint256(r.creditor) << CREDITOR_OFFSET) | (uint256(recorder_) << RECORDER_OFFSET)
                | (uint256(uint24(r.currency)) << CURRENCY_OFFSET) | (uint256(r.financingType) << FINANCING_TYPE_OFFSET)
                | (uint256(status_) << STATUS_OFFSET) | (uint256(flags_) << FLAGS_OFFSET)
                | (uint256(r.valueDate) << VALUE_DATE_OFFSET) | (uint256(r.maturityDate) << MATURITY_OFFSET)
                | (uint256(confirmBy_) << CONFIRM_BY_OFFSET)
        );
    }

    function borrower(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h));
    }

    function creditor(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h) >> CREDITOR_OFFSET);
    }

    function recorder(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h) >> RECORDER_OFFSET);
    }

    function currency(LoanHeader h) internal pure returns (bytes3) {
        return bytes3(uint24(LoanHeader.unwrap(h) >> CURRENCY_OFFSET));
    }

    function financingType(LoanHeader h) internal pure returns (uint8) {
        return uint8(LoanHeader.unwrap(h) >> FINANCING_TYPE_OFFSET);
    }

    function status(LoanHeader h) internal pure returns (ILoanLedger.LoanStatus) {
        return ILoanLedger.LoanStatus(uint8(LoanHeader.unwrap(h) >> STATUS_OFFSET));
    }

    function flags(LoanHeader h) internal pure returns (uint8) {
        return uint8(LoanHeader.unwrap(h) >> FLAGS_OFFSET);
    }

    function borrowerConsented(LoanHeader h) internal pure returns (bool) {
        return flags(h) & BORROWER_CONSENTED != 0;
    }

    function creditorConsented(LoanHeader h) internal pure returns (bool) {
        return flags(h) & CREDITOR_CONSENTED != 0;
    }

    function shortTerm(LoanHeader h) internal pure returns (bool) {
        return flags(h) & SHORT_TERM != 0;
    }

    function valueDate(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h) >> VALUE_DATE_OFFSET);
    }

    function maturityDate(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h) >> MATURITY_OFFSET);
    }

    function confirmBy(LoanHeader h) internal pure returns (uint32) {
        return uint32(LoanHeader.unwrap(h) >> CONFIRM_BY_OFFSET);
    }

    function withStatus(LoanHeader h, ILoanLedger.LoanStatus status_) internal pure returns (LoanHeader) {
        uint256 w = LoanHeader.unwrap(h) & ~(uint256(type(uint8).max) << STATUS_OFFSET);
        return LoanHeader.wrap(w | (uint256(status_) << STATUS_OFFSET));
    }

    function withFlags(LoanHeader h, uint8 flags_) internal pure returns (LoanHeader) {
        uint256 w = LoanHeader.unwrap(h) & ~(uint256(type(uint8).max) << FLAGS_OFFSET);
        return LoanHeader.wrap(w | (uint256(flags_) << FLAGS_OFFSET));
    }

    /// @notice New maturity date and the term class it gives.
    function withMaturity(LoanHeader h, uint32 maturityDate_, bool shortTerm_) internal pure returns (LoanHeader) {
        uint256 w = LoanHeader.unwrap(h) & ~(uint256(type(uint32).max) << MATURITY_OFFSET);
        uint8 f = shortTerm_ ? flags(h) | SHORT_TERM : flags(h) & ~SHORT_TERM;
        return withFlags(LoanHeader.wrap(w | (uint256(maturityDate_) << MATURITY_OFFSET)), f);
    }
}
