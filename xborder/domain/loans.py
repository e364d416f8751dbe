"""Loans in the domain vocabulary. Loan ids: `(borrower << 32) | n`, the n-th loan of a borrower (uint64 on chain).

One parser for every face (CLI arguments, CSV imports, HTTP paths): decimal, 0x hex, or the
human label `BORROWER:N`."""

from __future__ import annotations

from xborder.errors import ValidationError

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
LOAN_ID_ALLOWED = "a loan id (decimal, 0x hex, or BORROWER:N)"
#: The shapes `parse_loan_id` accepts, as a regular expression (the HTTP API's OpenAPI pattern).
#: Values that match it can still be out of range (above uint64 or a 0 part): `parse_loan_id` says so.
LOAN_ID_PATTERN = r"^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20}|[0-9]{1,10}:[0-9]{1,10})$"


def parse_loan_id(value: object, field: str = "loan id") -> int:
    """'4294967297' or '1:1' (borrower:n) or '0x100000001' -> loan id."""
    text = str(value).strip()
    try:
        if ":" in text:
            borrower, n = (int(p) for p in text.split(":", 1))
            if not (0 < borrower <= UINT32_MAX and 0 < n <= UINT32_MAX):
                raise ValueError(text)
            return borrower << 32 | n
        loan_id = int(text, 0)
    except ValueError:
        raise ValidationError(f"{field}: {text!r} is not a loan id ({LOAN_ID_ALLOWED})", field=field, value=text,
                              allowed=LOAN_ID_ALLOWED) from None
    if not 0 < loan_id <= UINT64_MAX:
        raise ValidationError(f"{field}: {text!r} is out of range ({LOAN_ID_ALLOWED})", field=field, value=text,
                              allowed=LOAN_ID_ALLOWED)
    return loan_id


def loan_label(loan_id: int) -> str:
    """4294967297 -> '4294967297 (1:1)'."""
    return f"{loan_id} ({loan_id >> 32}:{loan_id & UINT32_MAX})"
