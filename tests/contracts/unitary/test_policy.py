import pytest
from eth_utils import keccak

import model
from conftest import RATES, reverts

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")


def test_defaults(policy):
    assert list(policy.parameters()) == [v for _, v in model.PARAMETERS]
    for i, (_, v) in enumerate(model.PARAMETERS):
        assert policy.parameter(i) == v
    for type_id, (_, weight, off) in model.FINANCING_TYPES.items():
        assert list(policy.financingType(type_id)) == [weight, off, True]
    assert policy.financingType(0)["exists"] is False
    assert list(policy.referenceRate(b"CNY")) == [10**8, 0]


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
    too_big = 2**32 if index == model.PARAM_INDEX["OneYearSeconds"] else 2**16
    with reverts("ParameterOutOfRange", index, too_big):
        policy.setParameter(index, too_big, {"from": regulator})


def test_one_year_cannot_be_zero(policy, regulator):
    with reverts("ParameterOutOfRange", model.PARAM_INDEX["OneYearSeconds"], 0):
        policy.setParameter(model.PARAM_INDEX["OneYearSeconds"], 0, {"from": regulator})


def test_reference_rates(policy, regulator, chain):
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
        policy.combinedWeight(b"USD", 8, 1)


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
@pytest.mark.parametrize("term", [1, model.ONE_YEAR, model.ONE_YEAR + 1, 10 * model.ONE_YEAR])
def test_combined_weight_matrix(policy, model_policy, currency, type_id, term):
    assert policy.combinedWeight(currency, type_id, term) == model_policy.weight(currency, type_id, term)


def test_weight_examples(policy):
    one_year = model.ONE_YEAR
    assert policy.combinedWeight(b"CNY", 1, one_year) == 15000  # short-term on-balance
    assert policy.combinedWeight(b"CNY", 1, one_year + 1) == 10000
    assert policy.combinedWeight(b"USD", 1, one_year + 1) == 15000  # + FX 0.5
    assert policy.combinedWeight(b"USD", 1, one_year) == 20000
    assert policy.combinedWeight(b"USD", 7, one_year + 1) == 2000 + 5000  # 20% + FX
    assert policy.combinedWeight(b"USD", 4, one_year) == 0  # trade credit excluded, even in FX


def test_weight_rounds_up(policy, regulator):
    policy.setParameter(model.PARAM_INDEX["TermFactorLong"], 10001, {"from": regulator})
    # 10001 * 10000 * 2000 / 1e8 = 2000.2 -> 2001
    assert policy.combinedWeight(b"CNY", 7, 2 * model.ONE_YEAR) == 2001


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
    policy.setParameter(model.PARAM_INDEX["AdjustmentEnterprise"], 15000, {"from": regulator})
    assert list(policy.limitFactors(model.ENTERPRISE)) == [20000, 15000]
    assert list(policy.limitFactors(model.DOMESTIC_BANK)) == [8000, 17500]


def test_quote(policy):
    q = policy.quote(b"JPY", 1, 400 * 86400, model.ENTERPRISE)
    assert list(q) == [RATES[b"JPY"], 15000, 20000, 17500]
    with reverts("UnknownCurrency", b"XXX"):
        policy.quote(b"XXX", 1, 1, model.ENTERPRISE)
    with reverts("UnknownFinancingType", 99):
        policy.quote(b"USD", 99, 1, model.ENTERPRISE)
