"""The policy figures the read side needs: parameter names and defaults, the current parameters
from indexed events, and the borrowing limit exactly as the policy contract computes it:
    floor(capitalBase x leverage(kind) x adjustment(kind) / 1e8).

One copy for the projection (which keeps every borrower's limit in `borrower_positions`) and the
queries. (Issue #12 moves the limit arithmetic into `xborder.domain`; this module then imports it.)
"""

from __future__ import annotations

from xborder.index.db import Database

PARAMETER_NAMES = ("LeverageDomesticBank", "LeverageForeignBankBranch", "LeverageNonBank",
                   "LeverageEnterprise", "AdjustmentEnterprise", "AdjustmentFinancial",
                   "TermFactorShort", "TermFactorLong", "OnBalanceFactor", "OffBalanceFactor",
                   "FxRiskFactor", "OneYearSeconds")

#: The policy's constructor values (set without events; ParameterUpdated events override them).
PARAMETER_DEFAULTS: dict[str, int] = {
    "LeverageDomesticBank": 8000, "LeverageForeignBankBranch": 8000, "LeverageNonBank": 10000,
    "LeverageEnterprise": 20000, "AdjustmentEnterprise": 17500, "AdjustmentFinancial": 17500,
    "TermFactorShort": 15000, "TermFactorLong": 10000, "OnBalanceFactor": 10000,
    "OffBalanceFactor": 10000, "FxRiskFactor": 5000, "OneYearSeconds": 31_536_000,
}

#: kind -> (leverage parameter, adjustment parameter); kinds not listed cannot borrow.
LIMIT_FACTORS = {
    0: ("LeverageDomesticBank", "AdjustmentFinancial"),
    1: ("LeverageForeignBankBranch", "AdjustmentFinancial"),
    2: ("LeverageNonBank", "AdjustmentFinancial"),
    3: ("LeverageEnterprise", "AdjustmentEnterprise"),
}
BORROWING_KINDS = frozenset(LIMIT_FACTORS)
#: Parameters a limit depends on: a change to one of them changes every limit of those kinds.
LIMIT_PARAMETERS = frozenset(name for pair in LIMIT_FACTORS.values() for name in pair)
RATE_SCALE = 10**8


def parameter_name(parameter: int) -> str:
    return PARAMETER_NAMES[parameter] if 0 <= parameter < len(PARAMETER_NAMES) else f"Parameter{parameter}"


def parameters(db: Database) -> dict[str, int]:
    """The policy's scalar parameters now: constructor defaults overlaid with ParameterUpdated events."""
    current = dict(PARAMETER_DEFAULTS)
    for parameter, value in db.query(
            "SELECT p.parameter, p.new_value FROM parameter_changes p WHERE NOT EXISTS ("
            "SELECT 1 FROM parameter_changes q WHERE q.parameter = p.parameter AND (q.block_number > "
            "p.block_number OR (q.block_number = p.block_number AND q.log_index > p.log_index)))"):
        current[parameter_name(int(parameter))] = int(value)
    return current


def borrowing_limit(kind: int, capital_base: int, params: dict[str, int]) -> int:
    """floor(capitalBase x leverage x adjustment / 1e8), 0 for kinds that cannot borrow."""
    factors = LIMIT_FACTORS.get(kind)
    if factors is None:
        return 0
    return capital_base * params[factors[0]] * params[factors[1]] // RATE_SCALE


def ceil_cny(amount: int, rate: int) -> int:
    """An amount in CNY minor units at `rate` (CNY per unit x 1e8), rounded up as the ledger does."""
    return -(-int(amount) * int(rate) // RATE_SCALE)
