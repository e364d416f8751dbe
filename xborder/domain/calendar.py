"""The real PBOC / SAFE macro-prudential adjustment parameter calendar, as data with its sources.

The 2019 demo runs on the parameter in force then (1.0 for everybody); a 2022-scale run replays
the changes on their dates. Dates are the notices' effective dates (UTC midnight).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from xborder.domain.enums import Parameter


@dataclass(frozen=True)
class PolicyChange:
    effective: dt.date
    parameter: Parameter
    value_bps: int
    source: str

    @property
    def timestamp(self) -> int:
        return int(dt.datetime(self.effective.year, self.effective.month, self.effective.day,
                               tzinfo=dt.UTC).timestamp())


_E, _F = Parameter.ADJUSTMENT_ENTERPRISE, Parameter.ADJUSTMENT_FINANCIAL
_Y2017 = "PBOC Yinfa [2017] No. 9 (issued 2017-01-11, effective 2017-01-22): adjustment parameter 1"
_Y2020 = ("PBOC/SAFE Yinfa [2020] No. 64, dated and effective 2020-03-11 (some secondary sources give "
          "the release as 2020-03-12): 1 -> 1.25")
_FI2020 = "Xinhua 2020-12-11, 'China lowers key parameter': financial institutions 1.25 -> 1"
_E2021 = ("PBOC/SAFE Yinfa [2021] No. 5, 2021-01-07, effective on release: enterprises 1.25 -> 1; "
          "contracts signed before it may run to maturity (safe.gov.cn/safe/2021/0107/18011.html)")
_2022 = "Xinhua 2022-10-25: enterprises and financial institutions 1 -> 1.25"
_2023 = "Xinhua / SAFE 2023-07-20 ('于2023年7月20日实施'): 1.25 -> 1.5"
_2025 = "PBOC/SAFE statement, Xinhua 2025-01-13 ('于2025年1月13日实施'): 1.5 -> 1.75"

#: Every change, in date order (both parameters on a date when both moved).
POLICY_CALENDAR: tuple[PolicyChange, ...] = (
    PolicyChange(dt.date(2017, 1, 22), _E, 10_000, _Y2017),
    PolicyChange(dt.date(2017, 1, 22), _F, 10_000, _Y2017),
    PolicyChange(dt.date(2020, 3, 11), _E, 12_500, _Y2020),
    PolicyChange(dt.date(2020, 3, 11), _F, 12_500, _Y2020),
    PolicyChange(dt.date(2020, 12, 11), _F, 10_000, _FI2020),
    PolicyChange(dt.date(2021, 1, 7), _E, 10_000, _E2021),
    PolicyChange(dt.date(2022, 10, 25), _E, 12_500, _2022),
    PolicyChange(dt.date(2022, 10, 25), _F, 12_500, _2022),
    PolicyChange(dt.date(2023, 7, 20), _E, 15_000, _2023),
    PolicyChange(dt.date(2023, 7, 20), _F, 15_000, _2023),
    PolicyChange(dt.date(2025, 1, 13), _E, 17_500, _2025),
    PolicyChange(dt.date(2025, 1, 13), _F, 17_500, _2025),
)


def in_force(parameter: Parameter, on: dt.date) -> int:
    """The value (bps) of `parameter` in force on `on` (the 2017 framework's 1.0 before anything)."""
    value = 10_000
    for change in POLICY_CALENDAR:
        if change.parameter is parameter and change.effective <= on:
            value = change.value_bps
    return value


def changes_between(start: dt.date, end: dt.date) -> list[PolicyChange]:
    """The changes effective after `start` and on or before `end`, in order."""
    return [c for c in POLICY_CALENDAR if start < c.effective <= end]
