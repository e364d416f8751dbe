"""Institution identifiers: the LEI (ISO 17442) and China's unified social credit code
(GB 32100-2015). Validation mirrors the registry contract; generation is for demo data."""

from __future__ import annotations

import re

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_LEI = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")


def _lei_number(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text))


def lei_check_digits(first18: str) -> str:
    """ISO 7064 MOD 97-10 check digits for the first 18 characters of an LEI."""
    return f"{98 - _lei_number(first18 + '00') % 97:02d}"


def is_valid_lei(value: str) -> bool:
    return bool(_LEI.match(value)) and _lei_number(value) % 97 == 1


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(value: str) -> bool:
    """Length and charset (what the contract checks) plus the GB 32100 check character."""
    return (len(value) == 18 and all(c in USCC_CHARSET for c in value)
            and uscc_check_char(value[:17]) == value[17])


def identifier_problem(value: str) -> str | None:
    """None when `value` is a valid LEI or USCC, else what is wrong, in words."""
    if len(value) == 20:
        if not re.fullmatch(r"[0-9A-Z]{20}", value):
            return "an LEI has 20 characters from 0-9 and A-Z"
        return None if is_valid_lei(value) else "LEI check digits do not match (ISO 17442, MOD 97-10)"
    if len(value) == 18:
        if any(c not in USCC_CHARSET for c in value):
            return f"a unified social credit code uses only {USCC_CHARSET}"
        return None if is_valid_uscc(value) else "USCC check character does not match (GB 32100-2015)"
    return f"{len(value)} characters: an LEI has 20, a unified social credit code 18"


def identifier_bytes(value: str) -> bytes:
    """The registry's bytes20 form: ASCII, right-padded with zero bytes."""
    return value.encode("ascii").ljust(20, b"\0")
