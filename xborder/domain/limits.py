"""The one Python copy of the contracts' limit arithmetic (PBOC macro-prudential formula).

Used by the dry runs, the indexer's projection, the reports and the tests' model;
`tests/python/test_domain.py` checks it against the deployed policy and ledger.

    limit(borrower)        = floor(capitalBase x leverage(kind) x adjustment(kind) / 1e8)
    weight(loan)           = ceil(termFactor x typeFactor x typeWeight / 1e8) (+ fxRiskFactor if not CNY)
    base (CNY) of amount   = ceil(amount x rate / 1e8)
    contribution(amount)   = ceil(base x weightBps / 1e4)
Every rounding goes against the borrower (the balance rounds up, the limit down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xborder.domain.enums import InstitutionKind, LoanStatus, Parameter
from xborder.domain.money import BASE_CURRENCY, BPS, RATE_SCALE


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def base_amount(amount: int, rate: int) -> int:
    """`amount` (1/100 of its currency) in CNY 1/100 units at `rate` (CNY per unit x 1e8), rounded up."""
    return ceil_div(int(amount) * int(rate), RATE_SCALE)


def contribution(amount: int, rate: int, weight_bps: int) -> int:
    """What `amount` adds to the borrower's risk-weighted balance: ceil(ceil(amount x rate / 1e8) x w / 1e4)."""
    return ceil_div(base_amount(amount, rate) * int(weight_bps), BPS)


def loan_contribution(outstanding: int, rate: int, weight_bps: int, status: int) -> int:
    """A loan's share of its borrower's balance today (v1: Active loans only)."""
    return contribution(outstanding, rate, weight_bps) if status == LoanStatus.ACTIVE else 0


#: kind -> (leverage parameter, adjustment parameter); borrowers only.
LIMIT_FACTORS: dict[InstitutionKind, tuple[Parameter, Parameter]] = {
    InstitutionKind.DOMESTIC_BANK: (Parameter.LEVERAGE_DOMESTIC_BANK, Parameter.ADJUSTMENT_FINANCIAL),
    InstitutionKind.FOREIGN_BANK_BRANCH: (Parameter.LEVERAGE_FOREIGN_BANK_BRANCH, Parameter.ADJUSTMENT_FINANCIAL),
    InstitutionKind.NON_BANK_FINANCIAL_INSTITUTION: (Parameter.LEVERAGE_NON_BANK, Parameter.ADJUSTMENT_FINANCIAL),
    InstitutionKind.ENTERPRISE: (Parameter.LEVERAGE_ENTERPRISE, Parameter.ADJUSTMENT_ENTERPRISE),
}


def borrowing_limit(kind: int, capital_base: int, parameters: Mapping[Parameter, int]) -> int:
    """floor(capitalBase x leverage x adjustment / 1e8); 0 for kinds that cannot borrow."""
    factors = LIMIT_FACTORS.get(InstitutionKind(kind)) if kind in InstitutionKind._value2member_map_ else None
    if factors is None:
        return 0
    leverage, adjustment = (parameters.get(p, p.default) for p in factors)
    return int(capital_base) * leverage * adjustment // (BPS * BPS)


@dataclass(frozen=True)
class FinancingTypeRule:
    weight_bps: int
    off_balance: bool


def combined_weight(parameters: Mapping[Parameter, int], currency: str, rule: FinancingTypeRule,
                    term_seconds: int) -> int:
    """The policy's `combinedWeight` (v1: short term = term <= OneYearSeconds)."""
    if rule.weight_bps == 0:
        return 0
    p = {q: parameters.get(q, q.default) for q in Parameter}
    term = p[Parameter.TERM_FACTOR_SHORT] if term_seconds <= p[Parameter.ONE_YEAR_SECONDS] \
        else p[Parameter.TERM_FACTOR_LONG]
    kind = p[Parameter.OFF_BALANCE_FACTOR] if rule.off_balance else p[Parameter.ON_BALANCE_FACTOR]
    weight = ceil_div(term * kind * rule.weight_bps, BPS * BPS)
    return weight + (p[Parameter.FX_RISK_FACTOR] if currency != BASE_CURRENCY else 0)


def headroom(limit: int, balance: int) -> int:
    return max(limit - balance, 0)


def utilisation(balance: int, limit: int) -> float | None:
    return balance / limit if limit else None
