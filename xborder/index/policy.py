"""The policy figures the read side needs, by the Solidity names the index stores: parameter names
and defaults, the current parameters from indexed events, and the borrowing limit.

The enum, its defaults and the limit arithmetic are `xborder.domain` (`enums.Parameter`,
`limits.borrowing_limit`, `limits.base_amount`): this module only keys them by name for the
projection (which keeps every borrower's limit in `borrower_positions`) and the queries.
"""

from __future__ import annotations

from collections.abc import Mapping

from xborder.domain import limits
from xborder.domain.enums import Parameter
from xborder.index.db import Database

PARAMETER_NAMES = tuple(p.solidity_name for p in Parameter)

#: The policy's constructor values. The v2 policy emits a ParameterUpdated for each of them when it
#: is deployed, so an index holds them from events; these stand in before the first one is indexed.
PARAMETER_DEFAULTS: dict[str, int] = {p.solidity_name: p.default for p in Parameter}

#: kind -> (leverage parameter, adjustment parameter); kinds not listed cannot borrow.
LIMIT_FACTORS: dict[int, tuple[str, str]] = {
    int(kind): (leverage.solidity_name, adjustment.solidity_name)
    for kind, (leverage, adjustment) in limits.LIMIT_FACTORS.items()}
BORROWING_KINDS = frozenset(LIMIT_FACTORS)
#: Parameters a limit depends on: a change to one of them changes every limit of those kinds.
LIMIT_PARAMETERS = frozenset(name for pair in LIMIT_FACTORS.values() for name in pair)
_BY_NAME = {p.solidity_name: p for p in Parameter}

#: CNY minor units of an amount at a rate, rounded up as the ledger does (`limits.base_amount`).
ceil_cny = limits.base_amount


def parameter_name(parameter: int) -> str:
    """The Solidity name of `parameter` (`Parameter<n>` for a member this xborder does not know)."""
    return Parameter.name_of(parameter) if 0 <= parameter < len(PARAMETER_NAMES) else f"Parameter{parameter}"


def parameter_label(name: str) -> str:
    """What people read for the parameter stored as `name` (the name itself when unknown)."""
    member = _BY_NAME.get(name)
    return member.label if member is not None else name


def parameter_unit(name: str) -> str:
    """"bps" or "days" (`Parameter.unit`); "" when unknown."""
    member = _BY_NAME.get(name)
    return member.unit if member is not None else ""


def parameters(db: Database) -> dict[str, int]:
    """The policy's scalar parameters now: constructor defaults overlaid with ParameterUpdated events."""
    current = dict(PARAMETER_DEFAULTS)
    for parameter, value in db.query(
            "SELECT p.parameter, p.new_value FROM parameter_changes p WHERE NOT EXISTS ("
            "SELECT 1 FROM parameter_changes q WHERE q.parameter = p.parameter AND (q.block_number > "
            "p.block_number OR (q.block_number = p.block_number AND q.log_index > p.log_index)))"):
        current[parameter_name(int(parameter))] = int(value)
    return current


def borrowing_limit(kind: int, capital_base: int, params: Mapping[str, int]) -> int:
    """floor(capitalBase x leverage x adjustment / 1e8), 0 for kinds that cannot borrow
    (`xborder.domain.limits.borrowing_limit` under the parameters named in `params`)."""
    factors = LIMIT_FACTORS.get(int(kind))
    if factors is None:
        return 0
    return limits.borrowing_limit(int(kind), int(capital_base),
                                  {_BY_NAME[name]: int(params[name]) for name in factors})
