// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title Calendar
 * @notice Proleptic Gregorian calendar arithmetic on unix timestamps (UTC), no loops: the
 * days-from-civil / civil-from-days algorithms of H. Hinnant ("chrono-compatible low-level date
 * algorithms"), restricted to dates on or after 1970-01-01.
 *
 * The term rule of the macro-prudential policy: a loan is **short-term** when its repayment term is
 * one calendar year or less, i.e. `maturityDate <= addOneYear(valueDate)` (inclusive). Adding one
 * year keeps the month, the day and the time of day; 29 February becomes 28 February of the next
 * year (end-of-month clamp, as Python's `dateutil.relativedelta(years=1)`). So 2027-03-01 ->
 * 2028-03-01 (366 days, spanning 29 Feb 2028) is short-term, and 2028-02-29 -> 2029-02-28 is the
 * last short-term maturity of a loan valued on 29 Feb 2028.
 */
library Calendar {
    uint256 internal constant DAY = 86_400;

    /// @notice `timestamp` plus one calendar year, same time of day (29 Feb -> 28 Feb).
    function addOneYear(uint256 timestamp) internal pure returns (uint256) {
        uint256 dayNumber = timestamp / DAY;
        (uint256 y, uint256 m, uint256 d) = civilFromDays(dayNumber);
        if (m == 2 && d == 29) d = 28; // y + 1 is never a leap year when y is one
        return daysFromCivil(y + 1, m, d) * DAY + (timestamp % DAY);
    }

    /// @notice True when a loan from `valueDate` to `maturityDate` is short-term (<= one calendar year).
    function isShortTerm(uint256 valueDate, uint256 maturityDate) internal pure returns (bool) {
        return maturityDate <= addOneYear(valueDate);
    }

    /// @notice Year, month (1-12) and day (1-31) of day number `z` (days since 1970-01-01).
    /// Integer division before multiplication is the algorithm (eras, years of era, months of 153 days).
    // slither-disable-next-line divide-before-multiply
    function civilFromDays(uint256 z) internal pure returns (uint256 y, uint256 m, uint256 d) {
        unchecked {
            z += 719_468; // days from 0000-03-01 to 1970-01-01
            uint256 era = z / 146_097;
            uint256 doe = z - era * 146_097; // [0, 146096]
            uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
            uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from 1 March
            uint256 mp = (5 * doy + 2) / 153; // [0, 11], March = 0
            d = doy - (153 * mp + 2) / 5 + 1;
            m = mp < 10 ? mp + 3 : mp - 9;
            y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        }
    }

    /// @notice Day number (days since 1970-01-01) of year `y` >= 1970, month `m`, day `d`.
    /// Integer division before multiplication is the algorithm (eras of 400 years).
    // slither-disable-next-line divide-before-multiply
    function daysFromCivil(uint256 y, uint256 m, uint256 d) internal pure returns (uint256) {
        unchecked {
            if (m <= 2) y -= 1;
            uint256 era = y / 400;
            uint256 yoe = y - era * 400; // [0, 399]
            uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; // [0, 365]
            uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
            return era * 146_097 + doe - 719_468;
        }
    }
}
