"""USCC check character (GB 32100-2015) and LEI check digits in xborder.domain.identifiers: the same
rules the registry contract enforces (tests/contracts/unitary/test_registry.py)."""

from __future__ import annotations

import pytest

from xborder.domain.identifiers import (
    USCC_CHARSET,
    identifier_problem,
    is_valid_uscc,
    lei_with_check,
    uscc_check_char,
    uscc_with_check,
)


def test_uscc_weights_are_powers_of_three_mod_31() -> None:
    # check = (31 - sum(v(c_i) * 3^(i-1) mod 31) mod 31) mod 31, as the contract's table
    body = "91350100M000100Y4"
    total = sum(USCC_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    assert uscc_check_char(body) == USCC_CHARSET[(31 - total % 31) % 31] == "3"


@pytest.mark.parametrize(("code", "valid"), [
    ("91350100M000100Y43", True),  # a published code
    ("91350100M000100Y44", False),
    ("91110000100000000R", True),  # the contract suite's enterprise
    ("91110000100000000A", False),
    ("91100000100005101J", True),  # examples/roster.csv
    ("9111000010000000I0", False),  # I is not in the charset
    ("9111000010000000", False),
])
def test_is_valid_uscc(code: str, valid: bool) -> None:
    assert is_valid_uscc(code) is valid


def test_uscc_with_check_round_trip() -> None:
    for body in ("91440300MA5F7KQ03", "91010000MA0000000", "11100000MB0143201"):
        assert is_valid_uscc(uscc_with_check(body))


def test_identifier_problem_names_the_rule() -> None:
    assert identifier_problem("91110000100000000R") is None
    assert identifier_problem("91110000100000000A") == "USCC check character does not match (GB 32100-2015)"
    assert identifier_problem(lei_with_check("300300ICBCBANK0001")) is None
