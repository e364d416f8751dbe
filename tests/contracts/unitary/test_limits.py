"""Worked limit examples, checked to the unit, and what a policy change does to drawn amounts."""
import pytest

import model
from conftest import CAPITAL, KIND, LONG_DAYS, RATES, SHORT_DAYS, TERMS, make_request, reverts

PARAM = model.PARAM_INDEX


def open_loan(ledger, creditor, wallet, ids, role, principal, currency=b"CNY", term_days=LONG_DAYS, financing_type=1):
    """Recorded by the borrower (foreign creditor as creditor), confirmed by the creditor."""
    req = make_request(ids[role], ids["creditor"], currency=currency, principal=principal,
                       term_days=term_days, financing_type=financing_type)
    lid = ledger.recordLoan(req, TERMS, {"from": wallet}).return_value
    ledger.confirmLoan(lid, {"from": creditor})
    return lid


@pytest.mark.parametrize("role", ["enterprise", "bank", "bank2", "nbfi"])
def test_exactly_at_limit_fits_one_more_unit_does_not(xb, ledger, bank, bank2, enterprise, nbfi, creditor, ids, role, model_policy):
    wallet = {"enterprise": enterprise, "bank": bank, "bank2": bank2, "nbfi": nbfi}[role]
    limit = model_policy.limit(KIND[role], CAPITAL[role])
    assert ledger.borrowingLimit(ids[role]) == limit
    # CNY, > 1 year, ordinary loan: weight exactly 1.0, so the limit is reachable to the unit
    lid = open_loan(ledger, creditor, wallet, ids, role, limit + 1)
    assert list(ledger.previewDrawdown(lid, limit + 1)) == [limit + 1, limit, False]
    with reverts("BorrowingLimitExceeded", ids[role], limit + 1, limit):
        ledger.drawdown(lid, limit + 1, {"from": wallet})
    tx = ledger.drawdown(lid, limit, {"from": wallet})
    assert tx.events["LoanDrawn"]["borrowerBalance"] == limit
    assert ledger.headroom(ids[role]) == 0
    with reverts("BorrowingLimitExceeded", ids[role], limit + 1, limit):
        ledger.drawdown(lid, 1, {"from": wallet})


def test_worked_example_enterprise_usd_short_term(xb, ledger, creditor, enterprise, ids, model_policy):
    """Enterprise, capital 10 m CNY: limit = 10 m x 2 x 1.75 = 35 m CNY.
    USD 6-month loan: weight = 1.5 (term) x 1.0 (type) + 0.5 (FX) = 2.0.
    Drawing X cents of USD adds ceil(ceil(X x 7.10) x 2.0)."""
    e = ids["enterprise"]
    limit = 35_000_000_00
    rate = RATES[b"USD"]
    assert model_policy.weight(b"USD", 1, True) == 20000
    # largest X with contribution <= limit: 35e8 / 2 / 7.1 = 246,478,873.2 cents
    x = 246_478_873
    assert model.contribution(x, rate, 20000) <= limit < model.contribution(x + 1, rate, 20000)
    lid = open_loan(ledger, creditor, enterprise, ids, "enterprise", 300_000_000, currency=b"USD", term_days=SHORT_DAYS)
    expected = model.contribution(x + 1, rate, 20000)  # ceil(246,478,874 x 7.1) = 1,750,000,006; x 2
    assert expected == 3_500_000_012
    with reverts("BorrowingLimitExceeded", e, expected, limit):
        ledger.drawdown(lid, x + 1, {"from": enterprise})
    ledger.drawdown(lid, x, {"from": enterprise})
    assert ledger.riskWeightedBalance(e) == model.contribution(x, rate, 20000) == 3_499_999_998  # ceil(246,478,873 x 7.1) = 1,749,999,999; x 2


def test_excluded_types_do_not_count(xb, ledger, creditor, enterprise, ids):
    for type_id in (3, 4, 5, 6):
        lid = open_loan(ledger, creditor, enterprise, ids, "enterprise", 10**12, currency=b"USD", financing_type=type_id)
        ledger.drawdown(lid, 10**12, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 0


def test_domestic_guarantee_overseas_loan_counts_20_percent(xb, ledger, creditor, enterprise, ids):
    lid = open_loan(ledger, creditor, enterprise, ids, "enterprise", 1_000_000_00, currency=b"CNY", financing_type=7)
    ledger.drawdown(lid, 1_000_000_00, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 200_000_00


def test_jpy_rate_per_one_yen(xb, ledger, creditor, enterprise, ids):
    # 100,000,000 JPY = 1e10 minor units at 0.047 CNY/JPY = 4,700,000 CNY, weight 1.5 (long + FX)
    lid = open_loan(ledger, creditor, enterprise, ids, "enterprise", 10**10, currency=b"JPY")
    ledger.drawdown(lid, 10**10, {"from": enterprise})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 4_700_000_00 * 15000 // 10000


def test_policy_change_keeps_drawn_contribution(xb, ledger, policy, registry, regulator, creditor, enterprise, ids):
    """A tightening never re-weights what is drawn; it applies to every later drawdown. An extension
    changes nothing that is drawn, so it needs no limit check; repayments lower the balance pro rata."""
    e = ids["enterprise"]
    lid = open_loan(ledger, creditor, enterprise, ids, "enterprise", 40_000_000_00)
    ledger.drawdown(lid, 30_000_000_00, {"from": enterprise})
    # history: 1.75 -> 1.25 ; also make long-term weights heavier
    policy.setParameter(PARAM["AdjustmentEnterprise"], 12500, {"from": regulator})
    policy.setParameter(PARAM["TermFactorLong"], 15000, {"from": regulator})
    new_limit = 10_000_000_00 * 20000 * 12500 // 10**8
    assert ledger.borrowingLimit(e) == new_limit == 25_000_000_00
    # what is drawn keeps its contribution
    loan = ledger.getLoan(lid)
    assert loan["contribution"] == 30_000_000_00 and loan["outstanding"] == 30_000_000_00
    assert ledger.riskWeightedBalance(e) == 30_000_000_00
    assert ledger.headroom(e) == 0
    # a new drawdown weighs 1.5 now (2 fen for 1 fen) and is refused; an extension changes nothing
    with reverts("BorrowingLimitExceeded", e, 30_000_000_02, new_limit):
        ledger.drawdown(lid, 1, {"from": enterprise})
    tx = ledger.extendMaturity(lid, loan["maturityDate"] + 86400, {"from": creditor})
    assert tx.events["LoanExtended"]["borrowerBalance"] == 30_000_000_00
    tx = ledger.repay(lid, 5_000_000_00, {"from": creditor})
    assert tx.events["LoanRepaid"]["contributionRemoved"] == 5_000_000_00
    assert ledger.riskWeightedBalance(e) == new_limit
    # capital base changes take effect at once too
    registry.setCapitalBase(e, 20_000_000_00, {"from": regulator})
    assert ledger.borrowingLimit(e) == 50_000_000_00
    tx = ledger.drawdown(lid, 1, {"from": enterprise})
    assert tx.events["LoanDrawn"]["contributionAdded"] == 2 and tx.events["LoanDrawn"]["weightBps"] == 15000
