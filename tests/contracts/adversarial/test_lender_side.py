"""Issue #10 item 1: a borrower writes off its own debt (and every other lender-side act on its own
loan), alone or with a colluding recorder / creditor."""
import pytest
from eth_utils import keccak

import model
from conftest import TERMS, make_request, reverts, sign_extension

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")


@pytest.fixture
def own_loan(ledger, bank, creditor, ids):
    """The bank borrows its whole limit from the foreign creditor (which colludes and confirms)."""
    b = ids["bank"]
    limit = ledger.borrowingLimit(b)
    lid = ledger.recordLoan(make_request(b, ids["creditor"], currency=b"CNY", principal=limit), TERMS,
                            {"from": bank}).return_value
    ledger.confirmLoan(lid, {"from": creditor})
    ledger.drawdown(lid, limit, {"from": bank})
    assert ledger.riskWeightedBalance(b) == limit
    return lid, limit


def test_bank_borrower_writes_off_own_debt(xb, ledger, bank, ids, own_loan):
    lid, limit = own_loan
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        ledger.declareDefault(lid, {"from": bank})
    assert ledger.riskWeightedBalance(ids["bank"]) == limit


@pytest.mark.parametrize("act", ["repay", "extendMaturity", "extendMaturityWithConsent", "closeLoan", "declareDefault"])
def test_bank_borrower_acts_as_lender_on_own_loan(xb, ledger, bank, creditor, ids, own_loan, act):
    """Every lender-side path on its own loan, even as its recorder (closeLoan: on an undrawn one,
    since a drawn one is refused first with OutstandingNotZero)."""
    lid, _ = own_loan
    if act == "closeLoan":
        lid = ledger.recordLoan(make_request(ids["bank"], ids["creditor"]), TERMS, {"from": bank}).return_value
        ledger.confirmLoan(lid, {"from": creditor})
    maturity = ledger.getLoan(lid)["maturityDate"]
    call = {
        "repay": lambda: ledger.repay(lid, 1, {"from": bank}),
        "extendMaturity": lambda: ledger.extendMaturity(lid, maturity + 1, {"from": bank}),
        "extendMaturityWithConsent": lambda: ledger.extendMaturityWithConsent(
            lid, maturity + 1, sign_extension(ledger, bank, ids["bank"], lid, maturity + 1), {"from": bank}),
        "closeLoan": lambda: ledger.closeLoan(lid, {"from": bank}),
        "declareDefault": lambda: ledger.declareDefault(lid, {"from": bank}),
    }[act]
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        call()


def test_creditor_appoints_borrower_as_its_agent(xb, ledger, bank, creditor, ids, own_loan):
    """A colluding creditor makes the borrower its agent: still never lender side of its own loan."""
    lid, _ = own_loan
    ledger.appointAgent(ids["bank"], {"from": creditor})
    assert ledger.isAgent(ids["creditor"], ids["bank"])
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        ledger.declareDefault(lid, {"from": bank})
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        ledger.repay(lid, 1, {"from": bank})


def test_colluding_creditor_default_still_counts(xb, ledger, regulator, bank, creditor, ids, own_loan, consent):
    """The creditor's default is the creditor's act and leaves the debt in the balance: the borrower
    cannot borrow its limit again until the regulator confirms a write-off."""
    lid, limit = own_loan
    tx = ledger.declareDefault(lid, {"from": creditor})
    assert tx.events["LoanDefaulted"]["by"] == ids["creditor"] and tx.events["LoanDefaulted"]["byAgent"] is False
    assert ledger.riskWeightedBalance(ids["bank"]) == limit
    again = ledger.recordLoan(make_request(ids["bank"], ids["creditor"], currency=b"CNY", principal=limit), TERMS,
                              {"from": bank}).return_value
    ledger.confirmLoan(again, {"from": creditor})
    with reverts("BorrowingLimitExceeded", ids["bank"], limit + limit, limit):
        ledger.drawdown(again, limit, {"from": bank})
    # only the regulator writes off
    for who, inst in ((creditor, ids["creditor"]), (bank, ids["bank"])):
        with reverts("AccessControlUnauthorizedAccount", who.address, REGULATOR_ROLE):
            ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": who})
    ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    assert ledger.riskWeightedBalance(ids["bank"]) == 0


def test_colluding_recorder_defaults_enterprise_loan(xb, ledger, bank, bank2, enterprise, ids, record_active):
    """A bank that is neither the creditor nor its agent (the old "borrower's bank" recorder) has no
    lender-side right on the loan, on any path."""
    lid, _, _ = record_active(draw=1_000_00)
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.declareDefault(lid, {"from": bank2})
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.recordLoan(make_request(ids["enterprise"], ids["bank"]), TERMS, {"from": bank2})
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.repay(lid, 1_000_00, {"from": bank2})


def test_dismissed_agent_recorder_cannot_default(xb, ledger, bank, bank2, enterprise, ids, consent):
    """The creditor's agent records a loan, is dismissed, then tries to default it."""
    ledger.appointAgent(ids["bank2"], {"from": bank})
    req = make_request(ids["enterprise"], ids["bank"])
    lid = ledger.recordLoanWithConsent(req, TERMS, 100, consent(enterprise, req, 100, submitter=ids["bank2"]),
                                       {"from": bank2}).return_value
    ledger.dismissAgent(ids["bank2"], {"from": bank})
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.declareDefault(lid, {"from": bank2})


def test_borrower_cancels_or_closes_drawn_loan(xb, ledger, bank, enterprise, ids, record_active):
    """Ending a drawn loan to drop its contribution: cancel needs drawn == 0, close needs nothing
    outstanding (and the lender side)."""
    lid, _, _ = record_active(draw=1_000_00)
    with reverts("LoanAlreadyDrawn", lid, 1_000_00):
        ledger.cancelLoan(lid, {"from": enterprise})
    with reverts("OutstandingNotZero", lid, 1_000_00):
        ledger.closeLoan(lid, {"from": enterprise})
    with reverts("OutstandingNotZero", lid, 1_000_00):
        ledger.closeLoan(lid, {"from": bank})


@pytest.fixture
def agent_loan(ledger, bank, bank2, enterprise, ids, consent):
    """The creditor (bank) appointed bank2 as its agent; bank2 recorded and drew a loan for it."""
    ledger.appointAgent(ids["bank2"], {"from": bank})
    req = make_request(ids["enterprise"], ids["bank"], currency=b"CNY")
    lid = ledger.recordLoanWithConsent(req, TERMS, 500_000_00, consent(enterprise, req, 500_000_00, submitter=ids["bank2"]),
                                       {"from": bank2}).return_value
    return lid


@pytest.mark.parametrize("act", ["repay", "declareDefault", "drawdown", "extendMaturity", "shareTerms"])
def test_suspended_creditor_acts_through_its_agent(xb, ledger, registry, regulator, bank, bank2, ids, agent_loan, act):
    """The regulator suspends a creditor; the bank it appointed keeps acting for it: a fake
    repayment frees the borrower's limit, a default hides the debt, a drawdown lends more. An agent
    has no authority its principal has lost."""
    lid = agent_loan
    e = ids["enterprise"]
    balance = ledger.riskWeightedBalance(e)
    before = ledger.getLoan(lid)
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    call = {
        "repay": lambda: ledger.repay(lid, 500_000_00, {"from": bank2}),
        "declareDefault": lambda: ledger.declareDefault(lid, {"from": bank2}),
        "drawdown": lambda: ledger.drawdown(lid, 1_00, {"from": bank2}),
        "extendMaturity": lambda: ledger.extendMaturity(lid, before["maturityDate"] + 86400, {"from": bank2}),
        "shareTerms": lambda: ledger.shareTerms(lid, b"\x01", {"from": bank2}),
    }[act]
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        call()
    assert ledger.riskWeightedBalance(e) == balance
    assert ledger.getLoan(lid) == before
    # reinstated, the creditor's agent acts for it again
    registry.reinstateInstitution(ids["bank"], {"from": regulator})
    assert call().status == 1


def test_revoked_creditors_agent_cannot_close_or_cancel(xb, ledger, registry, regulator, bank, bank2, enterprise, ids,
                                                       consent):
    """Closing or cancelling an undrawn loan ends the creditor's commitment: not for a revoked one's agent."""
    ledger.appointAgent(ids["bank2"], {"from": bank})
    req = make_request(ids["enterprise"], ids["bank"])
    lid = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0, submitter=ids["bank2"]),
                                       {"from": bank2}).return_value
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    for call in (lambda: ledger.closeLoan(lid, {"from": bank2}), lambda: ledger.cancelLoan(lid, {"from": bank2})):
        with reverts("InstitutionNotActive", ids["bank"], model.ST_REVOKED):
            call()
    # the borrower may still withdraw an undrawn loan of its own
    assert ledger.cancelLoan(lid, {"from": enterprise}).status == 1


def test_revoked_creditors_drawn_loan_is_written_off_by_the_regulator(xb, ledger, registry, regulator, bank, bank2,
                                                                      ids, agent_loan):
    """Revoked, the creditor (and its agents) can neither collect nor default: without a way out the
    loan's contribution would hold the borrower's limit for ever. The regulator writes it off; while
    the creditor is only suspended (reinstatable) it cannot."""
    lid = agent_loan
    e, c = ids["enterprise"], ids["bank"]
    contribution = ledger.loanContribution(lid)
    balance = ledger.riskWeightedBalance(e)
    assert contribution > 0
    with reverts("InvalidLoanStatus", lid, model.ACTIVE):  # creditor Active
        ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    registry.suspendInstitution(c, {"from": regulator})
    with reverts("InvalidLoanStatus", lid, model.ACTIVE):  # suspended is not revoked
        ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    registry.revokeInstitution(c, {"from": regulator})
    with reverts("InstitutionNotActive", c, model.ST_REVOKED):
        ledger.declareDefault(lid, {"from": bank2})
    with reverts("AccessControlUnauthorizedAccount", bank2.address, REGULATOR_ROLE):
        ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": bank2})
    tx = ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    assert tx.events["LoanWrittenOff"]["contributionRemoved"] == contribution
    assert ledger.riskWeightedBalance(e) == balance - contribution
    assert ledger.getLoan(lid)["status"] == model.WRITTEN_OFF
