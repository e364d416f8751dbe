import pytest
from brownie import MacroPrudentialPolicy, ZERO_ADDRESS, chain
from eth_utils import keccak

import model
from conftest import DAY, RATES, reverts, reverts_at_a_block_time

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
P = model.PARAM_INDEX


def test_defaults(policy):
    assert list(policy.parameters()) == [v for _, v in model.PARAMETERS]
    for i, (_, v) in enumerate(model.PARAMETERS):
        assert policy.parameter(i) == v
    for type_id, (_, weight, off) in model.FINANCING_TYPES.items():
        assert list(policy.financingType(type_id)) == [weight, off, True]
    assert policy.financingType(0)["exists"] is False
    assert list(policy.referenceRate(b"CNY")) == [10**8, 0]


def test_constructor_emits_every_parameter(regulator):
    """The index rebuilds the policy from events alone: one ParameterUpdated(p, 0, default) each."""
    p = MacroPrudentialPolicy.deploy(regulator, {"from": regulator})
    events = p.tx.events["ParameterUpdated"]
    assert [(e["parameter"], e["oldValue"], e["newValue"]) for e in events] == [
        (i, 0, v) for i, (_, v) in enumerate(model.PARAMETERS)]
    assert len(p.tx.events["FinancingTypeSet"]) == len(model.FINANCING_TYPES)


def test_constructor_zero_admin(regulator):
    with reverts("ZeroAddress"):
        MacroPrudentialPolicy.deploy(ZERO_ADDRESS, {"from": regulator})


@pytest.mark.parametrize("index", range(len(model.PARAMETERS)))
def test_set_parameter(policy, regulator, index):
    name, old = model.PARAMETERS[index]
    tx = policy.setParameter(index, 12345, {"from": regulator})
    assert tx.events["ParameterUpdated"] == {"parameter": index, "oldValue": old, "newValue": 12345}
    assert policy.parameter(index) == 12345
    # the other parameters are untouched (one packed slot)
    for j, (_, v) in enumerate(model.PARAMETERS):
        if j != index:
            assert policy.parameter(j) == v


@pytest.mark.parametrize("index", range(len(model.PARAMETERS)))
def test_set_parameter_out_of_range(policy, regulator, index):
    with reverts("ParameterOutOfRange", index, 2**16):
        policy.setParameter(index, 2**16, {"from": regulator})
    name = model.PARAMETERS[index][0]
    if name in model.AT_LEAST_ONE:
        with reverts("ParameterOutOfRange", index, 0):
            policy.setParameter(index, 0, {"from": regulator})
    else:
        policy.setParameter(index, 0, {"from": regulator})
    policy.setParameter(index, 2**16 - 1, {"from": regulator})


def test_reference_rates(policy, regulator):
    rate, at = policy.referenceRate(b"USD")
    assert rate == RATES[b"USD"] and at > 0
    tx = policy.setReferenceRate(b"USD", 720_000_000, {"from": regulator})
    ev = tx.events["ReferenceRateUpdated"]
    assert ev["currency"] == "0x" + b"USD".hex() and ev["oldRate"] == RATES[b"USD"] and ev["newRate"] == 720_000_000
    assert ev["updatedAt"] == policy.referenceRate(b"USD")[1]
    policy.setReferenceRate(b"CHF", 800_000_000, {"from": regulator})
    assert policy.referenceRate(b"CHF")[0] == 800_000_000
    policy.setReferenceRate(b"CHF", 0, {"from": regulator})  # removal
    with reverts("UnknownCurrency", b"CHF"):
        policy.referenceRate(b"CHF")


@pytest.mark.parametrize("currency", [b"CNY", b"usd", b"US1", b"\x00\x00\x00"])
def test_invalid_currency(policy, regulator, currency):
    with reverts("InvalidCurrency", currency):
        policy.setReferenceRate(currency, 1, {"from": regulator})


def test_batch_rates(policy, regulator):
    tx = policy.setReferenceRates([b"AUD", b"CAD"], [460_000_000, 520_000_000], {"from": regulator})
    assert len(tx.events["ReferenceRateUpdated"]) == 2
    with reverts("LengthMismatch", 2, 1):
        policy.setReferenceRates([b"AUD", b"CAD"], [1], {"from": regulator})


def test_financing_types(policy, regulator):
    tx = policy.setFinancingType(8, "SYNDICATED_LOAN_SHARE", 5000, False, {"from": regulator})
    assert tx.events["FinancingTypeSet"] == {"typeId": 8, "name": "SYNDICATED_LOAN_SHARE", "oldWeightBps": 0,
                                            "newWeightBps": 5000, "oldOffBalance": False, "newOffBalance": False}
    tx = policy.setFinancingType(7, "DOMESTIC_GUARANTEE_OVERSEAS_LOAN", 3000, True, {"from": regulator})
    assert tx.events["FinancingTypeSet"]["oldWeightBps"] == 2000
    tx = policy.removeFinancingType(8, {"from": regulator})
    assert tx.events["FinancingTypeRemoved"] == {"typeId": 8, "oldWeightBps": 5000, "oldOffBalance": False}
    with reverts("UnknownFinancingType", 8):
        policy.removeFinancingType(8, {"from": regulator})
    with reverts("UnknownFinancingType", 0):
        policy.setFinancingType(0, "X", 1, False, {"from": regulator})
    with reverts("UnknownFinancingType", 8):
        policy.combinedWeight(b"USD", 8, True)


@pytest.mark.parametrize("fn,args", [
    ("setParameter", (0, 1)),
    ("setReferenceRate", (b"USD", 1)),
    ("setReferenceRates", ([b"USD"], [1])),
    ("setFinancingType", (9, "X", 1, False)),
    ("removeFinancingType", (1,)),
])
def test_regulator_only(policy, stranger, bank, fn, args):
    for who in (stranger, bank):
        with reverts("AccessControlUnauthorizedAccount", who.address, REGULATOR_ROLE):
            getattr(policy, fn)(*args, {"from": who})


@pytest.mark.parametrize("currency", [b"CNY", b"USD", b"JPY"])
@pytest.mark.parametrize("type_id", list(model.FINANCING_TYPES))
@pytest.mark.parametrize("short_term", [True, False])
def test_combined_weight_matrix(policy, model_policy, currency, type_id, short_term):
    assert policy.combinedWeight(currency, type_id, short_term) == model_policy.weight(currency, type_id, short_term)


def test_weight_examples(policy):
    assert policy.combinedWeight(b"CNY", 1, True) == 15000  # short-term on-balance
    assert policy.combinedWeight(b"CNY", 1, False) == 10000
    assert policy.combinedWeight(b"USD", 1, False) == 15000  # + FX 0.5
    assert policy.combinedWeight(b"USD", 1, True) == 20000
    assert policy.combinedWeight(b"USD", 7, False) == 2000 + 5000  # 20% + FX
    assert policy.combinedWeight(b"USD", 4, True) == 0  # trade credit excluded, even in FX


def test_weight_rounds_up(policy, regulator):
    policy.setParameter(P["TermFactorLong"], 10001, {"from": regulator})
    # 10001 * 10000 * 2000 / 1e8 = 2000.2 -> 2001
    assert policy.combinedWeight(b"CNY", 7, False) == 2001


@pytest.mark.parametrize("kind,leverage,adjustment", [
    (model.DOMESTIC_BANK, 8000, 17500),
    (model.FOREIGN_BANK_BRANCH, 8000, 17500),
    (model.NON_BANK, 10000, 17500),
    (model.ENTERPRISE, 20000, 17500),
    (model.FOREIGN_CREDITOR, 0, 0),
    (model.OBSERVER, 0, 0),
])
def test_limit_factors(policy, kind, leverage, adjustment):
    assert list(policy.limitFactors(kind)) == [leverage, adjustment]
    assert policy.borrowingLimit(kind, 10_000_000_00) == 10_000_000_00 * leverage * adjustment // 10**8


def test_separate_adjustment_parameters(policy, regulator):
    policy.setParameter(P["AdjustmentEnterprise"], 15000, {"from": regulator})
    assert list(policy.limitFactors(model.ENTERPRISE)) == [20000, 15000]
    assert list(policy.limitFactors(model.DOMESTIC_BANK)) == [8000, 17500]


# ---------------------------------------------------------------- calendar-year term class

U = model.utc


@pytest.mark.parametrize("value,maturity,short", [
    (U(2027, 3, 1), U(2028, 3, 1), True),  # 366 days spanning 29 Feb 2028: one calendar year
    (U(2027, 3, 1), U(2028, 3, 1, 0, 0, 1), False),  # one second more
    (U(2026, 11, 29, 9, 30), U(2027, 11, 29, 9, 30), True),  # same time of day
    (U(2026, 11, 29, 9, 30), U(2027, 11, 29, 9, 30, 1), False),
    (U(2028, 2, 29), U(2029, 2, 28), True),  # 29 Feb + 1 year = 28 Feb
    (U(2028, 2, 29), U(2029, 3, 1), False),
    (U(2028, 2, 28), U(2029, 2, 28), True),
    (U(2027, 2, 28), U(2028, 2, 28), True),
    (U(2027, 2, 28), U(2028, 2, 29), False),  # 365 days, but past the calendar year
    (U(2099, 12, 31, 23, 59, 59), U(2100, 12, 31, 23, 59, 59), True),  # 2100 is not a leap year
    (U(1970, 1, 1), U(1971, 1, 1), True),
    (U(2105, 6, 1), U(2106, 2, 7), True),  # near the end of uint32 time
])
def test_is_short_term(policy, value, maturity, short):
    assert model.is_short_term(value, maturity) is short
    assert policy.isShortTerm(value, maturity) is short


def test_is_short_term_matches_model_every_day_of_a_leap_cycle(policy):
    """One value date per 7 days over 4 years (a full leap cycle incl. 29 Feb), boundary +0 / +1 s."""
    start = U(2027, 1, 1, 13, 7, 5)
    for value in range(start, start + 4 * 366 * DAY, 7 * DAY):
        edge = model.add_one_year(value)
        assert policy.isShortTerm(value, edge) is True
        assert policy.isShortTerm(value, edge + 1) is False


# ---------------------------------------------------------------- quotes and date windows


def test_record_quote(policy, model_policy):
    now = chain.time()
    value = now // DAY * DAY
    q = policy.recordQuote(b"JPY", 1, value, value + 400 * DAY, model.ENTERPRISE, 10_000_000_00)
    assert q["shortTerm"] is False and q["rate"] == RATES[b"JPY"] and q["weightBps"] == 15000
    assert q["limit"] == model_policy.limit(model.ENTERPRISE, 10_000_000_00)
    assert abs(q["confirmBy"] - (now + 30 * DAY)) <= 600  # the view's block time, not the wall clock
    q = policy.recordQuote(b"USD", 1, value, value + 100 * DAY, model.NON_BANK, 1)
    assert q["shortTerm"] is True and q["weightBps"] == 20000 and q["limit"] == 1 * 10000 * 17500 // 10**8
    with reverts("UnknownCurrency", b"XXX"):
        policy.recordQuote(b"XXX", 1, value, value + DAY * 2, model.ENTERPRISE, 1)
    with reverts("UnknownFinancingType", 99):
        policy.recordQuote(b"USD", 99, value, value + DAY * 2, model.ENTERPRISE, 1)


def test_date_windows(policy, regulator):
    """valueDate in [now - 30 d, now + 366 d]; maturity in (max(now, valueDate), valueDate + 10958 d]."""
    policy.setParameter(P["ValueDateMaxPastDays"], 30, {"from": regulator})
    chain.mine()
    now = chain.time()
    ok = now + 2 * DAY
    # the view runs on a pending block whose timestamp is >= now: compute bounds from the revert
    for value in (now - 31 * DAY, now + 367 * DAY):
        with reverts_at_a_block_time("ValueDateOutOfRange", lambda t: (value, t - 30 * DAY, t + 366 * DAY)):
            policy.recordQuote(b"USD", 1, value, value + DAY, model.ENTERPRISE, 1)
    value = now - DAY
    latest = value + 10958 * DAY
    with reverts_at_a_block_time("MaturityDateOutOfRange", lambda t: (now - 10, t + 1, latest)):
        policy.recordQuote(b"USD", 1, value, now - 10, model.ENTERPRISE, 1)  # matured already
    with reverts_at_a_block_time("MaturityDateOutOfRange", lambda t: (latest + 1, t + 1, latest)):
        policy.recordQuote(b"USD", 1, value, latest + 1, model.ENTERPRISE, 1)
    future = now + 100 * DAY
    with reverts("MaturityDateOutOfRange", future, future + 1, future + 10958 * DAY):
        policy.recordQuote(b"USD", 1, future, future, model.ENTERPRISE, 1)  # maturity must be after the value date
    assert policy.recordQuote(b"USD", 1, value, latest, model.ENTERPRISE, 1)["shortTerm"] is False
    assert policy.recordQuote(b"USD", 1, ok, ok + DAY, model.ENTERPRISE, 1)["shortTerm"] is True
    # the regulator narrows the window: takes effect at once
    policy.setParameter(P["MaxTermDays"], 365, {"from": regulator})
    with reverts("MaturityDateOutOfRange", ok + 366 * DAY, ok + 1, ok + 365 * DAY):
        policy.recordQuote(b"USD", 1, ok, ok + 366 * DAY, model.ENTERPRISE, 1)


def test_extension_term(policy):
    now = chain.time()
    value = now // DAY * DAY
    assert policy.extensionTerm(value, value + 300 * DAY) is True
    assert policy.extensionTerm(value, model.add_one_year(value) + 1) is False
    with reverts_at_a_block_time("MaturityDateOutOfRange", lambda t: (value + 10959 * DAY, t + 1, value + 10958 * DAY)):
        policy.extensionTerm(value, value + 10959 * DAY)


def _quote_words(currency, type_id, short_term, kind, capital):
    return (model.loan_header(3, 5, 5, currency, type_id, model.ACTIVE, True, True, short_term),
            model.institution_core("0x" + "11" * 20, kind, model.ST_ACTIVE, capital))


def test_drawdown_quote(policy, model_policy):
    rate, weight, limit = policy.drawdownQuote(*_quote_words(b"EUR", 2, True, model.FOREIGN_BANK_BRANCH, 5_000_00))
    assert (rate, weight, limit) == (RATES[b"EUR"], model_policy.weight(b"EUR", 2, True),
                                     model_policy.limit(model.FOREIGN_BANK_BRANCH, 5_000_00))
    assert list(policy.drawdownQuote(*_quote_words(b"CNY", 4, False, model.ENTERPRISE, 1))) == [10**8, 0, 3]
    assert list(policy.drawdownQuote(*_quote_words(b"USD", 1, False, model.FOREIGN_CREDITOR, 10**9)))[2] == 0
    with reverts("UnknownCurrency", b"XXX"):
        policy.drawdownQuote(*_quote_words(b"XXX", 1, True, model.ENTERPRISE, 1))
    with reverts("UnknownFinancingType", 99):
        policy.drawdownQuote(*_quote_words(b"USD", 99, True, model.ENTERPRISE, 1))
