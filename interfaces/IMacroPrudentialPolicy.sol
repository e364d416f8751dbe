// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInstitutionRegistry} from "./IInstitutionRegistry.sol";

/**
 * @title IMacroPrudentialPolicy
 * @notice Every number of the PBoC full-caliber cross-border financing macro-prudential rules
 * (Yinfa [2017] No. 9) as a regulator-settable parameter, the FX reference rates and the
 * financing-type table.
 *
 * Scales:
 * - factors, ratios and weights in basis points (10000 = 1.0);
 * - reference rate = CNY per 1 unit of the currency x 1e8 (uint64); CNY itself is fixed at 1e8 and
 *   cannot be set;
 * - "one year" = `oneYearSeconds` (default 365 days = 31,536,000 s): a loan is short-term when
 *   maturityDate - valueDate <= oneYearSeconds.
 *
 * Combined weight of a loan (bps), rounded up:
 *   typeWeight == 0 ? 0
 *                   : ceil(termFactor x typeFactor(on/off balance) x typeWeight / 1e8)
 *                     + (currency != "CNY" ? fxRiskFactor : 0)
 * Upper limit (CNY minor units, rounded down) = capitalBase x leverage x adjustment / 1e8, where
 * adjustment is the enterprise parameter for enterprises and the financial-institution parameter
 * for banks, foreign bank branches and non-bank financial institutions.
 */
interface IMacroPrudentialPolicy {
    /// @notice Names of the scalar parameters, for {setParameter} and {ParameterUpdated}.
    enum Parameter {
        LeverageDomesticBank, // 0, bps, default 8000
        LeverageForeignBankBranch, // 1, bps, default 8000
        LeverageNonBank, // 2, bps, default 10000
        LeverageEnterprise, // 3, bps, default 20000
        AdjustmentEnterprise, // 4, bps, default 17500
        AdjustmentFinancial, // 5, bps, default 17500
        TermFactorShort, // 6, bps, term <= one year, default 15000
        TermFactorLong, // 7, bps, term > one year, default 10000
        OnBalanceFactor, // 8, bps, default 10000
        OffBalanceFactor, // 9, bps, default 10000
        FxRiskFactor, // 10, bps, default 5000
        OneYearSeconds // 11, seconds, default 31,536,000
    }

    /// @notice All hot parameters; stored packed in ONE storage slot (11 x uint16 + uint32 = 208 bits).
    struct Parameters {
        uint16 leverageDomesticBank;
        uint16 leverageForeignBankBranch;
        uint16 leverageNonBank;
        uint16 leverageEnterprise;
        uint16 adjustmentEnterprise;
        uint16 adjustmentFinancial;
        uint16 termFactorShort;
        uint16 termFactorLong;
        uint16 onBalanceFactor;
        uint16 offBalanceFactor;
        uint16 fxRiskFactor;
        uint32 oneYearSeconds;
    }

    /// @notice One row of the financing-type table.
    struct FinancingType {
        uint16 weightBps; // 0 = excluded (recorded, weight 0)
        bool offBalance; // selects OffBalanceFactor instead of OnBalanceFactor
        bool exists;
    }

    /// @notice What the ledger needs to record a loan, in one call.
    struct Quote {
        uint64 rate; // reference rate snapshot, CNY per unit x 1e8
        uint32 weightBps; // combined weight
        uint16 leverageBps; // borrower kind's leverage ratio
        uint16 adjustmentBps; // borrower kind's macro-prudential adjustment parameter
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted on every scalar parameter change, with old and new value.
    event ParameterUpdated(Parameter indexed parameter, uint256 oldValue, uint256 newValue);

    /// @notice Emitted when a reference rate is set (oldRate 0 = new currency, newRate 0 = removed).
    event ReferenceRateUpdated(bytes3 indexed currency, uint64 oldRate, uint64 newRate, uint40 updatedAt);

    /// @notice Emitted when a financing type is created or changed (old values zero/false on creation).
    event FinancingTypeSet(
        uint8 indexed typeId,
        string name,
        uint16 oldWeightBps,
        uint16 newWeightBps,
        bool oldOffBalance,
        bool newOffBalance
    );

    /// @notice Emitted when a financing type is removed (new loans of that type are refused).
    event FinancingTypeRemoved(uint8 indexed typeId, uint16 oldWeightBps, bool oldOffBalance);

    // ------------------------------------------------------------------ errors

    /// @notice `value` is out of range for `parameter` (bps must fit uint16; OneYearSeconds in 1..2^32-1).
    error ParameterOutOfRange(Parameter parameter, uint256 value);
    /// @notice `currency` has no reference rate.
    error UnknownCurrency(bytes3 currency);
    /// @notice `currency` is not three uppercase ASCII letters, or is CNY (fixed at 1e8).
    error InvalidCurrency(bytes3 currency);
    /// @notice `typeId` is not in the financing-type table (0 is reserved).
    error UnknownFinancingType(uint8 typeId);
    /// @notice Array arguments differ in length.
    error LengthMismatch(uint256 currencies, uint256 rates);

    // ------------------------------------------------------------------ regulator functions

    /**
     * @notice Set one scalar parameter. Takes effect immediately for new drawdowns, records and
     * extensions; existing outstanding balances keep their snapshotted weight (grandfathering).
     *
     * Requirements: caller has REGULATOR_ROLE; `value` in range.
     *
     * May emit {ParameterUpdated}.
     */
    function setParameter(Parameter parameter, uint256 value) external;

    /**
     * @notice Set the reference rate of `currency` (CNY per unit x 1e8); 0 removes the currency.
     *
     * Requirements: caller has REGULATOR_ROLE; `currency` is three uppercase letters, not CNY.
     *
     * May emit {ReferenceRateUpdated}.
     */
    function setReferenceRate(bytes3 currency, uint64 rate) external;

    /**
     * @notice Batch form of {setReferenceRate}.
     *
     * Requirements: as {setReferenceRate}; equal array lengths.
     *
     * May emit {ReferenceRateUpdated} (once per currency).
     */
    function setReferenceRates(bytes3[] calldata currencies, uint64[] calldata rates) external;

    /**
     * @notice Create or change financing type `typeId` (1..255).
     *
     * Requirements: caller has REGULATOR_ROLE; `typeId` != 0.
     *
     * May emit {FinancingTypeSet}.
     */
    function setFinancingType(uint8 typeId, string calldata name, uint16 weightBps, bool offBalance) external;

    /**
     * @notice Remove financing type `typeId`; existing loans of that type keep their weight.
     *
     * Requirements: caller has REGULATOR_ROLE; the type exists.
     *
     * May emit {FinancingTypeRemoved}.
     */
    function removeFinancingType(uint8 typeId) external;

    // ------------------------------------------------------------------ views

    /// @notice All hot parameters (one SLOAD).
    function parameters() external view returns (Parameters memory);

    /// @notice One scalar parameter.
    function parameter(Parameter parameter) external view returns (uint256);

    /// @notice Reference rate of `currency` and when it was set. CNY -> (1e8, 0). Reverts {UnknownCurrency}.
    function referenceRate(bytes3 currency) external view returns (uint64 rate, uint40 updatedAt);

    /// @notice Row `typeId` of the financing-type table (exists == false when absent).
    function financingType(uint8 typeId) external view returns (FinancingType memory);

    /// @notice Leverage ratio and adjustment parameter for a borrower kind (0, 0 for ForeignCreditor/Observer).
    function limitFactors(IInstitutionRegistry.InstitutionKind kind)
        external
        view
        returns (uint16 leverageBps, uint16 adjustmentBps);

    /// @notice Upper limit = floor(capitalBase x leverage x adjustment / 1e8), CNY minor units.
    function borrowingLimit(IInstitutionRegistry.InstitutionKind kind, uint64 capitalBase)
        external
        view
        returns (uint256);

    /// @notice Combined weight (bps) of a loan of `currency`, `typeId` and term `termSeconds`.
    /// Reverts {UnknownFinancingType}.
    function combinedWeight(bytes3 currency, uint8 typeId, uint256 termSeconds) external view returns (uint32);

    /**
     * @notice Rate snapshot, combined weight and limit factors for a new loan or an extension, in one
     * call. Reverts {UnknownCurrency}, {UnknownFinancingType}.
     */
    function quote(bytes3 currency, uint8 typeId, uint256 termSeconds, IInstitutionRegistry.InstitutionKind kind)
        external
        view
        returns (Quote memory);
}
