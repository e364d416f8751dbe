"""Currencies, amounts, reference rates and factors: the contracts' fixed-point scales and their
human forms (docs/contracts.md).

On chain every amount is an integer in 1/100 of its currency unit, whatever the currency
(`AMOUNT_SCALE`). People write and read amounts in the currency's ISO 4217 minor units: JPY and
the other zero-decimal currencies take whole units only, most currencies two decimals; the
three-decimal currencies (BHD, KWD, ...) are limited to the two the chain can hold. Reference
rates are CNY per unit x 1e8; factors basis points.

Parsing is strict and happens once, at the edge: a value that does not fit exactly is refused
(field, value, what is allowed), never rounded; exponents (`1e3`) are refused, commas and
underscores as digit-group separators are accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from xborder.errors import ValidationError

AMOUNT_SCALE = 100
AMOUNT_DECIMALS = 2
RATE_SCALE = 10**8
BPS = 10_000
UINT64_MAX = 2**64 - 1
BASE_CURRENCY = "CNY"

#: ISO 4217 currencies whose minor unit is not 2 (the others, and unknown codes, have 2).
MINOR_UNITS: dict[str, int] = {
    # zero decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three decimals (the chain holds two)
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four
    "CLF": 4, "UYW": 4,
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def minor_units(currency: str | None) -> int:
    """Decimals a person may write for `currency` (at most the chain's two)."""
    if currency is None:
        return AMOUNT_DECIMALS
    return min(MINOR_UNITS.get(currency, AMOUNT_DECIMALS), AMOUNT_DECIMALS)


def normalise_currency(value: object, field: str = "currency") -> str:
    """The one currency rule, everywhere (CLI, CSV, policy): surrounding blanks dropped, upper-cased,
    three ASCII letters. 'usd ' -> 'USD'."""
    code = str(value if value is not None else "").strip().upper()
    if not _CURRENCY.match(code):
        raise ValidationError(f"{field}: {value!r} is not an ISO 4217 code (three letters, e.g. USD)",
                              field=field, value=value, allowed="three letters, e.g. USD")
    return code


def normalise_country(value: object, field: str = "jurisdiction") -> str:
    code = str(value if value is not None else "").strip().upper()
    if not _COUNTRY.match(code):
        raise ValidationError(f"{field}: {value!r} is not an ISO 3166 alpha-2 code (two letters, e.g. CN)",
                              field=field, value=value, allowed="two letters, e.g. CN")
    return code


def decimal(value: object, field: str, allowed: str) -> Decimal:
    """A plain decimal number: digits, one point, optional sign; commas/underscores/blanks between
    digit groups are ignored. Exponents, NaN and infinities are refused."""
    text = str(value if value is not None else "").replace(",", "").replace("_", "").strip()
    if not _NUMBER.match(text):
        why = "is written with an exponent; write the digits out" if re.search(r"\d[eE][+-]?\d", text) \
            else "is not a number"
        raise ValidationError(f"{field}: {value!r} {why} ({allowed})", field=field, value=value, allowed=allowed)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValidationError(f"{field}: {value!r} is not a number ({allowed})", field=field, value=value,
                              allowed=allowed) from None


def amount_allowed(currency: str | None = None) -> str:
    places = minor_units(currency)
    if places == 0 and currency is not None:
        return f"a positive whole amount of {currency}"
    return f"a positive amount with at most {places} decimals"


def parse_amount(value: object, field: str = "amount", *, currency: str | None = None,
                 allow_zero: bool = False) -> int:
    """'1,250,000.50' -> 125000050 (the chain's 1/100 units). At most the currency's minor units
    (JPY: whole yen), positive (or zero with `allow_zero`), fits uint64."""
    allowed = amount_allowed(currency)
    number = decimal(value, field, allowed)
    places = minor_units(currency)
    shifted = number.scaleb(places)
    if shifted != shifted.to_integral_value():
        what = f"has decimals, but {currency} has no minor unit" if places == 0 and currency \
            else f"has more than {places} decimals"
        raise ValidationError(f"{field}: {value!r} {what} ({allowed})", field=field, value=value, allowed=allowed)
    minor = number * AMOUNT_SCALE
    if minor < 0 or (minor == 0 and not allow_zero):
        raise ValidationError(f"{field}: {value!r} must be greater than zero ({allowed})",
                              field=field, value=value, allowed=allowed)
    if minor > UINT64_MAX:
        raise ValidationError(f"{field}: {value!r} is too large (at most {format_amount(UINT64_MAX)})",
                              field=field, value=value, allowed=allowed)
    return int(minor)


def format_amount(minor: int, currency: str | None = None) -> str:
    """125000050 -> '1,250,000.50'; with a currency 'USD 1,250,000.50', in its minor units when the
    amount allows it ('JPY 1,000' for 100000)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), AMOUNT_SCALE)
    text = f"{sign}{whole:,}" if cents == 0 and minor_units(currency) == 0 else f"{sign}{whole:,}.{cents:02d}"
    return f"{currency} {text}" if currency else text


def parse_rate(value: object, field: str = "rate") -> int:
    """'7.1234' CNY per unit -> 712340000. Positive, at most 8 decimals."""
    allowed = "CNY per 1 unit of the currency, positive, at most 8 decimals"
    scaled = decimal(value, field, allowed) * RATE_SCALE
    if scaled != scaled.to_integral_value() or scaled <= 0 or scaled > UINT64_MAX:
        raise ValidationError(f"{field}: {value!r} is not a valid reference rate ({allowed})",
                              field=field, value=value, allowed=allowed)
    return int(scaled)


def format_rate(scaled: int) -> str:
    return f"{Decimal(scaled) / RATE_SCALE:.8f}".rstrip("0").rstrip(".")


def parse_bps(value: object, field: str = "factor") -> int:
    """'1.75' -> 17500 basis points (uint16)."""
    allowed = "a factor like 1.75 (at most 4 decimals, below 6.5536)"
    bps = decimal(value, field, allowed) * BPS
    if bps != bps.to_integral_value() or bps < 0 or bps >= 65536:
        raise ValidationError(f"{field}: {value!r} is not a valid factor ({allowed})",
                              field=field, value=value, allowed=allowed)
    return int(bps)


def format_bps(bps: int) -> str:
    return f"{Decimal(bps) / BPS:.4f}".rstrip("0").rstrip(".")


def currency_bytes(code: str) -> bytes:
    """The contracts' bytes3."""
    return code.encode("ascii")


def currency_text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        raw = bytes.fromhex(raw.removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", "replace")
