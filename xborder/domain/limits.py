"""The one Python copy of the contracts' limit arithmetic (PBOC macro-prudential formula, ledger v2).

Used by the dry runs, the indexer's projection, the reports and the tests' model;
`tests/python/test_domain.py` checks it against the deployed policy and ledger.

    limit(borrower)      = floor(capitalBase x leverage(kind) x adjustment(kind) / 1e8)
    weight(drawdown)     = typeWeight == 0 ? 0
                           : ceil(termFactor x typeFactor x typeWeight / 1e8) (+ fxRiskFactor if not CNY)
    base (CNY) of amount = ceil(amount x rate / 1e8)
    delta(drawdown)      = ceil(base x weightBps / 1e4)      rate and weight AT THE DRAWDOWN'S BLOCK
    fits                 = delta == 0 or balance + delta <= limit
    repayment r of o     : contribution' = ceil(contribution x (o - r) / o)   (pro rata)
    balance(borrower)    = sum of the contributions of its Active and Defaulted loans

The term class is the calendar-year rule (`xborder.domain.dates.is_short_term`): short-term iff the
maturity is on or before the same calendar day one year after the value date (29 Feb -> 28 Feb).
Every rounding goes against the borrower (the balance rounds up, the limit down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xborder.domain.dates import DAY, is_short_term
from xborder.domain.enums import InstitutionKind, LoanStatus, Parameter
from xborder.domain.money import BASE_CURRENCY, BPS, RATE_SCALE

__all__ = [
    "LIMIT_FACTORS", "DateWindow", "FinancingTypeRule", "Quote", "base_amount", "borrowing_limit", "ceil_div",
    "combined_weight", "confirm_by", "contribution", "counted_contribution", "drawdown_delta", "extension_window",
    "fits", "headroom",
    "is_short_term", "maturity_window", "params_with_defaults", "remaining_after_repay", "repayment_reduction",
    "utilisation", "value_date_window",
]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def params_with_defaults(parameters: Mapping[Parameter, int] | None = None) -> dict[Parameter, int]:
    """Every parameter, the given ones over the constructor defaults."""
    given = parameters or {}
    return {p: int(given.get(p, p.default)) for p in Parameter}


# ---------------------------------------------------------------------------- one drawdown

def base_amount(amount: int, rate: int) -> int:
    """`amount` (1/100 of its currency) in CNY 1/100 units at `rate` (CNY per unit x 1e8), rounded up."""
    return ceil_div(int(amount) * int(rate), RATE_SCALE)


def contribution(amount: int, rate: int, weight_bps: int) -> int:
    """What a drawdown of `amount` adds to the loan's contribution and the borrower's balance, at the
    rate and weight in force at the drawdown's block: ceil(ceil(amount x rate / 1e8) x w / 1e4)."""
    return ceil_div(base_amount(amount, rate) * int(weight_bps), BPS)


#: The ledger's name for it (`LoanDrawn.contributionAdded`).
drawdown_delta = contribution


def fits(balance: int, delta: int, limit: int) -> bool:
    """A drawdown fits when it adds nothing (weight 0) or the balance after it is at most the limit."""
    return delta == 0 or balance + delta <= limit


def remaining_after_repay(loan_contribution: int, outstanding: int, amount: int) -> int:
    """The loan's contribution after a repayment of `amount` out of `outstanding`: pro rata, rounded
    up (against the borrower); all of it goes when nothing is left outstanding."""
    if outstanding <= 0:
        return 0
    return ceil_div(int(loan_contribution) * (int(outstanding) - int(amount)), int(outstanding))


def repayment_reduction(loan_contribution: int, outstanding: int, amount: int) -> int:
    """What a repayment removes from the balance (`LoanRepaid.contributionRemoved`)."""
    return int(loan_contribution) - remaining_after_repay(loan_contribution, outstanding, amount)


def counted_contribution(loan_contribution: int, status: int) -> int:
    """A loan's share of its borrower's balance: its contribution while Active or Defaulted, else 0."""
    return int(loan_contribution) if status in (LoanStatus.ACTIVE, LoanStatus.DEFAULTED) else 0


# ---------------------------------------------------------------------------- the policy's formulas

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
    leverage, adjustment = (int(parameters.get(p, p.default)) for p in factors)
    return int(capital_base) * leverage * adjustment // (BPS * BPS)


@dataclass(frozen=True)
class FinancingTypeRule:
    weight_bps: int
    off_balance: bool


def combined_weight(parameters: Mapping[Parameter, int], currency: str, rule: FinancingTypeRule,
                    short_term: bool) -> int:
    """The policy's `combinedWeight(currency, typeId, shortTerm)` under `parameters`."""
    if rule.weight_bps == 0:
        return 0
    p = params_with_defaults(parameters)
    term = p[Parameter.TERM_FACTOR_SHORT] if short_term else p[Parameter.TERM_FACTOR_LONG]
    kind = p[Parameter.OFF_BALANCE_FACTOR] if rule.off_balance else p[Parameter.ON_BALANCE_FACTOR]
    weight = ceil_div(term * kind * rule.weight_bps, BPS * BPS)
    return weight + (p[Parameter.FX_RISK_FACTOR] if currency != BASE_CURRENCY else 0)


@dataclass(frozen=True)
class Quote:
    """What a drawdown (or a record with a first draw) is checked with at one block."""

    rate: int
    weight_bps: int
    limit: int

    def delta(self, amount: int) -> int:
        return contribution(amount, self.rate, self.weight_bps)


# ---------------------------------------------------------------------------- dates against block time

@dataclass(frozen=True)
class DateWindow:
    """Inclusive [earliest, latest], unix seconds (the bounds the policy's errors name)."""

    earliest: int
    latest: int

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, int) and self.earliest <= moment <= self.latest


def value_date_window(now: int, parameters: Mapping[Parameter, int]) -> DateWindow:
    """[now - ValueDateMaxPastDays, now + ValueDateMaxFutureDays] (`ValueDateOutOfRange`)."""
    p = params_with_defaults(parameters)
    past = p[Parameter.VALUE_DATE_MAX_PAST_DAYS] * DAY
    return DateWindow(max(now - past, 0), now + p[Parameter.VALUE_DATE_MAX_FUTURE_DAYS] * DAY)


def maturity_window(now: int, value_date: int, parameters: Mapping[Parameter, int]) -> DateWindow:
    """[max(now, valueDate) + 1, valueDate + MaxTermDays] (`MaturityDateOutOfRange`); for an
    extension `now` alone is the floor (pass value_date <= now, as the policy's `extensionTerm`)."""
    p = params_with_defaults(parameters)
    return DateWindow(max(now, value_date) + 1, value_date + p[Parameter.MAX_TERM_DAYS] * DAY)


def extension_window(now: int, value_date: int, parameters: Mapping[Parameter, int]) -> DateWindow:
    """The new maturity of an extension: after now, at most MaxTermDays after the value date."""
    p = params_with_defaults(parameters)
    return DateWindow(now + 1, value_date + p[Parameter.MAX_TERM_DAYS] * DAY)


def confirm_by(now: int, parameters: Mapping[Parameter, int]) -> int:
    """When a loan recorded at `now` expires unless both sides consented (now + ConfirmationWindowDays)."""
    return now + params_with_defaults(parameters)[Parameter.CONFIRMATION_WINDOW_DAYS] * DAY


# ---------------------------------------------------------------------------- reading

def headroom(limit: int, balance: int) -> int:
    return max(limit - balance, 0)


def utilisation(balance: int, limit: int) -> float | None:
    return balance / limit if limit else None
