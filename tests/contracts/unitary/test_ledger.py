import brownie
import pytest
from brownie import chain
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

import model
from conftest import DAY, RATES, TERMS, VALUE_DATE, make_request, new_doc, reverts, sign_consent

USD = RATES[b"USD"]


def loan_id(borrower, n):
    return (borrower << 32) | n


# ---------------------------------------------------------------- record / confirm


def test_record_pending(xb, ledger, bank, ids, record_pending):
    e = ids["enterprise"]
    lid, req, tx = record_pending()
    assert lid == loan_id(e, 1)
    ev = tx.events["LoanRecorded"]
    assert ev["loanId"] == lid and ev["borrower"] == e and ev["creditor"] == ids["bank"]
    assert ev["recorder"] == ids["bank"] and ev["status"] == model.RECORDED
    assert ev["rate"] == USD and ev["weightBps"] == 15000 and ev["borrowerBalance"] == 0
    assert ev["terms"] == "0x" + TERMS.hex()
    assert ev["request"][7] == "0x" + req[7].hex() and ev["request"][8] == "0x" + req[8].hex()
    loan = ledger.getLoan(lid)
    assert loan["status"] == model.RECORDED and loan["principal"] == req[3] and loan["rate"] == USD
    assert loan["maturityDate"] == req[5] and loan["recorder"] == ids["bank"]
    assert ledger.liveLoanOfDocument(req[7]) == lid
    assert ledger.borrowerPosition(e)["loanCount"] == 1


def test_confirm(xb, ledger, bank, enterprise_wallet2, ids, record_pending):
    lid, _, _ = record_pending()
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        ledger.confirmLoan(lid, {"from": bank})
    tx = ledger.confirmLoan(lid, {"from": enterprise_wallet2})
    assert tx.events["LoanConfirmed"] == {"loanId": lid, "borrower": ids["enterprise"], "wallet": enterprise_wallet2, "borrowerBalance": 0}
    assert ledger.getLoan(lid)["status"] == model.ACTIVE
    with reverts("InvalidLoanStatus", lid, model.ACTIVE):
        ledger.confirmLoan(lid, {"from": enterprise_wallet2})
    with reverts("InvalidLoanStatus", 12345, model.NONE):
        ledger.confirmLoan(12345, {"from": enterprise_wallet2})


def test_confirm_suspended_borrower(xb, ledger, registry, regulator, enterprise, ids, record_pending):
    lid, _, _ = record_pending()
    registry.suspendInstitution(ids["enterprise"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["enterprise"], model.ST_SUSPENDED):
        ledger.confirmLoan(lid, {"from": enterprise})


def test_record_by_creditor_itself(xb, ledger, creditor, ids, record_pending):
    lid, _, tx = record_pending(sender=creditor, creditor=ids["creditor"])
    assert tx.events["LoanRecorded"]["recorder"] == ids["creditor"]


def test_record_request_errors(xb, ledger, bank, ids):
    e, b = ids["enterprise"], ids["bank"]
    with reverts("ZeroAmount"):
        ledger.recordLoan(make_request(e, b, principal=0), TERMS, {"from": bank})
    with reverts("InvalidDates", VALUE_DATE, VALUE_DATE):
        ledger.recordLoan(make_request(e, b, term_days=0), TERMS, {"from": bank})
    with reverts("ZeroDocumentHash"):
        ledger.recordLoan(make_request(e, b, document_hash=b"\x00" * 32) [:7] + (b"\x00" * 32, b"\x01" * 32), TERMS, {"from": bank})
    with reverts("UnknownCurrency", b"XYZ"):
        ledger.recordLoan(make_request(e, b, currency=b"XYZ"), TERMS, {"from": bank})
    with reverts("UnknownFinancingType", 42):
        ledger.recordLoan(make_request(e, b, financing_type=42), TERMS, {"from": bank})


def test_record_party_errors(xb, ledger, registry, regulator, bank, nbfi, enterprise, stranger, ids):
    e, b = ids["enterprise"], ids["bank"]
    with reverts("UnauthorizedWallet", stranger.address, 0):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": stranger})
    # a non-bank that is not the creditor may not record
    with reverts("UnauthorizedWallet", nbfi.address, ids["nbfi"]):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": nbfi})
    with reverts("UnauthorizedWallet", enterprise.address, e):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": enterprise})
    with reverts("InvalidBorrowerKind", ids["creditor"], model.FOREIGN_CREDITOR):
        ledger.recordLoan(make_request(ids["creditor"], b), TERMS, {"from": bank})
    with reverts("InvalidBorrowerKind", ids["observer"], model.OBSERVER):
        ledger.recordLoan(make_request(ids["observer"], b), TERMS, {"from": bank})
    with reverts("InvalidCreditor", e):
        ledger.recordLoan(make_request(e, e), TERMS, {"from": bank})
    with reverts("InvalidCreditor", ids["observer"]):
        ledger.recordLoan(make_request(e, ids["observer"]), TERMS, {"from": bank})
    with reverts("InstitutionNotActive", 99, model.ST_NONE):
        ledger.recordLoan(make_request(99, b), TERMS, {"from": bank})
    with reverts("InstitutionNotActive", 98, model.ST_NONE):
        ledger.recordLoan(make_request(e, 98), TERMS, {"from": bank})
    registry.suspendInstitution(ids["creditor"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["creditor"], model.ST_SUSPENDED):
        ledger.recordLoan(make_request(e, ids["creditor"]), TERMS, {"from": bank})
    registry.suspendInstitution(e, {"from": regulator})
    with reverts("InstitutionNotActive", e, model.ST_SUSPENDED):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})
    registry.revokeInstitution(b, {"from": regulator})
    with reverts("InstitutionNotActive", b, model.ST_REVOKED):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})


def test_duplicate_document_guard(xb, ledger, bank, bank2, ids, record_pending, record_active):
    doc = new_doc()
    lid, _, _ = record_pending(document_hash=doc)
    # another bank, another creditor: still refused while the first loan is live
    with reverts("DocumentAlreadyBacksLoan", doc, lid):
        ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], document_hash=doc), TERMS, {"from": bank2})
    ledger.cancelLoan(lid, {"from": bank})
    assert ledger.liveLoanOfDocument(doc) == 0
    lid2, _, _ = record_active(draw=100, document_hash=doc)
    assert ledger.liveLoanOfDocument(doc) == lid2
    ledger.repay(lid2, 100, {"from": bank})
    ledger.closeLoan(lid2, {"from": bank})
    lid3, _, _ = record_active(draw=100, document_hash=doc)
    ledger.declareDefault(lid3, {"from": bank})
    record_pending(document_hash=doc)


# ---------------------------------------------------------------- consent


def test_consent_digest_matches_eip712(xb, ledger, ids):
    req = make_request(ids["enterprise"], ids["bank"])
    data = model.consent_typed_data(req, 5, 0, 999, chain.id, ledger.address)
    msg = encode_typed_data(full_message=data)
    expected = keccak(b"\x19\x01" + msg.header + msg.body)
    assert ledger.consentDigest(req, 5, 0, 999) == "0x" + expected.hex()


def test_record_with_consent_and_draw(xb, ledger, bank, enterprise, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"], principal=1_000_000_00)
    sig, deadline = consent(enterprise, req, 400_000_00)
    tx = ledger.recordLoanWithConsent(req, TERMS, 400_000_00, deadline, sig, {"from": bank})
    lid = tx.return_value
    expected_balance = model.contribution(400_000_00, USD, 15000)
    assert tx.events["LoanRecorded"]["status"] == model.ACTIVE
    assert tx.events["LoanRecorded"]["borrowerBalance"] == expected_balance
    assert tx.events["LoanDrawn"] == {"loanId": lid, "borrower": e, "amount": 400_000_00, "drawn": 400_000_00,
                                      "outstanding": 400_000_00, "borrowerBalance": expected_balance}
    assert ledger.riskWeightedBalance(e) == expected_balance
    assert ledger.borrowerPosition(e)["nonce"] == 1
    # replay of the same consent: the nonce is consumed, so it recovers to another address
    data = model.consent_typed_data(req, 400_000_00, 1, deadline, chain.id, ledger.address)
    replay_signer = Account.recover_message(encode_typed_data(full_message=data), signature=sig)
    with reverts("InvalidBorrowerSignature", replay_signer, e):
        ledger.recordLoanWithConsent(req, TERMS, 400_000_00, deadline, sig, {"from": bank})


def test_consent_without_draw_and_by_second_wallet(xb, ledger, bank, enterprise_wallet2, ids, consent):
    req = make_request(ids["enterprise"], ids["bank"])
    sig, deadline = consent(enterprise_wallet2, req, 0)
    tx = ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank})
    assert "LoanDrawn" not in tx.events
    assert ledger.getLoan(tx.return_value)["status"] == model.ACTIVE


def test_consent_errors(xb, ledger, bank, enterprise, funded, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"], principal=1000)
    # A day, not seconds: after evm_revert anvil's clock restarts from the snapshot block while
    # Brownie's chain.time() keeps the wall clock, so under load they drift apart by minutes.
    sig, deadline = consent(enterprise, req, 0, deadline=chain.time() - 86400)
    with pytest.raises(brownie.exceptions.VirtualMachineError) as exc:
        ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank})
    assert exc.value.revert_msg.startswith("SignatureExpired: %d, " % deadline)
    other = funded["stranger_signer"]
    sig, deadline = consent(other, req, 0)
    with reverts("InvalidBorrowerSignature", other.address, e):
        ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank})
    with reverts("InvalidBorrowerSignature", "0x0000000000000000000000000000000000000000", e):
        ledger.recordLoanWithConsent(req, TERMS, 0, deadline, b"\x01" * 64, {"from": bank})
    sig, deadline = consent(enterprise, req, 1001)
    with reverts("DrawdownExceedsAvailable", loan_id(e, 1), 1001, 1000):
        ledger.recordLoanWithConsent(req, TERMS, 1001, deadline, sig, {"from": bank})


# ---------------------------------------------------------------- drawdown / repay


def test_drawdown_and_repay(xb, ledger, bank, enterprise, ids, record_active):
    e = ids["enterprise"]
    lid, req, _ = record_active(draw=0, principal=1_000_00)
    tx = ledger.drawdown(lid, 600_00, {"from": enterprise})
    bal = model.contribution(600_00, USD, 15000)
    assert tx.events["LoanDrawn"] == {"loanId": lid, "borrower": e, "amount": 600_00, "drawn": 600_00, "outstanding": 600_00, "borrowerBalance": bal}
    with reverts("DrawdownExceedsAvailable", lid, 400_01, 400_00):
        ledger.drawdown(lid, 400_01, {"from": bank})
    with reverts("ZeroAmount"):
        ledger.drawdown(lid, 0, {"from": bank})
    tx = ledger.repay(lid, 600_00, {"from": bank})
    assert tx.events["LoanRepaid"] == {"loanId": lid, "borrower": e, "amount": 600_00, "outstanding": 0, "borrowerBalance": 0}
    assert "LoanClosed" not in tx.events  # not fully drawn
    with reverts("RepaymentExceedsOutstanding", lid, 1, 0):
        ledger.repay(lid, 1, {"from": bank})
    ledger.drawdown(lid, 400_00, {"from": bank})
    tx = ledger.repay(lid, 400_00, {"from": enterprise})
    assert tx.events["LoanClosed"] == {"loanId": lid, "borrower": e, "borrowerBalance": 0}
    assert ledger.getLoan(lid)["status"] == model.CLOSED
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.drawdown(lid, 1, {"from": bank})
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.repay(lid, 1, {"from": bank})


def test_drawdown_pending_refused(xb, ledger, bank, ids, record_pending):
    lid, _, _ = record_pending()
    with reverts("InvalidLoanStatus", lid, model.RECORDED):
        ledger.drawdown(lid, 1, {"from": bank})


def test_drawdown_party_checks(xb, ledger, registry, regulator, bank, bank2, stranger, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=0)
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.drawdown(lid, 1, {"from": bank2})
    with reverts("UnauthorizedWallet", stranger.address, 0):
        ledger.drawdown(lid, 1, {"from": stranger})
    registry.suspendInstitution(ids["enterprise"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["enterprise"], model.ST_SUSPENDED):
        ledger.drawdown(lid, 1, {"from": enterprise})
    with reverts("InstitutionNotActive", ids["enterprise"], model.ST_SUSPENDED):
        ledger.drawdown(lid, 1, {"from": bank})  # borrower suspended
    registry.reinstateInstitution(ids["enterprise"], {"from": regulator})
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        ledger.drawdown(lid, 1, {"from": bank})


def test_repay_allowed_for_suspended_borrower_via_bank(xb, ledger, registry, regulator, bank, ids, record_active):
    lid, _, _ = record_active(draw=100)
    registry.suspendInstitution(ids["enterprise"], {"from": regulator})
    ledger.repay(lid, 100, {"from": bank})


# ---------------------------------------------------------------- extension


def test_extend_rederives_weight(xb, ledger, bank, enterprise, ids, record_active):
    e = ids["enterprise"]
    lid, req, _ = record_active(draw=1_000_00, term_days=180)
    assert ledger.getLoan(lid)["weightBps"] == 20000  # short-term 1.5 + FX 0.5
    new_maturity = req[4] + 366 * DAY
    tx = ledger.extendMaturity(lid, new_maturity, {"from": bank})
    bal = model.contribution(1_000_00, USD, 15000)
    assert tx.events["LoanExtended"] == {"loanId": lid, "borrower": e, "oldMaturityDate": req[5], "newMaturityDate": new_maturity,
                                         "oldWeightBps": 20000, "newWeightBps": 15000, "borrowerBalance": bal}
    assert ledger.riskWeightedBalance(e) == bal
    with reverts("InvalidExtension", lid, new_maturity, new_maturity):
        ledger.extendMaturity(lid, new_maturity, {"from": bank})
    with reverts("UnauthorizedWallet", enterprise.address, e):
        ledger.extendMaturity(lid, new_maturity + 1, {"from": enterprise})


# ---------------------------------------------------------------- endings


def test_cancel(xb, ledger, bank, enterprise, ids, record_pending, record_active):
    lid, _, _ = record_pending()
    tx = ledger.cancelLoan(lid, {"from": enterprise})  # the borrower may reject
    assert tx.events["LoanCancelled"] == {"loanId": lid, "borrower": ids["enterprise"], "by": ids["enterprise"], "borrowerBalance": 0}
    with reverts("InvalidLoanStatus", lid, model.CANCELLED):
        ledger.cancelLoan(lid, {"from": bank})
    lid2, _, _ = record_active(draw=5)
    with reverts("LoanAlreadyDrawn", lid2, 5):
        ledger.cancelLoan(lid2, {"from": bank})
    lid3, _, _ = record_active(draw=0)
    ledger.cancelLoan(lid3, {"from": bank})


def test_close(xb, ledger, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=5)
    with reverts("OutstandingNotZero", lid, 5):
        ledger.closeLoan(lid, {"from": bank})
    ledger.repay(lid, 5, {"from": bank})
    with reverts("UnauthorizedWallet", enterprise.address, ids["enterprise"]):
        ledger.closeLoan(lid, {"from": enterprise})
    tx = ledger.closeLoan(lid, {"from": bank})
    assert tx.events["LoanClosed"]["loanId"] == lid
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.closeLoan(lid, {"from": bank})


def test_default(xb, ledger, bank, ids, record_active):
    e = ids["enterprise"]
    lid, req, _ = record_active(draw=500_00)
    lid2, _, _ = record_active(draw=100_00)
    tx = ledger.declareDefault(lid, {"from": bank})
    remaining = model.contribution(100_00, USD, 15000)
    assert tx.events["LoanDefaulted"] == {"loanId": lid, "borrower": e, "by": ids["bank"], "outstanding": 500_00, "borrowerBalance": remaining}
    assert ledger.riskWeightedBalance(e) == remaining
    assert ledger.loanContribution(lid) == 0 and ledger.liveLoanOfDocument(req[7]) == 0
    with reverts("InvalidLoanStatus", lid, model.DEFAULTED):
        ledger.repay(lid, 1, {"from": bank})


# ---------------------------------------------------------------- pause


def test_pause_blocks_all_writes(xb, ledger, regulator, bank, enterprise, stranger, ids, record_active, consent):
    lid, req, _ = record_active(draw=10)
    with reverts("AccessControlUnauthorizedAccount", stranger.address, keccak(text="PAUSER_ROLE")):
        ledger.pause({"from": stranger})
    tx = ledger.pause({"from": regulator})
    assert tx.events["Paused"]["account"] == regulator
    calls = [
        lambda: ledger.recordLoan(make_request(ids["enterprise"], ids["bank"]), TERMS, {"from": bank}),
        lambda: ledger.recordLoanWithConsent(req, TERMS, 0, 0, b"", {"from": bank}),
        lambda: ledger.confirmLoan(lid, {"from": enterprise}),
        lambda: ledger.drawdown(lid, 1, {"from": bank}),
        lambda: ledger.repay(lid, 1, {"from": bank}),
        lambda: ledger.extendMaturity(lid, 2**32 - 1, {"from": bank}),
        lambda: ledger.cancelLoan(lid, {"from": bank}),
        lambda: ledger.closeLoan(lid, {"from": bank}),
        lambda: ledger.declareDefault(lid, {"from": bank}),
    ]
    for call in calls:
        with reverts("EnforcedPause"):
            call()
    ledger.unpause({"from": regulator})
    ledger.drawdown(lid, 1, {"from": bank})


# ---------------------------------------------------------------- views


def test_views_and_previews(xb, ledger, bank, ids, record_active):
    e = ids["enterprise"]
    limit = 10_000_000_00 * 20000 * 17500 // 10**8
    assert ledger.borrowingLimit(e) == limit == 35_000_000_00
    lid, req, _ = record_active(draw=100_000_00, principal=1_000_000_00)
    bal = ledger.riskWeightedBalance(e)
    assert ledger.headroom(e) == limit - bal
    assert ledger.loanContribution(lid) == bal
    after, lim, fits = ledger.previewDrawdown(lid, 50_000_00)
    tx = ledger.drawdown(lid, 50_000_00, {"from": bank})
    assert (after, lim, fits) == (tx.events["LoanDrawn"]["borrowerBalance"], limit, True)
    new_req = make_request(e, ids["bank"], currency=b"EUR", principal=10_000_000_00)
    after, lim, fits = ledger.previewNewLoan(new_req, 10_000_000_00)
    assert after == ledger.riskWeightedBalance(e) + model.contribution(10_000_000_00, RATES[b"EUR"], 15000)
    assert fits is (after <= limit)
    with reverts("DrawdownExceedsAvailable", 0, 10_000_000_01, 10_000_000_00):
        ledger.previewNewLoan(new_req, 10_000_000_01)
    with reverts("InvalidLoanStatus", 7, model.NONE):
        ledger.previewDrawdown(7, 1)
    assert ledger.registry() == xb["registry"] and ledger.policy() == xb["policy"]
