"""Fixed-point scales of the contracts (docs/contracts.md) and their human forms.

Amounts: integers in 1/100 of the currency unit. Reference rates: CNY per unit x 1e8. Factors:
basis points. Parsing is strict: a value that does not fit the scale exactly is refused, never
rounded silently.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from xborder.errors import ValidationError

AMOUNT_SCALE = 100
RATE_SCALE = 10**8
BPS = 10_000
UINT64_MAX = 2**64 - 1
BASE_CURRENCY = "CNY"

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _decimal(value: object, field: str, allowed: str) -> Decimal:
    try:
        number = Decimal(str(value).replace(",", "").replace("_", "").strip())
    except InvalidOperation:
        raise ValidationError(f"{field}: {value!r} is not a number ({allowed})",
                              field=field, value=value, allowed=allowed) from None
    if not number.is_finite():
        raise ValidationError(f"{field}: {value!r} is not a finite number ({allowed})",
                              field=field, value=value, allowed=allowed)
    return number


def parse_amount(value: object, field: str = "amount", *, allow_zero: bool = False) -> int:
    """'1,250,000.50' -> 125000050 (minor units). Positive, at most 2 decimals, fits uint64."""
    allowed = "a positive amount with at most 2 decimals"
    number = _decimal(value, field, allowed)
    minor = number * AMOUNT_SCALE
    if minor != minor.to_integral_value():
        raise ValidationError(f"{field}: {value!r} has more than 2 decimals ({allowed})",
                              field=field, value=value, allowed=allowed)
    if minor < 0 or (minor == 0 and not allow_zero):
        raise ValidationError(f"{field}: {value!r} must be greater than zero ({allowed})",
                              field=field, value=value, allowed=allowed)
    if minor > UINT64_MAX:
        raise ValidationError(f"{field}: {value!r} is too large (at most {format_amount(UINT64_MAX)})",
                              field=field, value=value, allowed=allowed)
    return int(minor)


def parse_rate(value: object, field: str = "rate") -> int:
    """'7.1234' CNY per unit -> 712340000. Positive, at most 8 decimals."""
    allowed = "CNY per 1 unit of the currency, positive, at most 8 decimals"
    number = _decimal(value, field, allowed)
    scaled = number * RATE_SCALE
    if scaled != scaled.to_integral_value() or scaled <= 0 or scaled > UINT64_MAX:
        raise ValidationError(f"{field}: {value!r} is not a valid reference rate ({allowed})",
                              field=field, value=value, allowed=allowed)
    return int(scaled)


def parse_bps(value: object, field: str = "factor") -> int:
    """'1.75' -> 17500 basis points."""
    allowed = "a factor like 1.75 (at most 4 decimals, below 6.5536)"
    number = _decimal(value, field, allowed)
    bps = number * BPS
    if bps != bps.to_integral_value() or bps < 0 or bps >= 65536:
        raise ValidationError(f"{field}: {value!r} is not a valid factor ({allowed})",
                              field=field, value=value, allowed=allowed)
    return int(bps)


def parse_currency(value: object, field: str = "currency") -> str:
    code = str(value).strip().upper()
    if not _CURRENCY.match(code):
        raise ValidationError(f"{field}: {value!r} is not an ISO 4217 code (three letters, e.g. USD)",
                              field=field, value=value, allowed="three letters, e.g. USD")
    return code


def parse_country(value: object, field: str = "jurisdiction") -> str:
    code = str(value).strip().upper()
    if not _COUNTRY.match(code):
        raise ValidationError(f"{field}: {value!r} is not an ISO 3166 alpha-2 code (two letters, e.g. CN)",
                              field=field, value=value, allowed="two letters, e.g. CN")
    return code


def currency_bytes(code: str) -> bytes:
    return code.encode("ascii")


def currency_text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        raw = bytes.fromhex(raw.removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", "replace")


def format_amount(minor: int, currency: str | None = None) -> str:
    """125000050 -> '1,250,000.50' (with 'CNY ' in front when a currency is given)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), AMOUNT_SCALE)
    text = f"{sign}{whole:,}.{cents:02d}"
    return f"{currency} {text}" if currency else text


def format_rate(scaled: int) -> str:
    return f"{Decimal(scaled) / RATE_SCALE:.8f}".rstrip("0").rstrip(".")


def format_bps(bps: int) -> str:
    return f"{Decimal(bps) / BPS:.4f}".rstrip("0").rstrip(".")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def base_amount(amount: int, rate: int) -> int:
    """Amount in CNY minor units, rounded up (against the borrower), as the ledger does."""
    return ceil_div(amount * rate, RATE_SCALE)
