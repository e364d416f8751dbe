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


def lei_with_check(base18: str) -> str:
    """Append the two ISO 17442 check digits to an 18-character LEI prefix."""
    base18 = base18.upper()
    if not re.fullmatch(r"[0-9A-Z]{18}", base18):
        raise ValueError(f"an LEI prefix is 18 characters 0-9A-Z, not {base18!r}")
    return base18 + lei_check_digits(base18)


def lei_checksum_ok(lei: str) -> bool:
    """ISO 7064 MOD 97-10 over the LEI with letters as 10..35: valid iff the result is 1."""
    return _lei_number(lei) % 97 == 1


def is_valid_lei(value: str) -> bool:
    return bool(_LEI.match(value)) and lei_checksum_ok(value)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc_with_check(base17: str) -> str:
    """Append the GB 32100-2015 check character to a 17-character USCC prefix."""
    return base17 + uscc_check_char(base17)


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


def identifier_text(raw: bytes) -> str:
    """The identifier as text from the registry's bytes20."""
    return bytes(raw).rstrip(b"\0").decode("ascii", "replace")
