// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InstitutionCore} from "../contracts/types/InstitutionCore.sol";
import {LoanHeader} from "../contracts/types/LoanHeader.sol";
import {IInstitutionRegistry} from "./IInstitutionRegistry.sol";

/**
 * @title IMacroPrudentialPolicy
 * @notice Every number of the PBoC full-caliber cross-border financing macro-prudential rules
 * (Yinfa [2017] No. 9) as a regulator-settable parameter, the FX reference rates, the
 * financing-type table and the date rules of the ledger.
 *
 * Scales:
 * - factors, ratios and weights in basis points (10000 = 1.0);
 * - reference rate = CNY per 1 unit of the currency x 1e8 (uint64); CNY itself is fixed at 1e8 and
 *   cannot be set;
 * - day parameters in whole days (uint16).
 *
 * Term class (calendar year, see `contracts/libraries/Calendar.sol`): a loan is short-term when
 * maturityDate <= valueDate + one calendar year (same month, day and time of day; 29 February ->
 * 28 February), inclusive.
 *
 * Combined weight of a drawdown (bps), rounded up:
 *   typeWeight == 0 ? 0
 *                   : ceil(termFactor x typeFactor(on/off balance) x typeWeight / 1e8)
 *                     + (currency != "CNY" ? fxRiskFactor : 0)
 * Upper limit (CNY minor units, rounded down) = capitalBase x leverage x adjustment / 1e8, where
 * adjustment is the enterprise parameter for enterprises and the financial-institution parameter
 * for banks, foreign bank branches and non-bank financial institutions.
 *
 * Every change takes effect at once for new records, drawdowns and extensions: the ledger asks
 * the policy on each of them. What is already drawn keeps the contribution it was counted with.
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
        TermFactorShort, // 6, bps, term <= one calendar year, default 15000
        TermFactorLong, // 7, bps, term > one calendar year, default 10000
        OnBalanceFactor, // 8, bps, default 10000
        OffBalanceFactor, // 9, bps, default 10000
        FxRiskFactor, // 10, bps, default 5000
        ConfirmationWindowDays, // 11, days a Recorded loan waits for its consents, 1..65535, default 30
        ValueDateMaxPastDays, // 12, days, default 30
        ValueDateMaxFutureDays, // 13, days, default 366
        MaxTermDays // 14, days from value date to maturity, 1..65535, default 10958 (30 years)
    }

    /// @notice All parameters; stored packed in ONE storage slot (15 x uint16 = 240 bits).
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
        uint16 confirmationWindowDays;
        uint16 valueDateMaxPastDays;
        uint16 valueDateMaxFutureDays;
        uint16 maxTermDays;
    }

    /// @notice One row of the financing-type table.
    struct FinancingType {
        uint16 weightBps; // 0 = excluded (recorded, weight 0)
        bool offBalance; // selects OffBalanceFactor instead of OnBalanceFactor
        bool exists;
    }

    /// @notice What the ledger needs to record a loan (and draw at once), in one call.
    struct RecordQuote {
        bool shortTerm; // term class of (valueDate, maturityDate)
        uint32 confirmBy; // now + ConfirmationWindowDays: a Recorded loan expires after it
        uint64 rate; // reference rate now, CNY per unit x 1e8
        uint32 weightBps; // combined weight now, for this currency, type and term class
        uint256 limit; // the borrower's upper limit now
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted on every scalar parameter change, with old and new value (and for every
    /// parameter by the constructor, old value 0: the index rebuilds the policy from events alone).
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

    /// @notice Emitted when a financing type is removed (new records and drawdowns of that type are refused).
    event FinancingTypeRemoved(uint8 indexed typeId, uint16 oldWeightBps, bool oldOffBalance);

    // ------------------------------------------------------------------ errors

    /// @notice `value` is out of range for `parameter` (all fit uint16; the window and the max term are >= 1).
    error ParameterOutOfRange(Parameter parameter, uint256 value);
    /// @notice `currency` has no reference rate.
    error UnknownCurrency(bytes3 currency);
    /// @notice `currency` is not three uppercase ASCII letters, or is CNY (fixed at 1e8).
    error InvalidCurrency(bytes3 currency);
    /// @notice `typeId` is not in the financing-type table (0 is reserved).
    error UnknownFinancingType(uint8 typeId);
    /// @notice Array arguments differ in length.
    error LengthMismatch(uint256 currencies, uint256 rates);
    /// @notice `valueDate` is outside [earliest, latest] (now - ValueDateMaxPastDays, now + ValueDateMaxFutureDays).
    error ValueDateOutOfRange(uint32 valueDate, uint256 earliest, uint256 latest);
    /// @notice `maturityDate` is outside [earliest, latest] (after max(now, valueDate), at most
    /// valueDate + MaxTermDays).
    error MaturityDateOutOfRange(uint32 maturityDate, uint256 earliest, uint256 latest);
    /// @notice Zero address given for the admin.
    error ZeroAddress();

    // ------------------------------------------------------------------ regulator functions

    /**
     * @notice Set one scalar parameter. Takes effect immediately for new records, drawdowns and
     * extensions; what is already drawn keeps its contribution.
     *
     * Requirements: caller has REGULATOR_ROLE; `value` in range.
     *
     * May emit {ParameterUpdated}.
     */
    function setParameter(Parameter p, uint256 value) external;

    /**
     * @notice Set the reference rate of `currency` (CNY per unit x 1e8); 0 removes the currency
     * (new records and drawdowns in it are refused until it has a rate again).
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
     * @notice Remove financing type `typeId`: new records and drawdowns of that type are refused;
     * what is already drawn keeps its contribution.
     *
     * Requirements: caller has REGULATOR_ROLE; the type exists.
     *
     * May emit {FinancingTypeRemoved}.
     */
    function removeFinancingType(uint8 typeId) external;

    // ------------------------------------------------------------------ views

    /// @notice All parameters (one SLOAD).
    function parameters() external view returns (Parameters memory);

    /// @notice One scalar parameter.
    function parameter(Parameter p) external view returns (uint256);

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

    /// @notice Combined weight (bps) of a drawdown of `currency`, `typeId` and term class `shortTerm`.
    /// Reverts {UnknownCurrency}, {UnknownFinancingType}.
    function combinedWeight(bytes3 currency, uint8 typeId, bool shortTerm) external view returns (uint32);

    /// @notice True when `maturityDate` is on or before `valueDate` + one calendar year (29 Feb -> 28 Feb).
    function isShortTerm(uint32 valueDate, uint32 maturityDate) external pure returns (bool);

    /**
     * @notice Everything the ledger needs to record a loan and draw at once: checks the dates
     * against block time (value date window, maturity after max(now, value date), at most MaxTermDays
     * after the value date), the currency and the financing type.
     *
     * Reverts {ValueDateOutOfRange}, {MaturityDateOutOfRange}, {UnknownCurrency}, {UnknownFinancingType}.
     */
    function recordQuote(
        bytes3 currency,
        uint8 typeId,
        uint32 valueDate,
        uint32 maturityDate,
        IInstitutionRegistry.InstitutionKind kind,
        uint64 capitalBase
    ) external view returns (RecordQuote memory);

    /**
     * @notice Term class of a loan valued on `valueDate` and extended to `newMaturityDate`, which must
     * be after now and at most MaxTermDays after the value date. Reverts {MaturityDateOutOfRange}.
     */
    function extensionTerm(uint32 valueDate, uint32 newMaturityDate) external view returns (bool shortTerm);

    /**
     * @notice Reference rate, combined weight and the borrower's limit now, for one drawdown, in one
     * call (one parameter slot, one rate slot, one type slot). The ledger's hot path: it passes the
     * loan's header word (currency, financing type, term class are read from it) and the borrower's
     * registry core word (kind, capital base) as they are, unencoded.
     * Reverts {UnknownCurrency}, {UnknownFinancingType}.
     */
    function drawdownQuote(LoanHeader loan, InstitutionCore borrower)
        external
        view
        returns (uint64 rate, uint32 weightBps, uint256 limit);
}
