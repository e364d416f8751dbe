"""Dates as the contracts hold them: unix seconds (UTC) in a uint32.

`parse_date` accepts 'YYYY-MM-DD' (midnight UTC) or 'YYYY-MM-DDTHH:MM[:SS]Z' between
`DATE_FLOOR` and the uint32 ceiling; the message states exactly that range.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from xborder.errors import ValidationError

DAY = 86_400
UINT32_MAX = 2**32 - 1
#: No cross-border financing recorded here predates this (the PBOC's full-coverage framework is
#: from 2016); anything earlier is a typo.
DATE_FLOOR = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DATE_CEILING = dt.datetime.fromtimestamp(UINT32_MAX, dt.UTC)
DATE_ALLOWED = (f"a UTC date YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ) from {DATE_FLOOR:%Y-%m-%d} "
                f"to {DATE_CEILING:%Y-%m-%d}")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|\+00:00)?$")


def _moment(text: str) -> dt.datetime:
    if _DATE.match(text):
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    if _DATETIME.match(text):
        moment = dt.datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    raise ValueError(text)


def parse_date(value: object, field: str = "date") -> int:
    """'2025-03-31' -> unix seconds of midnight UTC; refused outside DATE_FLOOR..uint32."""
    text = str(value if value is not None else "").strip()
    try:
        moment = _moment(text)
    except ValueError:
        raise ValidationError(f"{field}: {text!r} is not a date ({DATE_ALLOWED})", field=field, value=text,
                              allowed=DATE_ALLOWED) from None
    if not DATE_FLOOR <= moment <= DATE_CEILING:
        raise ValidationError(f"{field}: {text!r} is out of range ({DATE_ALLOWED})", field=field, value=text,
                              allowed=DATE_ALLOWED)
    return int(moment.timestamp())


def format_date(seconds: int) -> str:
    """Midnight -> 'YYYY-MM-DD', else 'YYYY-MM-DDTHH:MM:SSZ'."""
    moment = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
    if moment.hour == moment.minute == moment.second == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def day_text(seconds: int) -> str:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime("%Y-%m-%d")


def add_calendar_year(seconds: int) -> int:
    """The same calendar day one year later, same time of day; 29 February -> 28 February (the
    end-of-month clamp, as dateutil's relativedelta(years=1))."""
    moment = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
    year = moment.year + 1
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])
    return int(moment.replace(year=year, day=day).timestamp())


def is_short_term(value_date: int, maturity_date: int) -> bool:
    """The calendar-year rule: maturity on or before the same day one year after the value date."""
    return maturity_date <= add_calendar_year(value_date)


def month_index(seconds: int, base_year: int) -> int:
    """Months since January of `base_year` (0 = that January)."""
    day = dt.datetime.fromtimestamp(int(seconds), dt.UTC)
    return (day.year - base_year) * 12 + day.month - 1


def month_start(index: int, base_year: int, day: int = 1) -> int:
    """Unix seconds of `day` of month `index` (see `month_index`), midnight UTC."""
    return int(dt.datetime(base_year + index // 12, index % 12 + 1, day, tzinfo=dt.UTC).timestamp())
