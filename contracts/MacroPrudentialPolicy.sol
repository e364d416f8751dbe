// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IInstitutionRegistry} from "../interfaces/IInstitutionRegistry.sol";
import {IMacroPrudentialPolicy} from "../interfaces/IMacroPrudentialPolicy.sol";

/**
 * @title MacroPrudentialPolicy
 * @notice See {IMacroPrudentialPolicy}. Seeded with the parameters in force under Yinfa [2017]
 * No. 9 (adjustment parameter 1.75) and the default financing-type table.
 *
 * Storage layout:
 *   `_params`          one slot: 11 x uint16 + uint32 (208 bits) — every hot parameter;
 *   `_rates[currency]` one slot each: rate (uint64) | updatedAt (uint40);
 *   `_types[id]`       one slot each: weightBps (uint16) | offBalance | exists.
 * A loan record reads three slots (params, rate, type), a drawdown one (params).
 */
contract MacroPrudentialPolicy is IMacroPrudentialPolicy, AccessControl {
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    bytes3 private constant _CNY = "CNY";
    uint64 private constant _RATE_ONE = 1e8;

    struct RateRecord {
        uint64 rate;
        uint40 updatedAt;
    }

    Parameters private _params;
    mapping(bytes3 currency => RateRecord) private _rates;
    mapping(uint8 typeId => FinancingType) private _types;

    /// @param admin receives DEFAULT_ADMIN_ROLE and REGULATOR_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGULATOR_ROLE, admin);
        _params = Parameters({
            leverageDomesticBank: 8000,
            leverageForeignBankBranch: 8000,
            leverageNonBank: 10000,
            leverageEnterprise: 20000,
            adjustmentEnterprise: 17500,
            adjustmentFinancial: 17500,
            termFactorShort: 15000,
            termFactorLong: 10000,
            onBalanceFactor: 10000,
            offBalanceFactor: 10000,
            fxRiskFactor: 5000,
            oneYearSeconds: 365 days
        });
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
        Parameters memory ps = _params;
        uint256 old = _get(ps, p);
        if (p == Parameter.OneYearSeconds) {
            if (value == 0 || value > type(uint32).max) revert ParameterOutOfRange(p, value);
            ps.oneYearSeconds = uint32(value);
        } else {
            if (value > type(uint16).max) revert ParameterOutOfRange(p, value);
            uint16 v = uint16(value);
            if (p == Parameter.LeverageDomesticBank) ps.leverageDomesticBank = v;
            else if (p == Parameter.LeverageForeignBankBranch) ps.leverageForeignBankBranch = v;
            else if (p == Parameter.LeverageNonBank) ps.leverageNonBank = v;
            else if (p == Parameter.LeverageEnterprise) ps.leverageEnterprise = v;
            else if (p == Parameter.AdjustmentEnterprise) ps.adjustmentEnterprise = v;
            else if (p == Parameter.AdjustmentFinancial) ps.adjustmentFinancial = v;
            else if (p == Parameter.TermFactorShort) ps.termFactorShort = v;
            else if (p == Parameter.TermFactorLong) ps.termFactorLong = v;
            else if (p == Parameter.OnBalanceFactor) ps.onBalanceFactor = v;
            else if (p == Parameter.OffBalanceFactor) ps.offBalanceFactor = v;
            else ps.fxRiskFactor = v;
        }
        _params = ps;
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
    function parameters() external view returns (Parameters memory) {
        return _params;
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function parameter(Parameter p) external view returns (uint256) {
        return _get(_params, p);
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
        return _limitFactors(_params, kind);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function borrowingLimit(IInstitutionRegistry.InstitutionKind kind, uint64 capitalBase)
        external
        view
        returns (uint256)
    {
        // The ledger's hot path (every drawdown): read the parameter slot once, no struct copy.
        Parameters storage ps = _params;
        uint256 word;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            word := sload(ps.slot)
        }
        // Parameters packs 11 x uint16 from the low bits in declaration order (see {Parameters}).
        uint256 leverage;
        uint256 adjustment = uint16(word >> 80); // adjustmentFinancial
        if (kind == IInstitutionRegistry.InstitutionKind.Enterprise) {
            (leverage, adjustment) = (uint16(word >> 48), uint16(word >> 64));
        } else if (kind == IInstitutionRegistry.InstitutionKind.DomesticBank) {
            leverage = uint16(word);
        } else if (kind == IInstitutionRegistry.InstitutionKind.ForeignBankBranch) {
            leverage = uint16(word >> 16);
        } else if (kind == IInstitutionRegistry.InstitutionKind.NonBankFinancialInstitution) {
            leverage = uint16(word >> 32);
        }
        return uint256(capitalBase) * leverage * adjustment / 1e8;
    }

    /// @inheritdoc IMacroPrudentialPolicy
    function combinedWeight(bytes3 currency, uint8 typeId, uint256 termSeconds) external view returns (uint32) {
        return _weight(_params, currency, typeId, termSeconds);
    }

    /// @inheritdoc IMacroPrudentialPolicy
    // A zero rate is the "no such currency" sentinel, not a balance: the strict equality is intended.
    // slither-disable-next-line incorrect-equality
    function quote(bytes3 currency, uint8 typeId, uint256 termSeconds, IInstitutionRegistry.InstitutionKind kind)
        external
        view
        returns (Quote memory q)
    {
        Parameters memory ps = _params;
        if (currency == _CNY) {
            q.rate = _RATE_ONE;
        } else {
            q.rate = _rates[currency].rate;
            if (q.rate == 0) revert UnknownCurrency(currency);
        }
        q.weightBps = _weight(ps, currency, typeId, termSeconds);
        (q.leverageBps, q.adjustmentBps) = _limitFactors(ps, kind);
    }

    // ------------------------------------------------------------------ internals

    function _weight(Parameters memory ps, bytes3 currency, uint8 typeId, uint256 termSeconds)
        private
        view
        returns (uint32)
    {
        FinancingType memory t = _types[typeId];
        if (!t.exists) revert UnknownFinancingType(typeId);
        if (t.weightBps == 0) return 0;
        uint256 term = termSeconds <= ps.oneYearSeconds ? ps.termFactorShort : ps.termFactorLong;
        uint256 typeFactor = t.offBalance ? ps.offBalanceFactor : ps.onBalanceFactor;
        // ceil(term x typeFactor x weight / 1e8) <= 65535^3 / 1e8 < 2^32 - 2^16: fits uint32 with the fx factor.
        uint256 w = (term * typeFactor * t.weightBps + 1e8 - 1) / 1e8;
        if (currency != _CNY) w += ps.fxRiskFactor;
        return uint32(w);
    }

    function _limitFactors(Parameters memory ps, IInstitutionRegistry.InstitutionKind kind)
        private
        pure
        returns (uint16, uint16)
    {
        if (kind == IInstitutionRegistry.InstitutionKind.Enterprise) {
            return (ps.leverageEnterprise, ps.adjustmentEnterprise);
        }
        if (kind == IInstitutionRegistry.InstitutionKind.DomesticBank) {
            return (ps.leverageDomesticBank, ps.adjustmentFinancial);
        }
        if (kind == IInstitutionRegistry.InstitutionKind.ForeignBankBranch) {
            return (ps.leverageForeignBankBranch, ps.adjustmentFinancial);
        }
        if (kind == IInstitutionRegistry.InstitutionKind.NonBankFinancialInstitution) {
            return (ps.leverageNonBank, ps.adjustmentFinancial);
        }
        return (0, 0);
    }

    function _get(Parameters memory ps, Parameter p) private pure returns (uint256) {
        if (p == Parameter.LeverageDomesticBank) return ps.leverageDomesticBank;
        if (p == Parameter.LeverageForeignBankBranch) return ps.leverageForeignBankBranch;
        if (p == Parameter.LeverageNonBank) return ps.leverageNonBank;
        if (p == Parameter.LeverageEnterprise) return ps.leverageEnterprise;
        if (p == Parameter.AdjustmentEnterprise) return ps.adjustmentEnterprise;
        if (p == Parameter.AdjustmentFinancial) return ps.adjustmentFinancial;
        if (p == Parameter.TermFactorShort) return ps.termFactorShort;
        if (p == Parameter.TermFactorLong) return ps.termFactorLong;
        if (p == Parameter.OnBalanceFactor) return ps.onBalanceFactor;
        if (p == Parameter.OffBalanceFactor) return ps.offBalanceFactor;
        if (p == Parameter.FxRiskFactor) return ps.fxRiskFactor;
        return ps.oneYearSeconds;
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
