"""Front-runners and colluding pairs on every path that reaches the same state: record, co-signed
record, confirm, draw, repay, extend, cancel, close, default, write-off, reshare, expire.

The front-runner is bank2: an Active bank that sees every pending transaction and submits a copy
from its own wallet first. The colluding pair is a bank borrower (bank2) and its creditor (the
foreign creditor) that appointed the borrower as its agent, so that the borrower would be lender
side of its own loans if that were possible."""
import pytest
from brownie import accounts
from eth_utils import keccak

import model
from conftest import SHORT_DAYS, TERMS, make_request, reverts, sign_consent, sign_extension

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
PATHS = ["recordLoan", "recordLoanWithConsent", "confirmLoan", "drawdown", "repay", "extendMaturity",
         "extendMaturityWithConsent", "cancelLoan", "closeLoan", "declareDefault", "writeOff", "shareTerms", "expireLoan"]
REGULATOR_PATHS = ("writeOff", "expireLoan")


def _honest(ledger, path, borrower, b_id, lender, c_id, submitter_id):
    """The honest transaction of `path` (loan borrower b_id, creditor c_id, set up by the creditor's
    wallet `lender`; the copied act's consent names `submitter_id`) that an attacker copies:
    (loan id, call(tx_params))."""

    def active(draw):
        req = make_request(b_id, c_id, principal=1_000_00, term_days=SHORT_DAYS)
        sig = sign_consent(ledger, borrower, req, draw, c_id)
        return ledger.recordLoanWithConsent(req, TERMS, draw, sig, {"from": lender}).return_value

    if path == "recordLoan":
        req = make_request(b_id, c_id)
        return None, lambda s: ledger.recordLoan(req, TERMS, s)
    if path == "recordLoanWithConsent":
        req = make_request(b_id, c_id)
        sig = sign_consent(ledger, borrower, req, 0, submitter_id)
        return None, lambda s: ledger.recordLoanWithConsent(req, TERMS, 0, sig, s)
    if path in ("confirmLoan", "expireLoan"):
        lid = ledger.recordLoan(make_request(b_id, c_id), TERMS, {"from": lender}).return_value
        if path == "confirmLoan":
            return lid, lambda s: ledger.confirmLoan(lid, s)
        return lid, lambda s: ledger.expireLoan(lid, model.SUSPECTED_FRAUD, s)
    lid = active(0 if path in ("cancelLoan", "closeLoan") else 100)
    loan = ledger.getLoan(lid)
    if path == "extendMaturityWithConsent":
        new = model.add_one_year(loan["valueDate"]) + 1
        sig = sign_extension(ledger, borrower, submitter_id, lid, new)
        return lid, lambda s: ledger.extendMaturityWithConsent(lid, new, sig, s)
    if path == "writeOff":
        ledger.declareDefault(lid, {"from": lender})
    return lid, {
        "drawdown": lambda s: ledger.drawdown(lid, 1, s),
        "repay": lambda s: ledger.repay(lid, 1, s),
        "extendMaturity": lambda s: ledger.extendMaturity(lid, loan["maturityDate"] + 1, s),
        "cancelLoan": lambda s: ledger.cancelLoan(lid, s),
        "closeLoan": lambda s: ledger.closeLoan(lid, s),
        "declareDefault": lambda s: ledger.declareDefault(lid, s),
        "writeOff": lambda s: ledger.writeOff(lid, model.WRITE_OFF_APPROVED, s),
        "shareTerms": lambda s: ledger.shareTerms(lid, b"\x01", s),
    }[path]


@pytest.mark.parametrize("path", PATHS)
def test_frontrunner_on_every_path(xb, ledger, bank, bank2, enterprise, ids, path):
    e, b = ids["enterprise"], ids["bank"]
    lid, call = _honest(ledger, path, enterprise, e, bank, b, b)
    expected = {
        "recordLoanWithConsent": ("ConsentSubmitterMismatch", b, ids["bank2"]),
        "extendMaturityWithConsent": ("ConsentSubmitterMismatch", b, ids["bank2"]),
        "writeOff": ("AccessControlUnauthorizedAccount", bank2.address, REGULATOR_ROLE),
        "expireLoan": ("ConfirmationWindowOpen", lid, lid and ledger.getLoan(lid)["confirmBy"]),
    }.get(path, ("UnauthorizedWallet", bank2.address, ids["bank2"]))
    with reverts(*expected):
        call({"from": bank2})
    honest = accounts[0] if path in REGULATOR_PATHS else (enterprise if path == "confirmLoan" else bank)
    assert call({"from": honest}).status == 1  # the front-run left the honest transaction intact


LENDER_PATHS = ["recordLoanWithConsent", "repay", "extendMaturity", "extendMaturityWithConsent", "closeLoan",
                "declareDefault", "writeOff"]


@pytest.mark.parametrize("path", LENDER_PATHS)
def test_borrower_made_agent_on_every_lender_path(xb, ledger, bank2, creditor, ids, path):
    """The colluding creditor appoints its bank borrower as agent: the borrower is still never
    lender side of its own loan (the creditor itself records; the borrower then copies each act)."""
    b_id, c_id = ids["bank2"], ids["creditor"]
    ledger.appointAgent(b_id, {"from": creditor})
    lid, call = _honest(ledger, path, bank2, b_id, creditor, c_id, b_id if "Consent" in path else c_id)
    expected = ("AccessControlUnauthorizedAccount", bank2.address, REGULATOR_ROLE) if path == "writeOff" else (
        "UnauthorizedWallet", bank2.address, b_id)
    with reverts(*expected):
        call({"from": bank2})
