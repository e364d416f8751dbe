"""The one vocabulary (xborder.domain) held to the contracts: enums against interfaces/*.sol, the
request/loan types against the compiled ABI, the limit arithmetic against the deployed policy and
ledger; and the parsing rules of amounts, currencies and dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from loan_setup import BORROWER_X, BORROWER_Y, HK_CREDITOR, World, build_world

from xborder.build import compile_project
from xborder.config import PROJECT_ROOT
from xborder.domain import calendar, limits
from xborder.domain.dates import add_calendar_year, format_date, is_short_term, parse_date
from xborder.domain.enums import (
    ConsentSide,
    InstitutionKind,
    InstitutionStatus,
    LoanStatus,
    Parameter,
    ReasonCode,
)
from xborder.domain.loans import InstitutionCore, Loan, LoanRecorded, LoanRequest, Position
from xborder.domain.money import format_amount, normalise_currency, parse_amount
from xborder.errors import ValidationError

ENUMS = {"InstitutionKind": InstitutionKind, "InstitutionStatus": InstitutionStatus, "LoanStatus": LoanStatus,
         "ConsentSide": ConsentSide, "ReasonCode": ReasonCode, "Parameter": Parameter}


def solidity_enums() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "interfaces").glob("*.sol")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        for name, body in re.findall(r"enum\s+(\w+)\s*\{([^}]*)\}", text):
            found[name] = [member.strip() for member in body.split(",") if member.strip()]
    return found


def test_every_contract_enum_is_defined_once_in_domain_and_matches_the_interfaces() -> None:
    declared = solidity_enums()
    assert set(ENUMS) <= set(declared)
    for name, enum in ENUMS.items():
        assert [m.solidity_name for m in enum] == declared[name], name
        assert all(m.label for m in enum)


def test_parameter_defaults_and_units_follow_the_interface_comments() -> None:
    text = (PROJECT_ROOT / "interfaces" / "IMacroPrudentialPolicy.sol").read_text()
    body = re.search(r"enum\s+Parameter\s*\{([^}]*)\}", text)
    assert body is not None
    lines = [line.strip() for line in body.group(1).splitlines() if re.match(r"\s*\w+,?\s*//", line)]
    assert len(lines) == len(Parameter)
    for parameter, line in zip(Parameter, lines, strict=True):
        default = re.search(r"default (\d+)", line)
        assert default is not None and int(default.group(1)) == parameter.default, line
        assert ("days" in line) == parameter.in_days, line
        assert ("1..65535" in line) == (parameter.minimum == 1), line


def _components(abi: list[dict[str, Any]], kind: str, name: str, where: str) -> list[dict[str, Any]]:
    item = next(i for i in abi if i.get("type") == kind and i.get("name") == name)
    return list(item[where])


def _canonical(entry: dict[str, Any]) -> str:
    if str(entry["type"]).startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in entry["components"]) + ")" + str(entry["type"])[5:]
    return str(entry["type"])


@pytest.fixture(scope="module")
def abis() -> dict[str, list[dict[str, Any]]]:
    return {name: artifact.abi for name, artifact in compile_project(PROJECT_ROOT).items()}


def test_struct_codecs_are_the_abi(abis: dict[str, list[dict[str, Any]]]) -> None:
    ledger, registry = abis["LoanLedger"], abis["InstitutionRegistry"]
    request = _components(ledger, "function", "recordLoan", "inputs")[0]
    assert LoanRequest.abi_type() == _canonical(request)
    assert [n for n, _ in LoanRequest.abi_fields()] == [_snake(c["name"]) for c in request["components"]]
    loan = _components(ledger, "function", "getLoan", "outputs")[0]
    assert Loan.abi_type() == _canonical(loan)
    assert [n for n, _ in Loan.abi_fields()] == [_snake(c["name"]) for c in loan["components"]]
    assert Position.abi_type() == _canonical(_components(ledger, "function", "borrowerPosition", "outputs")[0])
    assert InstitutionCore.abi_type() == _canonical(_components(registry, "function", "institutionCore", "outputs")[0])
    assert _canonical(_components(ledger, "function", "recordLoanWithConsent", "inputs")[3]) == \
        "(uint32,uint64,uint16,uint64,bytes)"
    event = next(i for i in ledger if i.get("type") == "event" and i["name"] == "LoanRecorded")
    assert [_canonical(i) for i in event["inputs"] if not i["indexed"]] == LoanRecorded.TYPES
    assert LoanRecorded.signature() == "LoanRecorded(" + ",".join(_canonical(i) for i in event["inputs"]) + ")"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_request_round_trip() -> None:
    request = LoanRequest(3, 5, "USD", 100_00, parse_date("2025-01-01"), parse_date("2026-01-01"), 1,
                          b"\x01" * 32, b"\x02" * 32)
    assert LoanRequest.decode(request.encode()) == request


# ---------------------------------------------------------------------------- limit arithmetic vs chain

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from xborder.chain import start_anvil

    root = tmp_path_factory.mktemp("domain")
    with start_anvil(log_path=root / "anvil.log") as node:
        yield build_world(node.rpc_url, root / "deployments")


def test_parameter_defaults_and_limits_match_the_contracts(world: World) -> None:
    policy, ledger = world.client.policy.functions, world.client.ledger.functions
    values = list(policy.parameters().call())
    assert values == [p.default for p in Parameter]
    params = {p: int(v) for p, v in zip(Parameter, values, strict=True)}
    for borrower in (BORROWER_X, BORROWER_Y, 1, 2):
        core = world.client.core(borrower)
        assert limits.borrowing_limit(core.kind, core.capital_base, params) == int(ledger.borrowingLimit(borrower).call())


@pytest.mark.parametrize(("currency", "type_id", "short_term"),
                         [("USD", 1, True), ("USD", 1, False), ("CNY", 1, True), ("EUR", 2, False), ("JPY", 4, True),
                          ("EUR", 7, True), ("CNY", 7, False)])
def test_combined_weight_matches_the_policy(world: World, currency: str, type_id: int, short_term: bool) -> None:
    policy = world.client.policy.functions
    params = {p: int(v) for p, v in zip(Parameter, policy.parameters().call(), strict=True)}
    weight, off_balance, _exists = policy.financingType(type_id).call()
    rule = limits.FinancingTypeRule(int(weight), bool(off_balance))
    expected = int(policy.combinedWeight(currency.encode(), type_id, short_term).call())
    assert limits.combined_weight(params, currency, rule, short_term) == expected


@pytest.mark.parametrize(("value", "maturity"), [("2027-03-01", "2028-03-01"), ("2027-03-01", "2028-03-01T00:00:01Z"),
                                                 ("2028-02-29", "2029-02-28"), ("2028-02-29", "2029-03-01"),
                                                 ("2027-02-28", "2028-02-29"), ("2025-12-31", "2026-12-31")])
def test_calendar_year_rule_matches_the_policy(world: World, value: str, maturity: str) -> None:
    v, m = parse_date(value), parse_date(maturity)
    assert is_short_term(v, m) == bool(world.client.policy.functions.isShortTerm(v, m).call())


def test_contribution_matches_the_ledger(world: World) -> None:
    from xborder.services import terms as T

    sealed = T.seal(T.LoanTerms(purpose="domain check"))
    now = world.client.now()
    request = LoanRequest(BORROWER_X, HK_CREDITOR, "USD", 1_234_567_89, now, now + 500 * 86_400, 1, b"\x07" * 32,
                          sealed.terms_hash)
    loan_id = world.service.record(world.wallets[HK_CREDITOR], request, sealed).loan_id
    world.service.confirm(world.wallets[BORROWER_X], loan_id)
    params = {p: int(v) for p, v in zip(Parameter, world.client.policy.functions.parameters().call(), strict=True)}
    rule = limits.FinancingTypeRule(10_000, False)
    expected = 0
    for amount, rate in ((333_333_33, 710_000_000), (100_000_01, 733_333_333)):
        world.client.transact(world.regulator, world.client.policy.functions.setReferenceRate(b"USD", rate), "rate")
        world.service.draw(world.wallets[BORROWER_X], loan_id, amount)
        expected += limits.contribution(amount, rate, limits.combined_weight(params, "USD", rule, False))
    loan = world.service.loan(loan_id)
    on_chain = int(world.client.ledger.functions.loanContribution(loan_id).call())
    assert loan.contribution == on_chain == expected
    world.service.repay(world.wallets[HK_CREDITOR], loan_id, 123_456_78)
    expected = limits.remaining_after_repay(expected, 433_333_34, 123_456_78)
    assert int(world.client.ledger.functions.loanContribution(loan_id).call()) == expected
    assert world.client.position(BORROWER_X).balance >= expected


# ---------------------------------------------------------------------------- parsing rules

def test_amounts_in_iso_4217_minor_units() -> None:
    assert parse_amount("1,250,000.50", currency="USD") == 125_000_050
    assert parse_amount("1000", currency="JPY") == 100_000  # the chain holds 1/100 of every currency
    assert format_amount(100_000, "JPY") == "JPY 1,000" and format_amount(125_000_050, "USD") == "USD 1,250,000.50"
    with pytest.raises(ValidationError, match="JPY has no minor unit"):
        parse_amount("1000.5", "principal", currency="JPY")
    with pytest.raises(ValidationError, match="more than 2 decimals"):
        parse_amount("1.005", currency="KWD")  # three decimals in ISO 4217, two on chain
    for bad in ("1e3", "1E3", "2.5e-1"):
        with pytest.raises(ValidationError, match="exponent"):
            parse_amount(bad)
    for bad in ("NaN", "inf", "0x10", "1.2.3", ""):
        with pytest.raises(ValidationError, match="not a number"):
            parse_amount(bad)


def test_one_currency_rule() -> None:
    assert normalise_currency(" usd ") == "USD"
    for bad in ("US", "USDT", "U1D", ""):
        with pytest.raises(ValidationError, match="ISO 4217"):
            normalise_currency(bad)


def test_dates_floor_ceiling_and_calendar_year() -> None:
    assert format_date(parse_date("2025-03-31")) == "2025-03-31"
    for bad in ("1970-01-01", "1970-06-01", "1999-12-31", "2106-02-08"):
        with pytest.raises(ValidationError, match="from 2000-01-01 to 2106-02-07"):
            parse_date(bad)
    assert format_date(add_calendar_year(parse_date("2028-02-29"))) == "2029-02-28"
    assert is_short_term(parse_date("2027-03-01"), parse_date("2028-03-01"))  # 366 days, one calendar year
    assert not is_short_term(parse_date("2027-03-01"), parse_date("2028-03-01") + 1)


def test_policy_calendar() -> None:
    assert calendar.in_force(Parameter.ADJUSTMENT_ENTERPRISE, dt.date(2019, 7, 1)) == 10_000
    assert calendar.in_force(Parameter.ADJUSTMENT_ENTERPRISE, dt.date(2020, 3, 11)) == 12_500
    assert calendar.in_force(Parameter.ADJUSTMENT_FINANCIAL, dt.date(2020, 12, 11)) == 10_000
    assert calendar.in_force(Parameter.ADJUSTMENT_ENTERPRISE, dt.date(2020, 12, 11)) == 12_500
    assert calendar.in_force(Parameter.ADJUSTMENT_ENTERPRISE, dt.date(2021, 1, 7)) == 10_000
    assert calendar.in_force(Parameter.ADJUSTMENT_ENTERPRISE, dt.date(2025, 1, 13)) == 17_500
    assert all(change.source for change in calendar.POLICY_CALENDAR)
    between = calendar.changes_between(dt.date(2019, 3, 1), dt.date(2022, 2, 28))
    assert [c.effective.isoformat() for c in between] == ["2020-03-11", "2020-03-11", "2020-12-11", "2021-01-07"]
