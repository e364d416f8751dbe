// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";
import {IMacroPrudentialPolicy} from "../interfaces/IMacroPrudentialPolicy.sol";
import {Calendar} from "./libraries/Calendar.sol";
import {InstitutionCore} from "./types/InstitutionCore.sol";
import {LoanHeader} from "./types/LoanHeader.sol";
import {PolicyParameters} from "./types/PolicyParameters.sol";

/**
 * @title MacroPrudentialPolicy
 * @notice See {IMacroPrudentialPolicy}. Seeded with the parameters in force under Yinfa [2017]
 * No. 9 (adjustment parameter 1.75), the ledger's date rules and the default financing-type table;
 * the constructor emits {ParameterUpdated} for every parameter.
 *
 * Storage layout:
 *   `_params`          one slot: {PolicyParameters} 15 x uint16 (240 bits) — every parameter;
 *   `_rates[currency]` one slot each: rate (uint64) | updatedAt (uint40);
 *   `_types[id]`       one slot each: weightBps (uint16) | offBalance | exists.
 * A record or a drawdown reads the three (params, rate, type); an extension reads params.
 */
contract MacroPrudentialPolicy is IMacroPrudentialPolicy, AccessControl {
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    bytes3 private constant _CNY = "CNY";
    uint64 private constant _RATE_ONE = 1e8;
    uint256 private constant _PARAMETER_COUNT = 15;

    struct RateRecord {
        uint64 rate;
        uint40 updatedAt;
    }

    PolicyParameters private _params;
    mapping(bytes3 currency => RateRecord) private _rates;
    mapping(uint8 typeId => FinancingType) private _types;

    /// @param admin receives DEFAULT_ADMIN_ROLE and REGULATOR_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGULATOR_ROLE, admin);
        // Defaults in Parameter order (see the enum).
        uint16[_PARAMETER_COUNT] memory defaults =
            [8000, 8000, 10000, 20000, 17500, 17500, 15000, 10000, 10000, 10000, 5000, 30, 30, 366, 10958];
        PolicyParameters ps = PolicyParameters.wrap(0);
        for (uint256 i; i < _PARAMETER_COUNT; ++i) {
            ps = ps.set(Parameter(i), defaults[i]);
            emit ParameterUpdated(Parameter(i), 0, defaults[i]);
        }
        _params = ps;
        _setType(1, "ORDINARY_LOAN", 10000, false);
        _setType(2, "OFF_BALANCE_FINANCING", 10000, true);
        _setType(3, "RMB_PASSIVE_LIABILITY", 0, false);
        _setType(4, "TRADE_CREDIT_FINANCE", 0, false);
        _setType(5, "INTRA_GROUP_CASH_POOL", 0, false);
        _setType(6, "INTERBANK_LENDING", 0, false);
        _setType(7, "DOMESTIC_GUARANTEE_OVERSEAS_LOAN", 2000, true);
    }

    // ------------------------------------------------------------------ regulator

    /// @inheritdoc IMacroPrudentialPolicy
    function setParameter(Parameter p, uint256 value) external onlyRole(REGULATOR_ROLE) {
        bool atLeastOne = p == Parameter.ConfirmationWindowDays || p == Parameter.MaxTermDays;
        if (value > type(uint16).max || (atLeastOne && value == 0)) revert ParameterOutOfRange(p, value);
        PolicyParameters ps = _params;
        uint256 old = ps.get(p);
        _params = ps.set(p, uint16(value));
        emit ParameterUpdated(p, old, value);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function setReferenceRate(bytes3 currency, uint64 rate) external onlyRole(REGULATOR_ROLE) {
        _setRate(currency, rate);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function setReferenceRates(bytes3[] calldata currencies, uint64[] calldata rates)
        external
        onlyRole(REGULATOR_ROLE)
    {
        if (currencies.length != rates.length) revert LengthMismatch(currencies.length, rates.length);
        for (uint256 i; i < currencies.length; ++i) {
            _setRate(currencies[i], rates[i]);
        }
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function setFinancingType(uint8 typeId, string calldata name, uint16 weightBps, bool offBalance)
        external
        onlyRole(REGULATOR_ROLE)
    {
        if (typeId == 0) revert UnknownFinancingType(typeId);
        _setType(typeId, name, weightBps, offBalance);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function removeFinancingType(uint8 typeId) external onlyRole(REGULATOR_ROLE) {
        FinancingType memory old = _types[typeId];
        if (!old.exists) revert UnknownFinancingType(typeId);
        delete _types[typeId];
        emit FinancingTypeRemoved(typeId, old.weightBps, old.offBalance);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMacroPrudentialPolicy
    function parameters() external view returns (Parameters memory out) {
        PolicyParameters ps = _params;
        out.leverageDomesticBank = ps.get(Parameter.LeverageDomesticBank);
        out.leverageForeignBankBranch = ps.get(Parameter.LeverageForeignBankBranch);
        out.leverageNonBank = ps.get(Parameter.LeverageNonBank);
        out.leverageEnterprise = ps.get(Parameter.LeverageEnterprise);
        out.adjustmentEnterprise = ps.get(Parameter.AdjustmentEnterprise);
        out.adjustmentFinancial = ps.get(Parameter.AdjustmentFinancial);
        out.termFactorShort = ps.get(Parameter.TermFactorShort);
        out.termFactorLong = ps.get(Parameter.TermFactorLong);
        out.onBalanceFactor = ps.get(Parameter.OnBalanceFactor);
        out.offBalanceFactor = ps.get(Parameter.OffBalanceFactor);
        out.fxRiskFactor = ps.get(Parameter.FxRiskFactor);
        out.confirmationWindowDays = ps.get(Parameter.ConfirmationWindowDays);
        out.valueDateMaxPastDays = ps.get(Parameter.ValueDateMaxPastDays);
        out.valueDateMaxFutureDays = ps.get(Parameter.ValueDateMaxFutureDays);
        out.maxTermDays = ps.get(Parameter.MaxTermDays);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function parameter(Parameter p) external view returns (uint256) {
        return _params.get(p);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    // A zero rate is the "no such currency" sentinel, not a balance: the strict equality is intended.
    // slither-disable-next-line incorrect-equality
    function referenceRate(bytes3 currency) external view returns (uint64 rate, uint40 updatedAt) {
        if (currency == _CNY) return (_RATE_ONE, 0);
        RateRecord memory r = _rates[currency];
        if (r.rate == 0) revert UnknownCurrency(currency);
        return (r.rate, r.updatedAt);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function financingType(uint8 typeId) external view returns (FinancingType memory) {
        return _types[typeId];
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function limitFactors(IInstitutionRegistry.InstitutionKind kind)
        external
        view
        returns (uint16 leverageBps, uint16 adjustmentBps)
    {
        return _params.limitFactors(kind);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function borrowingLimit(IInstitutionRegistry.InstitutionKind kind, uint64 capitalBase)
        external
        view
        returns (uint256)
    {
        return _params.limit(kind, capitalBase);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function combinedWeight(bytes3 currency, uint8 typeId, bool shortTerm) external view returns (uint32) {
        return _weight(_params, currency, typeId, shortTerm);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function isShortTerm(uint32 valueDate, uint32 maturityDate) external pure returns (bool) {
        return Calendar.isShortTerm(valueDate, maturityDate);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function recordQuote(
        bytes3 currency,
        uint8 typeId,
        uint32 valueDate,
        uint32 maturityDate,
        IInstitutionRegistry.InstitutionKind kind,
        uint64 capitalBase
    ) external view returns (RecordQuote memory q) {
        PolicyParameters ps = _params;
        uint256 past = ps.daysOf(Parameter.ValueDateMaxPastDays);
        uint256 earliest = block.timestamp > past ? block.timestamp - past : 0;
        uint256 latest = block.timestamp + ps.daysOf(Parameter.ValueDateMaxFutureDays);
        if (valueDate < earliest || valueDate > latest) revert ValueDateOutOfRange(valueDate, earliest, latest);
        _checkMaturity(ps, valueDate, maturityDate, valueDate > block.timestamp ? valueDate : block.timestamp);
        q.shortTerm = Calendar.isShortTerm(valueDate, maturityDate);
        // block.timestamp + 65535 days < 2^32 until the year 2106 - 180 years: the cast is safe
        // for as long as uint32 dates are.
        q.confirmBy = uint32(block.timestamp + ps.daysOf(Parameter.ConfirmationWindowDays));
        (q.rate, q.weightBps, q.limit) = _quote(ps, currency, typeId, q.shortTerm, kind, capitalBase);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function extensionTerm(uint32 valueDate, uint32 newMaturityDate) external view returns (bool) {
        _checkMaturity(_params, valueDate, newMaturityDate, block.timestamp);
        return Calendar.isShortTerm(valueDate, newMaturityDate);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function drawdownQuote(LoanHeader loan, InstitutionCore borrower)
        external
        view
        returns (uint64 rate, uint32 weightBps, uint256 limit)
    {
        return _quote(_params, loan.currency(), loan.financingType(), loan.shortTerm(), borrower.kind(), borrower.capitalBase());
    }

    // ------------------------------------------------------------------ internals

    /// @dev `maturityDate` must be in (after, valueDate + MaxTermDays].
    function _checkMaturity(PolicyParameters ps, uint32 valueDate, uint32 maturityDate, uint256 after_) private pure {
        uint256 latest = uint256(valueDate) + ps.daysOf(Parameter.MaxTermDays);
        if (maturityDate <= after_ || maturityDate > latest) revert MaturityDateOutOfRange(maturityDate, after_ + 1, latest);
    }

    /**
     * @dev Rate, combined weight and limit in one pass: the drawdown's hot path (one parameter word,
     * one rate slot, one type slot), written flat on the raw words because every internal call
     * costs a jump pair here (see docs/contracts.md, "what the drawdown-date rule costs").
     */
    // A zero rate is the "no such currency" sentinel, not a balance: the strict equality is intended.
    // slither-disable-next-line incorrect-equality
    function _quote(
        PolicyParameters params,
        bytes3 currency,
        uint8 typeId,
        bool shortTerm,
        IInstitutionRegistry.InstitutionKind kind,
        uint64 capitalBase
    ) private view returns (uint64 rate, uint32 weightBps, uint256 limit) {
        uint256 ps = PolicyParameters.unwrap(params);
        bool foreign = currency != _CNY;
        if (foreign) {
            rate = _rates[currency].rate;
            if (rate == 0) revert UnknownCurrency(currency);
        } else {
            rate = _RATE_ONE;
        }
        FinancingType storage t = _types[typeId]; // one slot: the three reads below are one SLOAD
        (uint256 typeWeight, bool offBalance, bool exists) = (t.weightBps, t.offBalance, t.exists);
        if (!exists) revert UnknownFinancingType(typeId);
        unchecked {
            if (typeWeight != 0) {
                uint256 term = uint16(ps >> (16 * uint256(shortTerm ? Parameter.TermFactorShort : Parameter.TermFactorLong)));
                uint256 typeFactor =
                    uint16(ps >> (16 * uint256(offBalance ? Parameter.OffBalanceFactor : Parameter.OnBalanceFactor)));
                // ceil(term x typeFactor x weight / 1e8) <= 65535^3 / 1e8 < 2^32 - 2^16: fits uint32 with the fx factor.
                uint256 w = (term * typeFactor * typeWeight + 1e8 - 1) / 1e8;
                if (foreign) w += uint16(ps >> (16 * uint256(Parameter.FxRiskFactor)));
                weightBps = uint32(w);
            }
            // The leverage parameters are in InstitutionKind order (DomesticBank .. Enterprise = 0 .. 3).
            if (kind <= IInstitutionRegistry.InstitutionKind.Enterprise) {
                uint256 leverage = uint16(ps >> (16 * uint256(kind)));
                Parameter adjustment = kind == IInstitutionRegistry.InstitutionKind.Enterprise
                    ? Parameter.AdjustmentEnterprise
                    : Parameter.AdjustmentFinancial;
                limit = uint256(capitalBase) * leverage * uint16(ps >> (16 * uint256(adjustment))) / 1e8; // < 2^96
            }
        }
    }

    function _weight(PolicyParameters ps, bytes3 currency, uint8 typeId, bool shortTerm)
        private
        view
        returns (uint32 weightBps)
    {
        (, weightBps,) = _quote(ps, currency, typeId, shortTerm, IInstitutionRegistry.InstitutionKind.Observer, 0);
    }

    function _setRate(bytes3 currency, uint64 rate) private {
        if (
            currency == _CNY || currency[0] < "A" || currency[0] > "Z" || currency[1] < "A" || currency[1] > "Z"
                || currency[2] < "A" || currency[2] > "Z"
        ) revert InvalidCurrency(currency);
        uint64 old = _rates[currency].rate;
        uint40 now_ = uint40(block.timestamp);
        _rates[currency] = RateRecord({rate: rate, updatedAt: now_});
        emit ReferenceRateUpdated(currency, old, rate, now_);
    }

    function _setType(uint8 typeId, string memory name, uint16 weightBps, bool offBalance) private {
        FinancingType memory old = _types[typeId];
        _types[typeId] = FinancingType({weightBps: weightBps, offBalance: offBalance, exists: true});
        emit FinancingTypeSet(typeId, name, old.weightBps, weightBps, old.offBalance, offBalance);
    }
}
