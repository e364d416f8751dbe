"""Issue #10 item 7: the term class is under the parties' control."""
import datetime as dt

from brownie import chain

import model
from conftest import DAY, RATES, SHORT_DAYS, TERMS, make_request, reverts, sign_extension

USD = RATES[b"USD"]
U = model.utc


def _next_year_before_a_leap_year():
    """The first March 1st of a year Y, still ahead on the chain, such that Y + 1 is a leap year."""
    year = dt.datetime.fromtimestamp(chain.time(), dt.timezone.utc).year
    while not (U(year, 3, 1) > chain.time() + DAY and (year + 1) % 4 == 0):
        year += 1
    return year


def test_extension_past_a_year_frees_headroom(xb, ledger, bank, enterprise, ids, record_active):
    """A 1-second extension past one year used to cut the weight from 2.0 to 1.5 on what is drawn.
    Now the class change needs the borrower's consent, and even with it what is drawn keeps its
    contribution: no headroom appears without a repayment."""
    e = ids["enterprise"]
    lid, req, _ = record_active(draw=1_000_000_00, principal=1_000_000_00, term_days=SHORT_DAYS)
    before = ledger.riskWeightedBalance(e)
    one_second_past = model.add_one_year(req[4]) + 1
    with reverts("BorrowerConsentRequired", lid, True, False):
        ledger.extendMaturity(lid, one_second_past, {"from": bank})
    sig = sign_extension(ledger, enterprise, ids["bank"], lid, one_second_past)
    ledger.extendMaturityWithConsent(lid, one_second_past, sig, {"from": bank})
    assert ledger.riskWeightedBalance(e) == before
    assert ledger.getLoan(lid)["contribution"] == before


def test_leap_year_loan_counted_long_term(xb, ledger, policy, regulator, bank, enterprise, ids, consent):
    """2027-03-01 -> 2028-03-01 is 366 days but one calendar year: short-term (weight 2.0 in USD),
    not long-term (1.5). A drawdown that fits only at 1.5 is refused."""
    e = ids["enterprise"]
    policy.setParameter(model.PARAM_INDEX["ValueDateMaxFutureDays"], 65535, {"from": regulator})
    year = _next_year_before_a_leap_year()
    value, maturity = U(year, 3, 1), U(year + 1, 3, 1)
    assert maturity - value == 366 * DAY
    limit = ledger.borrowingLimit(e)
    amount = 3_000_000_00  # 21.3 m CNY: x 1.5 = 31.95 m fits 35 m, x 2.0 = 42.6 m does not
    assert model.contribution(amount, USD, 15000) <= limit < model.contribution(amount, USD, 20000)
    req = make_request(e, ids["bank"], principal=amount, value_date=value, maturity_date=maturity)
    lid = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank}).return_value
    assert ledger.getLoan(lid)["shortTerm"] is True
    with reverts("BorrowingLimitExceeded", e, model.contribution(amount, USD, 20000), limit):
        ledger.drawdown(lid, amount, {"from": bank})


def test_29_february_value_date(xb, ledger, policy, regulator, bank, enterprise, ids, consent):
    """29 Feb + one year = 28 Feb: 2028-02-29 -> 2029-02-28 is short-term, -> 2029-03-01 is not."""
    policy.setParameter(model.PARAM_INDEX["ValueDateMaxFutureDays"], 65535, {"from": regulator})
    year = _next_year_before_a_leap_year() + 1
    value = U(year, 2, 29)
    for maturity, short in ((U(year + 1, 2, 28), True), (U(year + 1, 3, 1), False)):
        req = make_request(ids["enterprise"], ids["bank"], value_date=value, maturity_date=maturity)
        tx = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank})
        assert tx.events["LoanRecorded"]["shortTerm"] is short


def test_extension_within_the_year_keeps_class(xb, ledger, bank, ids, record_active):
    """Exactly one calendar year is still short-term: no consent needed to extend to it."""
    lid, req, _ = record_active(draw=1_000_00, term_days=SHORT_DAYS)
    tx = ledger.extendMaturity(lid, model.add_one_year(req[4]), {"from": bank})
    assert tx.events["LoanExtended"]["shortTermAfter"] is True
