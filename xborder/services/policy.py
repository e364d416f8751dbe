"""The regulator's macro-prudential policy: scalar parameters, FX reference rates, financing types.

Values travel in human units (a factor 1.75, a rate 7.1234 CNY per unit) and are converted to the
contract scales (basis points, rate x 1e8) here, strictly: a value that does not fit is refused
with the field, the value and what is allowed, before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, Web3RPCError

from xborder.bindings.client import XborderClient
from xborder.domain import calendar
from xborder.domain.enums import Parameter
from xborder.domain.money import (
    BASE_CURRENCY,
    currency_bytes,
    currency_text,
    format_bps,
    format_rate,
    normalise_currency,
    parse_bps,
    parse_rate,
)
from xborder.errors import ValidationError

log = logging.getLogger(__name__)


ParameterSpec = Parameter  # a parameter: `slug` is its CLI name, `label` its meaning
PARAMETERS: tuple[Parameter, ...] = tuple(Parameter)
PARAMETER_NAMES = ", ".join(p.slug for p in PARAMETERS)
_BY_NAME = {p.slug: p for p in PARAMETERS}
UINT32_MAX = 2**32 - 1


def parameter_spec(name: str | Parameter) -> ParameterSpec:
    if isinstance(name, Parameter):
        return name
    key = name.strip().lower().replace("_", "-")
    spec = _BY_NAME.get(key)
    if spec is None:
        raise ValidationError(f"PARAM: {name!r} is not a policy parameter (one of {PARAMETER_NAMES})",
                              field="PARAM", value=name, allowed=PARAMETER_NAMES)
    return spec


def parse_parameter_value(spec: ParameterSpec, value: str) -> int:
    """Human value -> contract value (bps for factors, whole days for the day parameters)."""
    text = str(value).strip()
    if spec.in_days:
        low = 0 if spec.zero_allowed else max(spec.minimum, 1)
        allowed = f"whole days {low}..{spec.maximum} (a 'd' suffix is accepted, e.g. 30d)"
        digits = text[:-1] if text.lower().endswith("d") else text
        if not digits.isdigit():
            raise ValidationError(f"{spec.slug}: {value!r} is not a whole number of days ({allowed})",
                                  field=spec.slug, value=value, allowed=allowed)
        days = int(digits)
        if not low <= days <= spec.maximum:
            raise ValidationError(f"{spec.slug}: {value!r} is out of range ({allowed})", field=spec.slug,
                                  value=value, allowed=allowed)
        return days
    allowed = ("a factor 0 to 6.5535 with at most 4 decimals" if spec.zero_allowed
               else "a factor above 0 and below 6.5536 with at most 4 decimals, e.g. 1.75")
    try:
        bps = parse_bps(text, spec.slug)
    except ValidationError:
        raise ValidationError(f"{spec.slug}: {value!r} is not a valid factor ({allowed})", field=spec.slug,
                              value=value, allowed=allowed) from None
    if bps == 0 and not spec.zero_allowed:
        raise ValidationError(f"{spec.slug}: {value!r} must be greater than zero ({allowed}); a zero "
                              "would forbid all borrowing of that kind", field=spec.slug, value=value,
                              allowed=allowed)
    return bps


def format_parameter(spec: ParameterSpec, raw: int) -> str:
    return f"{raw} days" if spec.in_days else format_bps(raw)


def parameters(client: XborderClient) -> dict[str, int]:
    values = client.policy.functions.parameters().call()
    return {spec.slug: int(values[spec.value]) for spec in PARAMETERS}


def set_parameter(client: XborderClient, signer: LocalAccount, name: str | Parameter, value: str) -> tuple[int, int]:
    """Validate and set one parameter (`name`: its slug, e.g. "adjustment-enterprise", or the
    Parameter; `value` human: "1.25", or whole days for the day parameters); returns (old, new) in
    contract units. Takes effect at once for new records, drawdowns and extensions."""
    spec = parameter_spec(name)
    new = parse_parameter_value(spec, value)
    old = parameters(client)[spec.slug]
    client.transact(signer, client.policy.functions.setParameter(spec.value, new),
                    f"setting {spec.slug} to {value}")
    log.info("policy %s: %s -> %s", spec.slug, old, new)
    return old, new


# ---------------------------------------------------------------------------- the real calendar

#: The parameters the PBOC/SAFE calendar moves (`xborder.domain.calendar`).
CALENDAR_PARAMETERS: tuple[Parameter, ...] = (Parameter.ADJUSTMENT_ENTERPRISE, Parameter.ADJUSTMENT_FINANCIAL)


def chain_date(client: XborderClient) -> dt.date:
    """The UTC date of the chain's latest block (the clock the contracts compare dates with)."""
    return dt.datetime.fromtimestamp(client.now(), dt.UTC).date()


def calendar_due(current: dict[str, int], on: dt.date) -> list[tuple[Parameter, int]]:
    """The (parameter, bps) settings that bring `current` (slug -> contract value, as `parameters`
    reads it) to the calendar's values in force on `on`; empty when the chain already follows it."""
    return [(p, calendar.in_force(p, on)) for p in CALENDAR_PARAMETERS if current.get(p.slug) != calendar.in_force(p, on)]


def apply_calendar(client: XborderClient, signer: LocalAccount, on: dt.date | None = None) -> list[tuple[Parameter, int]]:
    """The regulator applies the PBOC/SAFE calendar up to `on` (default: the chain's own date): each
    adjustment parameter whose value differs from the one in force that day is set to it, one
    `setParameter` each. Idempotent (a resumed run sends nothing twice); returns what it set.
    Call it on each date the chain's clock reaches: a change takes effect for new drawdowns."""
    day = on or chain_date(client)
    due = calendar_due(parameters(client), day)
    for parameter, value in due:
        client.transact(signer, client.policy.functions.setParameter(int(parameter), value),
                        f"setting {parameter.slug} to {format_bps(value)} (calendar, {day.isoformat()})")
        log.info("calendar %s: %s -> %s", day.isoformat(), parameter.slug, value)
    return due


# ---------------------------------------------------------------------------- FX rates


def parse_rate_pairs(args: Sequence[str]) -> list[tuple[str, int]]:
    """['USD', '7.1234', 'EUR', '7.8'] (or 'USD=7.1234') -> [('USD', 712340000), ...]."""
    tokens: list[str] = []
    for arg in args:
        tokens.extend(part for part in arg.replace("=", " ").split() if part)
    if not tokens or len(tokens) % 2:
        raise ValidationError(
            f"give currency/rate pairs, e.g. `USD 7.1234 EUR 7.8`; got {' '.join(args) or 'nothing'!r}",
            field="PAIRS", value=" ".join(args), allowed="CODE RATE [CODE RATE ...]")
    pairs: list[tuple[str, int]] = []
    seen: set[str] = set()
    for code_raw, rate_raw in zip(tokens[::2], tokens[1::2], strict=True):
        code = parse_currency_code(code_raw)
        if code in seen:
            raise ValidationError(f"currency: {code} is given twice", field="currency", value=code,
                                  allowed="each currency once")
        seen.add(code)
        pairs.append((code, parse_rate(rate_raw, f"rate of {code}")))
    return pairs


def parse_currency_code(value: str) -> str:
    """The one currency rule (`normalise_currency`), and CNY has no rate to set."""
    code = normalise_currency(value)
    if code == BASE_CURRENCY:
        raise ValidationError("currency: CNY is the base currency, fixed at 1 (it has no reference rate to set)",
                              field="currency", value=value, allowed="any ISO 4217 code except CNY")
    return code


def set_rates(client: XborderClient, signer: LocalAccount, pairs: Sequence[tuple[str, int]]) -> None:
    """One transaction (setReferenceRates) for all pairs."""
    codes = [currency_bytes(c) for c, _ in pairs]
    rates = [r for _, r in pairs]
    client.transact(signer, client.policy.functions.setReferenceRates(codes, rates),
                    "setting reference rates " + ", ".join(f"{c} {format_rate(r)}" for c, r in pairs))


def remove_rate(client: XborderClient, signer: LocalAccount, code: str) -> None:
    currency = parse_currency_code(code)
    if currency not in {r["currency"] for r in rates(client)}:
        raise ValidationError(f"currency: {currency} has no reference rate to remove", field="currency",
                              value=code, allowed="a currency listed by `xborder policy fx list`")
    client.transact(signer, client.policy.functions.setReferenceRate(currency_bytes(currency), 0),
                    f"removing the reference rate of {currency}")


def _when(ts: int) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rates(client: XborderClient) -> list[dict[str, Any]]:
    """Every currency with a reference rate now (currencies found in the rate events), sorted."""
    logs = client.policy.events.ReferenceRateUpdated.get_logs(from_block=client.deployment.start_block)
    currencies = sorted({currency_text(bytes(e["args"]["currency"])) for e in logs})
    out: list[dict[str, Any]] = [{"currency": BASE_CURRENCY, "rate": "1", "rate_scaled": 10**8,
                                  "updated_at": None, "updated_at_unix": 0}]
    for code in currencies:
        try:
            rate, updated = client.policy.functions.referenceRate(currency_bytes(code)).call()
        except (ContractLogicError, Web3RPCError, ValueError):
            continue  # removed (rate 0)
        if int(rate) == 0:
            continue
        out.append({"currency": code, "rate": format_rate(int(rate)), "rate_scaled": int(rate),
                    "updated_at": _when(int(updated)), "updated_at_unix": int(updated)})
    return out


# ---------------------------------------------------------------------------- financing types


def parse_type_id(value: object) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 255:
        raise ValidationError(f"ID: {value!r} is not a financing type id (1..255)", field="ID", value=value,
                              allowed="a whole number 1..255")
    return int(text)


def parse_type_name(value: str) -> str:
    name = str(value).strip()
    if not name or len(name.encode()) > 64:
        raise ValidationError(f"NAME: {value!r} must be 1-64 bytes, e.g. ORDINARY_LOAN", field="NAME",
                              value=value, allowed="1-64 bytes, e.g. ORDINARY_LOAN")
    return name


def financing_types(client: XborderClient) -> list[dict[str, Any]]:
    """The current table: ids and names from the FinancingTypeSet events, values from the contract."""
    start = client.deployment.start_block
    names: dict[int, str] = {}
    for e in client.policy.events.FinancingTypeSet.get_logs(from_block=start):
        names[int(e["args"]["typeId"])] = str(e["args"]["name"])
    out: list[dict[str, Any]] = []
    for type_id in sorted(names):
        weight, off_balance, exists = client.policy.functions.financingType(type_id).call()
        if not exists:
            continue
        out.append({"id": type_id, "name": names[type_id], "weight": format_bps(int(weight)),
                    "weight_bps": int(weight), "off_balance": bool(off_balance)})
    return out


def set_financing_type(client: XborderClient, signer: LocalAccount, type_id: str, name: str, weight: str,
                       off_balance: bool) -> dict[str, Any]:
    tid = parse_type_id(type_id)
    label = parse_type_name(name)
    bps = parse_bps(weight, "WEIGHT")
    client.transact(signer, client.policy.functions.setFinancingType(tid, label, bps, off_balance),
                    f"setting financing type {tid} {label}")
    return {"id": tid, "name": label, "weight": format_bps(bps), "weight_bps": bps, "off_balance": off_balance}


def remove_financing_type(client: XborderClient, signer: LocalAccount, type_id: str) -> int:
    tid = parse_type_id(type_id)
    client.transact(signer, client.policy.functions.removeFinancingType(tid), f"removing financing type {tid}")
    return tid


def snapshot(client: XborderClient) -> dict[str, Any]:
    """Everything `policy show` prints, in human units."""
    values = parameters(client)
    return {
        "parameters": [{"name": s.slug, "value": format_parameter(s, values[s.slug]), "raw": values[s.slug],
                        "description": s.label} for s in PARAMETERS],
        "financing_types": financing_types(client),
        "reference_rates": rates(client),
    }
