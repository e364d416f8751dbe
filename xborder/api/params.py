"""The API's parameters, declared once with the rules the server really applies (pattern, enum,
range) so that the OpenAPI document says exactly what is accepted; values are parsed into domain
values here, at the edge, and the routes see only parsed values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi import Path as PathParam

from xborder.api import payloads
from xborder.api.errors import NotFound
from xborder.domain.loans import LOAN_ID_ALLOWED, LOAN_ID_PATTERN, parse_loan_id
from xborder.errors import ValidationError
from xborder.index import queries

UINT32_MAX = payloads.UINT32_MAX
MAX_PAGE = queries.MAX_PAGE
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
#: A keyset cursor (`xborder.index.pages`): URL-safe base64 without padding, as `next_cursor` gives it.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
CURSOR_MAX_LENGTH = 400
_CURSOR_ALLOWED = "the next_cursor of the previous page, unchanged"


def _choices(names: Sequence[str]) -> dict[str, Any]:
    """`pattern` and `enum` of a parameter that takes one of `names`."""
    return {"pattern": "^(" + "|".join(re.escape(n) for n in names) + ")$", "json_schema_extra": {"enum": list(names)}}


STATUS_SPELLINGS = [*payloads.STATUS_NAMES, *(n.lower() for n in payloads.STATUS_NAMES)]
EVENT_SPELLINGS = [*payloads.LOAN_EVENTS, *(e.removeprefix("Loan") for e in payloads.LOAN_EVENTS),
                   *(e.removeprefix("Loan").lower() for e in payloads.LOAN_EVENTS)]

_DATE_RULE = ("a date", "a UTC date YYYY-MM-DD")
#: How a 422 words each pattern or enum parameter (see errors.install).
RULES: dict[str, tuple[str, str]] = {
    "currency": ("an ISO 4217 currency code", "three letters, e.g. USD"),
    "creditor_country": ("an ISO 3166 alpha-2 country code", "two letters, e.g. HK"),
    "status": ("a loan status", ", ".join(payloads.STATUS_NAMES)),
    "event": ("a loan event", ", ".join(payloads.LOAN_EVENTS) + " (the Loan prefix is optional)"),
    "sort": ("a known order", ", ".join(payloads.EXPOSURE_SORTS)),
    "from": _DATE_RULE, "to": _DATE_RULE,
    "loan_id": ("a loan id", LOAN_ID_ALLOWED.removeprefix("a loan id ").strip("()")),
    "cursor": ("a cursor of this listing", _CURSOR_ALLOWED),
    "by": ("a grouping", ", ".join(payloads.TOTALS_BY)),
}

Format = Literal["json", "csv"]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, 1 to {MAX_PAGE}")]
OptionalLimit = Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=f"page size, 1 to {MAX_PAGE} "
                                                                           "(absent: every row in one answer)")]
Cursor = Annotated[str | None, Query(pattern=CURSOR_PATTERN, max_length=CURSOR_MAX_LENGTH,
                                     description="the next page: the `next_cursor` of the previous page, unchanged "
                                                 "(absent for the first page); a cursor the listing did not give "
                                                 "answers 422")]
FormatQ = Annotated[Format, Query(description="json (default) or csv (`text/csv`)")]
InstitutionQ = Annotated[int | None, Query(ge=1, le=UINT32_MAX, description="institution id, 1 to 4294967295")]
CurrencyQ = Annotated[str | None, Query(pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. USD (any case)")]
CountryQ = Annotated[str | None, Query(pattern=COUNTRY_PATTERN,
                                       description="ISO 3166 alpha-2 code of the creditor's country, e.g. HK (any case)")]
StatusQ = Annotated[str | None, Query(description="loan status", **_choices(STATUS_SPELLINGS))]
EventQ = Annotated[str | None, Query(description="loan event (with or without the Loan prefix)",
                                     **_choices(EVENT_SPELLINGS))]
SortQ = Annotated[str, Query(description="utilisation and balance: highest first; headroom: smallest first; "
                                         "borrower: by id", **_choices(payloads.EXPOSURE_SORTS))]
TotalsByQ = Annotated[str, Query(description="the grouping; bank is the institution that recorded the loan, and bank "
                                             "and creditor rows carry the institution's name",
                                 **_choices(payloads.TOTALS_BY))]
BorrowerPath = Annotated[int, PathParam(ge=1, le=UINT32_MAX, description="institution id, 1 to 4294967295")]
_DateFrom = Annotated[str | None, Query(alias="from", pattern=DATE_PATTERN, json_schema_extra={"format": "date"},
                                        description="value date on or after, a UTC date YYYY-MM-DD")]
_DateTo = Annotated[str | None, Query(alias="to", pattern=DATE_PATTERN, json_schema_extra={"format": "date"},
                                      description="value date on or before, a UTC date YYYY-MM-DD (on or after `from`)")]


def currency(value: str | None) -> str | None:
    return payloads.parse_currency(value)


def country(value: str | None) -> str | None:
    return payloads.parse_country(value, "creditor_country")


def status(value: str | None) -> str | None:
    return payloads.parse_status(value)


@dataclass(frozen=True)
class DateRange:
    """Value dates as unix seconds, inclusive (None: open)."""

    start: int | None
    end: int | None


def date_range(value_date_from: _DateFrom = None, value_date_to: _DateTo = None) -> DateRange:
    start = payloads.parse_date(value_date_from, "from")
    end = payloads.parse_date(value_date_to, "to", end_of_day=True)
    if start is not None and end is not None and start > end:
        raise ValidationError(f"from: {value_date_from!r} is after to: {value_date_to!r}", field="from",
                              value=value_date_from, allowed=f"a date on or before {value_date_to}")
    return DateRange(start, end)


Dates = Annotated[DateRange, Depends(date_range)]


def loan_id(loan_id: Annotated[str, PathParam(pattern=LOAN_ID_PATTERN,
                                              description="decimal, 0x hex or BORROWER:N, e.g. 3:1")]) -> int:
    """A well-formed id that cannot exist (0, a 0 part, above uint64) is simply not in the index: 404."""
    try:
        return parse_loan_id(loan_id, "loan_id")
    except ValidationError:
        allowed = "1 to 2**64-1; BORROWER:N with both parts 1 to 4294967295"
        raise NotFound(f"loan_id: {loan_id!r} is out of range ({allowed}), so no loan has it",
                       field="loan_id", value=loan_id, allowed=allowed) from None


LoanId = Annotated[int, Depends(loan_id)]
