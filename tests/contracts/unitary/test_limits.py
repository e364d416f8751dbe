"""Worked limit examples, checked to the unit, and grandfathering."""
import pytest

import model
from conftest import CAPITAL, KIND, RATES, TERMS, make_request, reverts

PARAM = model.PARAM_INDEX


def open_loan(ledger, bank, wallet, ids, role, principal, currency=b"CNY", term_days=730, financing_type=1):
    """Record via the domestic bank (creditor: the foreign creditor), confirm by the borrower."""
    req = make_request(ids[role], ids["creditor"], currency=currency, principal=principal,
                       term_days=term_days, financing_type=financing_type)
    lid = ledger.recordLoan(req, TERMS, {"from": bank}).return_value
    ledger.confirmLoan(lid, {"from": wallet})
    return lid


@pytest.mark.parametrize("role", ["enterprise", "bank", "bank2", "nbfi"])
def test_exactly_at_limit_fits_one_more_unit_does_not(xb, ledger, bank, bank2, enterprise, nbfi, ids, role, model_policy):
    wallet = {"enterprise": enterprise, "bank": bank, "bank2": bank2, "nbfi": nbfi}[role]
    limit = model_policy.limit(KIND[role], CAPITAL[role])
    assert ledger.borrowingLimit(ids[role]) == limit
    # CNY, > 1 year, ordinary loan: weight exactly 1.0, so the limit is reachable to the unit
    lid = open_loan(ledger, bank, wallet, ids, role, limit + 1)
    assert list(ledger.previewDrawdown(lid, limit + 1)) == [limit + 1, limit, False]
    with reverts("BorrowingLimitExceeded", ids[role], limit + 1, limit):
        ledger.drawdown(lid, limit + 1, {"from": wallet})
    tx = ledger.drawdown(lid, limit, {"from": wallet})
    assert tx.events["LoanDrawn"]["borrowerBalance"] == limit
    assert ledger.headroom(ids[role]) == 0
    with reverts("BorrowingLimitExceeded", ids[role], limit + 1, limit):
        ledger.drawdown(lid, 1, {"from": wallet})


def test_worked_example_enterprise_usd_short_term(xb, ledger, bank, enterprise, ids, model_policy):
    """Enterprise, capital 10 m CNY: limit = 10 m x 2 x 1.75 = 35 m CNY.
    USD 6-month loan: weight = 1.5 (term) x 1.0 (type) + 0.5 (FX) = 2.0.
    Drawing X cents of USD adds ceil(ceil(X x 7.10) x 2.0)."""
    e = ids["enterprise"]
    limit = 35_000_000_00
    rate = RATES[b"USD"]
    assert model_policy.weight(b"USD", 1, 180 * 86400) == 20000
    # largest X with contribution <= limit: 35e8 / 2 / 7.1 = 246,478,873.2 cents
    x = 246_478_873
    assert model.contribution(x, rate, 20000) <= limit < model.contribution(x + 1, rate, 20000)
    lid = open_loan(ledger, bank, enterprise, ids, "enterprise", 300_000_000, currency=b"USD", term_days=180)
    expected = model.contribution(x + 1, rate, 20000)  # ceil(246,478,874 x 7.1) = 1,750,000,006; x 2
    assert expected == 3_500_000_012
    with reverts("BorrowingLimitExceeded", e, expected, limit):
        ledger.drawdown(lid, x + 1, {"from": enterprise})
    ledger.drawdown(lid, x, {"from": enterprise})
    assert ledger.riskWeightedBalance(e) == model.contribution(x, rate, 20000) == 3_499_999_998  # ceil(246,478,873 x 7.1) = 1,749,999,999; x 2


def test_excluded_types_do_not_count(xb, ledger, bank, enterprise, ids):
    for type_id in (3, 4, 5, 6):
        lid = open_loan(ledger, bank, enterprise, ids, "enterprise", 10**12, currency=b"USD", financing_type=type_id)
        ledger.drawdown(lid, 10**12, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 0


def test_domestic_guarantee_overseas_loan_counts_20_percent(xb, ledger, bank, enterprise, ids):
    lid = open_loan(ledger, bank, enterprise, ids, "enterprise", 1_000_000_00, currency=b"CNY", financing_type=7)
    ledger.drawdown(lid, 1_000_000_00, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 200_000_00


def test_jpy_rate_per_one_yen(xb, ledger, bank, enterprise, ids):
    # 100,000,000 JPY = 1e10 minor units at 0.047 CNY/JPY = 4,700,000 CNY, weight 1.5 (long + FX)
    lid = open_loan(ledger, bank, enterprise, ids, "enterprise", 10**10, currency=b"JPY")
    ledger.drawdown(lid, 10**10, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 4_700_000_00 * 15000 // 10000


def test_grandfathering(xb, ledger, policy, registry, regulator, bank, enterprise, ids):
    e = ids["enterprise"]
    lid = open_loan(ledger, bank, enterprise, ids, "enterprise", 40_000_000_00)
    ledger.drawdown(lid, 30_000_000_00, {"from": enterprise})
    # history: 1.75 -> 1.25 ; also make short-term weights heavier
    policy.setParameter(PARAM["AdjustmentEnterprise"], 12500, {"from": regulator})
    policy.setParameter(PARAM["TermFactorLong"], 15000, {"from": regulator})
    new_limit = 10_000_000_00 * 20000 * 12500 // 10**8
    assert ledger.borrowingLimit(e) == new_limit == 25_000_000_00
    # existing loan untouched
    loan = ledger.getLoan(lid)
    assert loan["weightBps"] == 10000 and loan["outstanding"] == 30_000_000_00
    assert ledger.riskWeightedBalance(e) == 30_000_000_00
    assert ledger.headroom(e) == 0
    # new drawdown refused, extension refused (re-derived weight 1.5), repayment allowed
    with reverts("BorrowingLimitExceeded", e, 30_000_000_01, new_limit):
        ledger.drawdown(lid, 1, {"from": enterprise})
    with reverts("BorrowingLimitExceeded", e, 45_000_000_00, new_limit):
        ledger.extendMaturity(lid, loan["maturityDate"] + 86400, {"from": bank})
    ledger.repay(lid, 5_000_000_00, {"from": enterprise})
    assert ledger.riskWeightedBalance(e) == new_limit
    # capital base changes take effect at once too
    registry.setCapitalBase(e, 20_000_000_00, {"from": regulator})
    assert ledger.borrowingLimit(e) == 50_000_000_00
    ledger.drawdown(lid, 1, {"from": enterprise})
