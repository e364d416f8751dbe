"""Issue #10 item 4: FX rate and weight frozen at recording; drawdown after maturity."""
from brownie import chain

import model
from conftest import DAY, RATES, TERMS, make_request, reverts, reverts_at_a_block_time, today

USD = RATES[b"USD"]


def test_stale_rate_drawn_after_revaluation(xb, ledger, policy, regulator, bank, enterprise, ids, record_active):
    """A facility recorded before the currency moves converts at the drawdown date's rate."""
    e = ids["enterprise"]
    limit = ledger.borrowingLimit(e)
    principal = limit * 10**8 // USD // 15000 * 10000  # fits at 7.10 x 1.5
    lid, _, _ = record_active(draw=0, principal=principal)
    policy.setReferenceRate(b"USD", 2 * USD, {"from": regulator})
    after = model.contribution(principal, 2 * USD, 15000)
    assert after > limit >= model.contribution(principal, USD, 15000)
    with reverts("BorrowingLimitExceeded", e, after, limit):
        ledger.drawdown(lid, principal, {"from": enterprise})


def test_old_facility_drawn_after_tightening(xb, ledger, policy, regulator, bank, enterprise, ids, record_active):
    """The review drew 3x the current limit through facilities recorded before a tightening."""
    e = ids["enterprise"]
    facilities = [record_active(draw=0, currency=b"CNY", principal=35_000_000_00)[0] for _ in range(3)]
    policy.setParameter(model.PARAM_INDEX["AdjustmentEnterprise"], 5000, {"from": regulator})  # 1.75 -> 0.5
    policy.setParameter(model.PARAM_INDEX["TermFactorLong"], 20000, {"from": regulator})  # weight 1.0 -> 2.0
    limit = 10_000_000_00 * 20000 * 5000 // 10**8
    assert ledger.borrowingLimit(e) == limit == 10_000_000_00
    ledger.drawdown(facilities[0], limit // 2, {"from": enterprise})  # weighs 2.0 now
    assert ledger.riskWeightedBalance(e) == limit
    with reverts("BorrowingLimitExceeded", e, limit + 2, limit):
        ledger.drawdown(facilities[1], 1, {"from": enterprise})


def test_drawdown_after_maturity(xb, ledger, bank, enterprise, ids, record_active):
    lid, req, _ = record_active(draw=0, term_days=2)
    chain.sleep(2 * DAY + 3600)
    chain.mine()
    for wallet in (bank, enterprise):
        with reverts("LoanMatured", lid, req[5]):
            ledger.drawdown(lid, 1, {"from": wallet})


def test_recording_an_already_matured_loan(xb, ledger, bank, enterprise, ids):
    """Dates are checked against block time: a back-dated loan whose maturity has passed is refused."""
    value = today() - 20 * DAY
    req = make_request(ids["enterprise"], ids["bank"], value_date=value, maturity_date=value + 10 * DAY)
    # maturity must be after max(now, valueDate) = now: earliest = the block time + 1
    with reverts_at_a_block_time("MaturityDateOutOfRange", lambda t: (value + 10 * DAY, t + 1, value + 10958 * DAY)):
        ledger.recordLoan(req, TERMS, {"from": bank})


def test_value_date_outside_the_window(xb, ledger, bank, ids):
    far = today() + 400 * DAY
    with reverts_at_a_block_time("ValueDateOutOfRange", lambda t: (far, t - 30 * DAY, t + 366 * DAY)):
        ledger.recordLoan(make_request(ids["enterprise"], ids["bank"], value_date=far), TERMS, {"from": bank})
