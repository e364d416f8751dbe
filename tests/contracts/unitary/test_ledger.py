"""Ledger v2 lifecycle, every revert path with its exact error, and the views."""
from brownie import LoanLedger, ZERO_ADDRESS, chain
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

import model
from conftest import (DAY, LONG_DAYS, RATES, SHORT_DAYS, TERMS, make_request, new_doc, reverts,
                      reverts_at_a_block_time, reverts_at_block_time, sign_extension, today)

USD = RATES[b"USD"]
REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")


def loan_id(borrower, n):
    return (borrower << 32) | n


def _hex(b):
    return "0x" + bytes(b).hex()


# ---------------------------------------------------------------- record (unconsented) and confirm


def test_record_pending_by_creditor(xb, ledger, bank, ids, record_pending):
    e, b = ids["enterprise"], ids["bank"]
    lid, req, tx = record_pending()
    assert lid == loan_id(e, 1)
    ev = tx.events["LoanRecorded"]
    assert (ev["loanId"], ev["borrower"], ev["creditor"], ev["recorder"], ev["status"]) == (lid, e, b, b, model.RECORDED)
    assert (ev["borrowerConsented"], ev["creditorConsented"], ev["shortTerm"], ev["borrowerBalance"]) == (False, True, False, 0)
    assert ev["confirmBy"] == tx.timestamp + 30 * DAY
    assert ev["terms"] == _hex(TERMS)
    assert ev["request"][7] == _hex(req[7]) and ev["request"][8] == _hex(req[8])
    loan = ledger.getLoan(lid)
    assert loan["status"] == model.RECORDED and loan["principal"] == req[3] and loan["contribution"] == 0
    assert loan["maturityDate"] == req[5] and loan["recorder"] == b and loan["confirmBy"] == ev["confirmBy"]
    # a Recorded loan claims no document
    assert ledger.liveLoanOfDocument(req[7]) == 0 and ledger.pendingDocumentOf(lid) == _hex(req[7])
    assert ledger.borrowerPosition(e)["loanCount"] == 1


def test_record_pending_by_borrower(xb, ledger, enterprise, ids, record_pending):
    lid, _, tx = record_pending(sender=enterprise, term_days=SHORT_DAYS)
    ev = tx.events["LoanRecorded"]
    assert (ev["recorder"], ev["borrowerConsented"], ev["creditorConsented"], ev["shortTerm"]) == (
        ids["enterprise"], True, False, True)


def test_confirm_both_sides(xb, ledger, bank, enterprise, enterprise_wallet2, ids, record_pending):
    e, b = ids["enterprise"], ids["bank"]
    lid, req, _ = record_pending(sender=enterprise)  # borrower consented
    with reverts("AlreadyConsented", lid, model.BORROWER_SIDE):
        ledger.confirmLoan(lid, {"from": enterprise_wallet2})
    tx = ledger.confirmLoan(lid, {"from": bank})
    assert tx.events["LoanConfirmed"] == {"loanId": lid, "borrower": e, "by": b, "side": model.CREDITOR_SIDE,
                                          "status": model.ACTIVE, "borrowerBalance": 0}
    assert ledger.getLoan(lid)["status"] == model.ACTIVE
    assert ledger.liveLoanOfDocument(req[7]) == lid and ledger.pendingDocumentOf(lid) == _hex(b"\0" * 32)
    with reverts("InvalidLoanStatus", lid, model.ACTIVE):
        ledger.confirmLoan(lid, {"from": enterprise})
    with reverts("InvalidLoanStatus", 12345, model.NONE):
        ledger.confirmLoan(12345, {"from": enterprise})


def test_confirm_by_borrower_second_wallet(xb, ledger, bank, enterprise_wallet2, ids, record_pending):
    lid, _, _ = record_pending()
    with reverts("AlreadyConsented", lid, model.CREDITOR_SIDE):
        ledger.confirmLoan(lid, {"from": bank})
    tx = ledger.confirmLoan(lid, {"from": enterprise_wallet2})
    assert tx.events["LoanConfirmed"]["side"] == model.BORROWER_SIDE
    assert tx.events["LoanConfirmed"]["status"] == model.ACTIVE


def test_confirm_needs_both_parties_active(xb, ledger, registry, regulator, bank, enterprise, ids, record_pending):
    lid, _, _ = record_pending()
    registry.suspendInstitution(ids["enterprise"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["enterprise"], model.ST_SUSPENDED):
        ledger.confirmLoan(lid, {"from": enterprise})
    registry.reinstateInstitution(ids["enterprise"], {"from": regulator})
    lid2, _, _ = record_pending(sender=enterprise)
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        ledger.confirmLoan(lid2, {"from": bank})


def test_confirmation_window(xb, ledger, regulator, policy, bank, enterprise, stranger, ids, record_pending):
    lid, _, tx = record_pending()
    confirm_by = tx.events["LoanRecorded"]["confirmBy"]
    with reverts("ConfirmationWindowOpen", lid, confirm_by):
        ledger.expireLoan(lid, 0, {"from": stranger})
    chain.sleep(30 * DAY + 10)
    chain.mine()
    with reverts("ConfirmationWindowClosed", lid, confirm_by):
        ledger.confirmLoan(lid, {"from": enterprise})
    tx = ledger.expireLoan(lid, model.SUSPECTED_FRAUD, {"from": stranger})  # anyone, reason forced
    assert tx.events["LoanExpired"] == {"loanId": lid, "borrower": ids["enterprise"], "by": stranger,
                                        "reason": model.CONFIRMATION_WINDOW_ELAPSED, "borrowerBalance": 0}
    assert ledger.getLoan(lid)["status"] == model.EXPIRED and ledger.pendingDocumentOf(lid) == _hex(b"\0" * 32)
    with reverts("InvalidLoanStatus", lid, model.EXPIRED):
        ledger.expireLoan(lid, 0, {"from": regulator})


def test_regulator_expires_any_time(xb, ledger, regulator, enterprise, ids, record_pending):
    lid, req, _ = record_pending()
    tx = ledger.expireLoan(lid, model.DOCUMENT_DISPUTE, {"from": regulator})
    assert tx.events["LoanExpired"]["reason"] == model.DOCUMENT_DISPUTE
    assert tx.events["LoanExpired"]["by"] == regulator
    with reverts("InvalidLoanStatus", lid, model.EXPIRED):
        ledger.confirmLoan(lid, {"from": enterprise})


def test_record_request_errors(xb, ledger, bank, ids):
    e, b = ids["enterprise"], ids["bank"]
    with reverts("ZeroAmount"):
        ledger.recordLoan(make_request(e, b, principal=0), TERMS, {"from": bank})
    req = make_request(e, b)
    with reverts("ZeroDocumentHash"):
        ledger.recordLoan(req[:7] + (b"\x00" * 32, req[8]), TERMS, {"from": bank})
    with reverts("UnknownCurrency", b"XYZ"):
        ledger.recordLoan(make_request(e, b, currency=b"XYZ"), TERMS, {"from": bank})
    with reverts("UnknownFinancingType", 42):
        ledger.recordLoan(make_request(e, b, financing_type=42), TERMS, {"from": bank})
    v = today() + 10 * DAY  # a future value date: the earliest maturity is v + 1
    with reverts("MaturityDateOutOfRange", v + 10958 * DAY + 1, v + 1, v + 10958 * DAY):
        ledger.recordLoan(make_request(e, b, value_date=v, maturity_date=v + 10958 * DAY + 1), TERMS, {"from": bank})
    with reverts("MaturityDateOutOfRange", v, v + 1, v + 10958 * DAY):
        ledger.recordLoan(make_request(e, b, value_date=v, maturity_date=v), TERMS, {"from": bank})


def test_record_party_errors(xb, ledger, registry, regulator, bank, bank2, nbfi, enterprise, stranger, ids):
    e, b = ids["enterprise"], ids["bank"]
    with reverts("UnauthorizedWallet", stranger.address, 0):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": stranger})
    # neither borrower, creditor nor the creditor's agent: any other bank or firm may not record
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": bank2})
    with reverts("UnauthorizedWallet", nbfi.address, ids["nbfi"]):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": nbfi})
    with reverts("InvalidBorrowerKind", ids["creditor"], model.FOREIGN_CREDITOR):
        ledger.recordLoan(make_request(ids["creditor"], b), TERMS, {"from": bank})
    with reverts("InvalidBorrowerKind", ids["observer"], model.OBSERVER):
        ledger.recordLoan(make_request(ids["observer"], b), TERMS, {"from": bank})
    with reverts("InvalidCreditor", e):
        ledger.recordLoan(make_request(e, e), TERMS, {"from": enterprise})
    with reverts("InvalidCreditor", ids["observer"]):
        ledger.recordLoan(make_request(e, ids["observer"]), TERMS, {"from": enterprise})
    with reverts("InstitutionNotActive", 99, model.ST_NONE):
        ledger.recordLoan(make_request(99, b), TERMS, {"from": bank})
    with reverts("InstitutionNotActive", 98, model.ST_NONE):
        ledger.recordLoan(make_request(e, 98), TERMS, {"from": enterprise})
    registry.suspendInstitution(ids["creditor"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["creditor"], model.ST_SUSPENDED):
        ledger.recordLoan(make_request(e, ids["creditor"]), TERMS, {"from": enterprise})
    registry.suspendInstitution(e, {"from": regulator})
    with reverts("InstitutionNotActive", e, model.ST_SUSPENDED):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})
    registry.revokeInstitution(b, {"from": regulator})
    with reverts("InstitutionNotActive", b, model.ST_REVOKED):
        ledger.recordLoan(make_request(e, b), TERMS, {"from": bank})


def test_duplicate_document_guard(xb, ledger, regulator, bank, bank2, enterprise, nbfi, ids, record_pending, record_active):
    doc = new_doc()
    lid, _, _ = record_pending(document_hash=doc)
    # pending: claims nothing, so another pair may record (and activate) with it
    lid_other, _, _ = record_pending(sender=bank2, borrower=ids["nbfi"], creditor=ids["bank2"], document_hash=doc)
    ledger.confirmLoan(lid_other, {"from": nbfi})
    assert ledger.liveLoanOfDocument(doc) == lid_other
    with reverts("DocumentAlreadyBacksLoan", doc, lid_other):
        ledger.confirmLoan(lid, {"from": enterprise})  # activation claims: refused
    with reverts("DocumentAlreadyBacksLoan", doc, lid_other):
        record_pending(document_hash=doc)  # recording checks early
    ledger.cancelLoan(lid_other, {"from": bank2})
    assert ledger.liveLoanOfDocument(doc) == 0
    ledger.confirmLoan(lid, {"from": enterprise})
    assert ledger.liveLoanOfDocument(doc) == lid
    ledger.cancelLoan(lid, {"from": bank})
    lid2, _, _ = record_active(draw=100, document_hash=doc)
    assert ledger.liveLoanOfDocument(doc) == lid2
    ledger.repay(lid2, 100, {"from": bank})
    ledger.closeLoan(lid2, {"from": bank})
    lid3, _, _ = record_active(draw=100, document_hash=doc)
    ledger.declareDefault(lid3, {"from": bank})
    assert ledger.liveLoanOfDocument(doc) == lid3  # a defaulted loan still holds its document
    ledger.writeOff(lid3, model.WRITE_OFF_APPROVED, {"from": regulator})
    assert ledger.liveLoanOfDocument(doc) == 0
    record_active(document_hash=doc)


# ---------------------------------------------------------------- consent


def test_consent_digest_matches_eip712(xb, ledger, ids):
    req = make_request(ids["enterprise"], ids["bank"])
    data = model.consent_typed_data(req, 5, ids["bank"], 77, 3, 999, chain.id, ledger.address)
    msg = encode_typed_data(full_message=data)
    assert ledger.consentDigest(req, 5, ids["bank"], 77, 3, 999) == _hex(keccak(b"\x19\x01" + msg.header + msg.body))
    data = model.extension_consent_typed_data(ids["bank"], 2**40, 1_900_000_000, 78, 4, 998, chain.id, ledger.address)
    msg = encode_typed_data(full_message=data)
    assert ledger.extensionConsentDigest(ids["bank"], 2**40, 1_900_000_000, 78, 4, 998) == _hex(
        keccak(b"\x19\x01" + msg.header + msg.body))


def test_eip5267_domain(ledger):
    fields, name, version, chain_id, contract, salt, extensions = ledger.eip712Domain()
    assert (fields, name, version, chain_id, contract) == ("0x0f", "xborder LoanLedger", "2", chain.id, ledger.address)
    assert salt == _hex(b"\0" * 32) and list(extensions) == []


def test_record_with_consent_and_draw(xb, ledger, bank, enterprise, ids, consent):
    e, b = ids["enterprise"], ids["bank"]
    req = make_request(e, b, principal=1_000_000_00)
    sig = consent(enterprise, req, 400_000_00)
    tx = ledger.recordLoanWithConsent(req, TERMS, 400_000_00, sig, {"from": bank})
    lid = tx.return_value
    delta = model.contribution(400_000_00, USD, 15000)
    ev = tx.events["LoanRecorded"]
    assert (ev["status"], ev["borrowerConsented"], ev["creditorConsented"], ev["borrowerBalance"]) == (
        model.ACTIVE, True, True, delta)
    assert tx.events["LoanDrawn"] == {"loanId": lid, "borrower": e, "by": b, "amount": 400_000_00, "drawn": 400_000_00,
                                      "outstanding": 400_000_00, "rate": USD, "weightBps": 15000,
                                      "contributionAdded": delta, "borrowerBalance": delta}
    assert list(tx.events.keys()) == ["LoanRecorded", "LoanDrawn"]
    assert ledger.riskWeightedBalance(e) == delta == ledger.loanContribution(lid)
    assert ledger.consentNonceUsed(e, sig[1]) is True and ledger.consentNonceUsed(e, sig[1] + 1) is False
    assert ledger.liveLoanOfDocument(req[7]) == lid
    with reverts("ConsentNonceUsed", e, sig[1]):
        ledger.recordLoanWithConsent(req, TERMS, 400_000_00, sig, {"from": bank})


def test_consent_by_second_wallet_without_draw(xb, ledger, bank, enterprise_wallet2, ids, consent):
    req = make_request(ids["enterprise"], ids["bank"])
    tx = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise_wallet2, req, 0), {"from": bank})
    assert "LoanDrawn" not in tx.events
    assert ledger.getLoan(tx.return_value)["status"] == model.ACTIVE


def test_consent_errors(xb, ledger, registry, bank, bank2, enterprise, funded, ids, consent):
    e, b = ids["enterprise"], ids["bank"]
    req = make_request(e, b, principal=1000)
    sig = consent(enterprise, req, 0, deadline=today() - DAY)
    with reverts_at_block_time("SignatureExpired", sig[3]):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})
    other = funded["stranger_signer"]
    with reverts("InvalidBorrowerSignature", other.address, e):
        ledger.recordLoanWithConsent(req, TERMS, 0, consent(other, req, 0), {"from": bank})
    garbage = (b, 5, 0, chain.time() + 600, b"\x01" * 64)
    with reverts("InvalidBorrowerSignature", ZERO_ADDRESS, e):
        ledger.recordLoanWithConsent(req, TERMS, 0, garbage, {"from": bank})
    with reverts("DrawdownExceedsAvailable", loan_id(e, 1), 1001, 1000):
        ledger.recordLoanWithConsent(req, TERMS, 1001, consent(enterprise, req, 1001), {"from": bank})
    # the signed draw amount is part of the consent
    sig = consent(enterprise, req, 10)
    data = model.consent_typed_data(req, 11, b, sig[1], sig[2], sig[3], chain.id, ledger.address)
    wrong = Account.recover_message(encode_typed_data(full_message=data), signature=sig[4])
    with reverts("InvalidBorrowerSignature", wrong, e):
        ledger.recordLoanWithConsent(req, TERMS, 11, sig, {"from": bank})
    # named submitter
    with reverts("ConsentSubmitterMismatch", b, ids["bank2"]):
        ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank2})
    # stale epoch
    sig = consent(enterprise, req, 0)
    registry.revokeSignatures(e, {"from": enterprise})
    with reverts("ConsentRevoked", e, 0, 1):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def test_borrower_cannot_submit_its_own_consent(xb, ledger, enterprise, ids, consent):
    """recordLoanWithConsent is the lender side's: the borrower naming itself is not lender side."""
    req = make_request(ids["enterprise"], ids["bank"])
    with reverts("UnauthorizedWallet", enterprise.address, ids["enterprise"]):
        ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0, submitter=ids["enterprise"]),
                                     {"from": enterprise})


def test_invalidate_consent_nonces(xb, ledger, bank, enterprise, enterprise_wallet2, stranger, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"])
    sig = consent(enterprise, req, 0, nonce=513)  # word 2, bit 1
    tx = ledger.invalidateConsentNonces(2, 0b10, {"from": enterprise_wallet2})
    assert tx.events["ConsentNoncesInvalidated"] == {"borrower": e, "wordPos": 2, "mask": 2, "wallet": enterprise_wallet2}
    assert ledger.consentNonceUsed(e, 513) is True and ledger.consentNonceUsed(e, 512) is False
    with reverts("ConsentNonceUsed", e, 513):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})
    with reverts("UnauthorizedWallet", stranger.address, 0):
        ledger.invalidateConsentNonces(0, 1, {"from": stranger})
    ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0, nonce=512), {"from": bank})


# ---------------------------------------------------------------- drawdown / repay


def test_drawdown_converts_at_each_drawdown_date(xb, ledger, policy, regulator, bank, enterprise, ids, record_active):
    e = ids["enterprise"]
    lid, _, _ = record_active(draw=0, principal=1_000_00)
    tx = ledger.drawdown(lid, 600_00, {"from": enterprise})
    d1 = model.contribution(600_00, USD, 15000)
    assert tx.events["LoanDrawn"] == {"loanId": lid, "borrower": e, "by": e, "amount": 600_00, "drawn": 600_00,
                                      "outstanding": 600_00, "rate": USD, "weightBps": 15000,
                                      "contributionAdded": d1, "borrowerBalance": d1}
    policy.setReferenceRate(b"USD", 800_000_000, {"from": regulator})
    policy.setParameter(model.PARAM_INDEX["FxRiskFactor"], 7000, {"from": regulator})
    tx = ledger.drawdown(lid, 400_00, {"from": bank})
    d2 = model.contribution(400_00, 800_000_000, 17000)
    assert (tx.events["LoanDrawn"]["rate"], tx.events["LoanDrawn"]["weightBps"]) == (800_000_000, 17000)
    assert tx.events["LoanDrawn"]["contributionAdded"] == d2
    assert ledger.riskWeightedBalance(e) == d1 + d2 == ledger.getLoan(lid)["contribution"]
    with reverts("DrawdownExceedsAvailable", lid, 1, 0):
        ledger.drawdown(lid, 1, {"from": bank})
    with reverts("ZeroAmount"):
        ledger.drawdown(lid, 0, {"from": bank})


def test_repay_pro_rata(xb, ledger, bank, enterprise, ids, record_active):
    e = ids["enterprise"]
    lid, _, _ = record_active(draw=3, principal=10)  # 3 cents: contribution ceil(ceil(21.3) x 1.5) = 33
    c = model.contribution(3, USD, 15000)
    assert c == 33
    tx = ledger.repay(lid, 1, {"from": bank})
    remaining = model.remaining_after_repay(33, 3, 1)  # ceil(33 x 2 / 3) = 22
    assert tx.events["LoanRepaid"] == {"loanId": lid, "borrower": e, "by": ids["bank"], "amount": 1, "outstanding": 2,
                                       "contributionRemoved": 33 - remaining, "borrowerBalance": remaining}
    tx = ledger.repay(lid, 1, {"from": bank})
    assert tx.events["LoanRepaid"]["borrowerBalance"] == model.remaining_after_repay(22, 2, 1) == 11
    tx = ledger.repay(lid, 1, {"from": bank})
    assert tx.events["LoanRepaid"]["borrowerBalance"] == 0 and ledger.getLoan(lid)["contribution"] == 0
    assert "LoanClosed" not in tx.events  # not fully drawn
    with reverts("RepaymentExceedsOutstanding", lid, 1, 0):
        ledger.repay(lid, 1, {"from": bank})
    with reverts("ZeroAmount"):
        ledger.repay(lid, 0, {"from": bank})


def test_repay_closes_when_fully_drawn(xb, ledger, bank, ids, record_active):
    lid, _, _ = record_active(draw=1_000_00, principal=1_000_00)
    tx = ledger.repay(lid, 1_000_00, {"from": bank})
    assert tx.events["LoanClosed"] == {"loanId": lid, "borrower": ids["enterprise"], "by": ids["bank"], "borrowerBalance": 0}
    assert ledger.getLoan(lid)["status"] == model.CLOSED
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.drawdown(lid, 1, {"from": bank})
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.repay(lid, 1, {"from": bank})


def test_drawdown_pending_refused(xb, ledger, bank, ids, record_pending):
    lid, _, _ = record_pending()
    with reverts("InvalidLoanStatus", lid, model.RECORDED):
        ledger.drawdown(lid, 1, {"from": bank})


def test_no_drawdown_after_maturity(xb, ledger, bank, ids, record_active):
    lid, req, _ = record_active(draw=0, term_days=2)
    chain.sleep(3 * DAY)
    chain.mine()
    with reverts("LoanMatured", lid, req[5]):
        ledger.drawdown(lid, 1, {"from": bank})
    with reverts("LoanMatured", lid, req[5]):
        ledger.previewDrawdown(lid, 1)


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
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        ledger.drawdown(lid, 1, {"from": enterprise})  # creditor suspended: its facility cannot be drawn


def test_repay_allowed_for_suspended_borrower_via_creditor(xb, ledger, registry, regulator, bank, ids, record_active):
    """Formerly asserted nothing: the creditor acknowledges repayments while the borrower is suspended."""
    e = ids["enterprise"]
    lid, _, _ = record_active(draw=100)
    registry.suspendInstitution(e, {"from": regulator})
    tx = ledger.repay(lid, 100, {"from": bank})
    assert tx.events["LoanRepaid"] == {"loanId": lid, "borrower": e, "by": ids["bank"], "amount": 100, "outstanding": 0,
                                       "contributionRemoved": model.contribution(100, USD, 15000), "borrowerBalance": 0}
    assert ledger.riskWeightedBalance(e) == 0 and ledger.getLoan(lid)["outstanding"] == 0


def test_zero_weight_drawdown_over_limit(xb, ledger, policy, regulator, bank, enterprise, ids, record_active):
    """A borrower over its limit only because of a tightening may still draw trade credit (weight 0),
    and nothing that adds to its balance."""
    e = ids["enterprise"]
    record_active(draw=30_000_000_00, principal=30_000_000_00, currency=b"CNY")
    weighted, _, _ = record_active(draw=0, currency=b"CNY", principal=5)
    trade, _, _ = record_active(draw=0, financing_type=4)
    policy.setParameter(model.PARAM_INDEX["AdjustmentEnterprise"], 5000, {"from": regulator})
    limit = 10_000_000_00 * 20000 * 5000 // 10**8
    assert ledger.riskWeightedBalance(e) == 30_000_000_00 > limit
    tx = ledger.drawdown(trade, 1_000_00, {"from": enterprise})
    assert tx.events["LoanDrawn"]["contributionAdded"] == 0 and tx.events["LoanDrawn"]["weightBps"] == 0
    assert list(ledger.previewDrawdown(trade, 1)) == [30_000_000_00, limit, True]
    with reverts("BorrowingLimitExceeded", e, 30_000_000_00 + 1, limit):
        ledger.drawdown(weighted, 1, {"from": enterprise})


# ---------------------------------------------------------------- extension


def test_extend_same_class_needs_no_consent(xb, ledger, bank, enterprise, ids, record_active):
    e = ids["enterprise"]
    lid, req, _ = record_active(draw=1_000_00, term_days=LONG_DAYS)
    bal = ledger.riskWeightedBalance(e)
    tx = ledger.extendMaturity(lid, req[5] + DAY, {"from": bank})
    assert tx.events["LoanExtended"] == {"loanId": lid, "borrower": e, "by": ids["bank"], "oldMaturityDate": req[5],
                                         "newMaturityDate": req[5] + DAY, "shortTermBefore": False,
                                         "shortTermAfter": False, "borrowerConsented": False, "borrowerBalance": bal}
    assert ledger.getLoan(lid)["maturityDate"] == req[5] + DAY
    with reverts("InvalidExtension", lid, req[5] + DAY, req[5] + DAY):
        ledger.extendMaturity(lid, req[5] + DAY, {"from": bank})
    with reverts("UnauthorizedWallet", enterprise.address, e):
        ledger.extendMaturity(lid, req[5] + 2 * DAY, {"from": enterprise})


def test_extend_across_the_year_needs_borrower_consent(xb, ledger, policy, regulator, bank, bank2, enterprise, ids, record_active):
    e, b = ids["enterprise"], ids["bank"]
    lid, req, _ = record_active(draw=1_000_00, term_days=SHORT_DAYS)
    bal = ledger.riskWeightedBalance(e)
    assert bal == model.contribution(1_000_00, USD, 20000)
    new_maturity = model.add_one_year(req[4]) + 1
    with reverts("BorrowerConsentRequired", lid, True, False):
        ledger.extendMaturity(lid, new_maturity, {"from": bank})
    sig = sign_extension(ledger, enterprise, b, lid, new_maturity)
    with reverts("ConsentSubmitterMismatch", b, ids["bank2"]):
        ledger.extendMaturityWithConsent(lid, new_maturity, sig, {"from": bank2})
    bad = sign_extension(ledger, enterprise, b, lid, new_maturity + 1)  # signed for another date
    data = model.extension_consent_typed_data(b, lid, new_maturity, bad[1], bad[2], bad[3], chain.id, ledger.address)
    wrong = Account.recover_message(encode_typed_data(full_message=data), signature=bad[4])
    with reverts("InvalidBorrowerSignature", wrong, e):
        ledger.extendMaturityWithConsent(lid, new_maturity, bad, {"from": bank})
    tx = ledger.extendMaturityWithConsent(lid, new_maturity, sig, {"from": bank})
    ev = tx.events["LoanExtended"]
    assert (ev["shortTermBefore"], ev["shortTermAfter"], ev["borrowerConsented"], ev["borrowerBalance"]) == (
        True, False, True, bal)  # what is drawn keeps its contribution
    assert ledger.getLoan(lid)["shortTerm"] is False
    assert ledger.consentNonceUsed(e, sig[1]) is True
    tx = ledger.drawdown(lid, 1_000_00, {"from": bank})  # later drawdowns weigh as long-term
    assert tx.events["LoanDrawn"]["weightBps"] == 15000


def test_extend_window_and_status(xb, ledger, bank, ids, record_active, record_pending):
    lid, req, _ = record_active(draw=0)
    latest = req[4] + 10958 * DAY
    with reverts_at_a_block_time("MaturityDateOutOfRange", lambda t: (latest + 1, t + 1, latest)):
        ledger.extendMaturity(lid, latest + 1, {"from": bank})
    pending, req2, _ = record_pending()
    with reverts("InvalidLoanStatus", pending, model.RECORDED):
        ledger.extendMaturity(pending, req2[5] + DAY, {"from": bank})


# ---------------------------------------------------------------- endings


def test_cancel(xb, ledger, bank, enterprise, ids, record_pending, record_active):
    lid, req, _ = record_pending()
    tx = ledger.cancelLoan(lid, {"from": enterprise})  # the borrower may reject
    assert tx.events["LoanCancelled"] == {"loanId": lid, "borrower": ids["enterprise"], "by": ids["enterprise"], "borrowerBalance": 0}
    assert ledger.pendingDocumentOf(lid) == _hex(b"\0" * 32)
    with reverts("InvalidLoanStatus", lid, model.CANCELLED):
        ledger.cancelLoan(lid, {"from": bank})
    lid2, _, _ = record_active(draw=5)
    with reverts("LoanAlreadyDrawn", lid2, 5):
        ledger.cancelLoan(lid2, {"from": bank})
    lid3, req3, _ = record_active(draw=0)
    ledger.cancelLoan(lid3, {"from": enterprise})
    assert ledger.liveLoanOfDocument(req3[7]) == 0


def test_close(xb, ledger, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=5)
    with reverts("OutstandingNotZero", lid, 5):
        ledger.closeLoan(lid, {"from": bank})
    ledger.repay(lid, 5, {"from": bank})
    with reverts("UnauthorizedWallet", enterprise.address, ids["enterprise"]):
        ledger.closeLoan(lid, {"from": enterprise})
    tx = ledger.closeLoan(lid, {"from": bank})
    assert tx.events["LoanClosed"] == {"loanId": lid, "borrower": ids["enterprise"], "by": ids["bank"], "borrowerBalance": 0}
    with reverts("InvalidLoanStatus", lid, model.CLOSED):
        ledger.closeLoan(lid, {"from": bank})


def test_default_keeps_counting_until_written_off(xb, ledger, regulator, bank, stranger, ids, record_active):
    e, b = ids["enterprise"], ids["bank"]
    lid, req, _ = record_active(draw=500_00)
    lid2, _, _ = record_active(draw=100_00)
    total = ledger.riskWeightedBalance(e)
    tx = ledger.declareDefault(lid, {"from": bank})
    assert tx.events["LoanDefaulted"] == {"loanId": lid, "borrower": e, "by": b, "creditor": b, "byAgent": False,
                                          "outstanding": 500_00, "borrowerBalance": total}
    assert ledger.riskWeightedBalance(e) == total and ledger.liveLoanOfDocument(req[7]) == lid
    with reverts("InvalidLoanStatus", lid, model.DEFAULTED):
        ledger.drawdown(lid, 1, {"from": bank})
    with reverts("InvalidLoanStatus", lid, model.DEFAULTED):
        ledger.declareDefault(lid, {"from": bank})
    with reverts("AccessControlUnauthorizedAccount", bank.address, REGULATOR_ROLE):
        ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": bank})
    contribution = ledger.getLoan(lid)["contribution"]
    tx = ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    remaining = model.contribution(100_00, USD, 15000)
    assert tx.events["LoanWrittenOff"] == {"loanId": lid, "borrower": e, "by": regulator, "outstanding": 500_00,
                                           "contributionRemoved": contribution, "reason": model.WRITE_OFF_APPROVED,
                                           "borrowerBalance": remaining}
    assert ledger.riskWeightedBalance(e) == remaining and ledger.loanContribution(lid) == 0
    assert ledger.liveLoanOfDocument(req[7]) == 0
    with reverts("InvalidLoanStatus", lid, model.WRITTEN_OFF):
        ledger.writeOff(lid, 0, {"from": regulator})
    with reverts("InvalidLoanStatus", lid2, model.ACTIVE):
        ledger.writeOff(lid2, 0, {"from": regulator})


def test_recovery_on_defaulted_loan_closes_it(xb, ledger, bank, ids, record_active):
    lid, _, _ = record_active(draw=500_00, principal=1_000_00)
    ledger.declareDefault(lid, {"from": bank})
    ledger.repay(lid, 200_00, {"from": bank})
    tx = ledger.repay(lid, 300_00, {"from": bank})
    assert tx.events["LoanClosed"]["by"] == ids["bank"]
    assert ledger.getLoan(lid)["status"] == model.CLOSED and ledger.riskWeightedBalance(ids["enterprise"]) == 0


def test_default_needs_something_outstanding(xb, ledger, bank, ids, record_active):
    lid, _, _ = record_active(draw=0)
    with reverts("NothingOutstanding", lid):
        ledger.declareDefault(lid, {"from": bank})


# ---------------------------------------------------------------- regulator controls


def test_release_document(xb, ledger, regulator, bank, ids, record_active):
    lid, req, _ = record_active(draw=10)
    with reverts("AccessControlUnauthorizedAccount", bank.address, REGULATOR_ROLE):
        ledger.releaseDocument(req[7], model.DOCUMENT_DISPUTE, {"from": bank})
    tx = ledger.releaseDocument(req[7], model.DOCUMENT_DISPUTE, {"from": regulator})
    assert tx.events["DocumentReleased"] == {"documentHash": _hex(req[7]), "loanId": lid,
                                             "reason": model.DOCUMENT_DISPUTE, "by": regulator}
    assert ledger.liveLoanOfDocument(req[7]) == 0 and ledger.getLoan(lid)["status"] == model.ACTIVE
    with reverts("DocumentNotClaimed", req[7]):
        ledger.releaseDocument(req[7], 0, {"from": regulator})
    lid2, _, _ = record_active(document_hash=req[7])
    assert ledger.liveLoanOfDocument(req[7]) == lid2


def test_freeze_drawdowns(xb, ledger, regulator, bank, enterprise, consent, ids, record_active):
    e = ids["enterprise"]
    lid, _, _ = record_active(draw=10)
    tx = ledger.freezeDrawdowns(e, model.SUSPECTED_FRAUD, {"from": regulator})
    assert tx.events["DrawdownsFrozen"] == {"institution": e, "reason": model.SUSPECTED_FRAUD, "by": regulator}
    assert ledger.borrowerPosition(e)["frozen"] is True
    with reverts("BorrowerFrozen", e):
        ledger.drawdown(lid, 1, {"from": bank})
    req = make_request(e, ids["bank"])
    with reverts("BorrowerFrozen", e):
        ledger.recordLoanWithConsent(req, TERMS, 1, consent(enterprise, req, 1), {"from": bank})
    ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank})  # no draw: fine
    ledger.repay(lid, 10, {"from": bank})  # repayments go on
    with reverts("FreezeUnchanged", e, True):
        ledger.freezeDrawdowns(e, 0, {"from": regulator})
    with reverts("AccessControlUnauthorizedAccount", bank.address, REGULATOR_ROLE):
        ledger.unfreezeDrawdowns(e, 0, {"from": bank})
    tx = ledger.unfreezeDrawdowns(e, model.COURT_OR_SANCTIONS, {"from": regulator})
    assert tx.events["DrawdownsUnfrozen"] == {"institution": e, "reason": model.COURT_OR_SANCTIONS, "by": regulator}
    with reverts("FreezeUnchanged", e, False):
        ledger.unfreezeDrawdowns(e, 0, {"from": regulator})
    with reverts("InstitutionNotActive", 99, model.ST_NONE):
        ledger.freezeDrawdowns(99, 0, {"from": regulator})
    ledger.drawdown(lid, 1, {"from": bank})


def test_regulator_controls_work_while_paused(xb, ledger, regulator, bank, ids, record_active, record_pending):
    lid, req, _ = record_active(draw=10)
    pending, _, _ = record_pending()
    ledger.declareDefault(lid, {"from": bank})
    ledger.pause({"from": regulator})
    ledger.freezeDrawdowns(ids["enterprise"], 0, {"from": regulator})
    ledger.releaseDocument(req[7], 0, {"from": regulator})
    ledger.expireLoan(pending, 0, {"from": regulator})
    ledger.writeOff(lid, model.WRITE_OFF_APPROVED, {"from": regulator})
    assert ledger.riskWeightedBalance(ids["enterprise"]) == 0


# ---------------------------------------------------------------- agents


def test_agent_appointment(xb, ledger, registry, regulator, bank, bank2, creditor, enterprise, nbfi, ids):
    c, a = ids["creditor"], ids["bank2"]
    tx = ledger.appointAgent(a, {"from": creditor})
    assert tx.events["AgentAppointed"] == {"principal": c, "agent": a, "wallet": creditor}
    assert ledger.isAgent(c, a) is True and ledger.isAgent(a, c) is False
    with reverts("AgentAlreadyAppointed", c, a):
        ledger.appointAgent(a, {"from": creditor})
    with reverts("InvalidAgent", c, c):
        ledger.appointAgent(c, {"from": creditor})
    with reverts("InvalidAgent", c, ids["nbfi"]):
        ledger.appointAgent(ids["nbfi"], {"from": creditor})  # only banks
    with reverts("InvalidAgent", c, ids["enterprise"]):
        ledger.appointAgent(ids["enterprise"], {"from": creditor})
    with reverts("InstitutionNotActive", 99, model.ST_NONE):
        ledger.appointAgent(99, {"from": creditor})
    tx = ledger.dismissAgent(a, {"from": creditor})
    assert tx.events["AgentDismissed"] == {"principal": c, "agent": a, "wallet": creditor}
    with reverts("NotAnAgent", c, a):
        ledger.dismissAgent(a, {"from": creditor})
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        ledger.appointAgent(ids["bank"], {"from": creditor})


def test_agent_acts_for_creditor(xb, ledger, bank2, creditor, enterprise, ids, consent):
    e, c, a = ids["enterprise"], ids["creditor"], ids["bank2"]
    ledger.appointAgent(a, {"from": creditor})
    req = make_request(e, c, principal=1_000_00)
    tx = ledger.recordLoanWithConsent(req, TERMS, 100_00, consent(enterprise, req, 100_00, submitter=a), {"from": bank2})
    lid = tx.return_value
    assert tx.events["LoanRecorded"]["recorder"] == a and tx.events["LoanDrawn"]["by"] == a
    ledger.repay(lid, 50_00, {"from": bank2})
    tx = ledger.declareDefault(lid, {"from": bank2})
    assert tx.events["LoanDefaulted"]["byAgent"] is True and tx.events["LoanDefaulted"]["creditor"] == c
    ledger.dismissAgent(a, {"from": creditor})
    with reverts("UnauthorizedWallet", bank2.address, a):
        ledger.repay(lid, 1, {"from": bank2})  # dismissal takes effect at once
    ledger.repay(lid, 1, {"from": creditor})


# ---------------------------------------------------------------- pause


def test_pause_blocks_member_writes(xb, ledger, regulator, bank, enterprise, creditor, stranger, ids, record_active, consent):
    lid, req, _ = record_active(draw=10)
    with reverts("AccessControlUnauthorizedAccount", stranger.address, keccak(text="PAUSER_ROLE")):
        ledger.pause({"from": stranger})
    tx = ledger.pause({"from": regulator})
    assert tx.events["Paused"]["account"] == regulator
    sig = consent(enterprise, req, 0)
    calls = [
        lambda: ledger.recordLoan(make_request(ids["enterprise"], ids["bank"]), TERMS, {"from": bank}),
        lambda: ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank}),
        lambda: ledger.confirmLoan(lid, {"from": enterprise}),
        lambda: ledger.drawdown(lid, 1, {"from": bank}),
        lambda: ledger.repay(lid, 1, {"from": bank}),
        lambda: ledger.extendMaturity(lid, 2**32 - 1, {"from": bank}),
        lambda: ledger.extendMaturityWithConsent(lid, 2**32 - 1, sig, {"from": bank}),
        lambda: ledger.cancelLoan(lid, {"from": bank}),
        lambda: ledger.closeLoan(lid, {"from": bank}),
        lambda: ledger.declareDefault(lid, {"from": bank}),
        lambda: ledger.shareTerms(lid, b"\x01", {"from": bank}),
        lambda: ledger.appointAgent(ids["bank2"], {"from": creditor}),
        lambda: ledger.dismissAgent(ids["bank2"], {"from": creditor}),
        lambda: ledger.invalidateConsentNonces(0, 1, {"from": enterprise}),
        lambda: ledger.expireLoan(lid, 0, {"from": stranger}),  # members' housekeeping stops too
    ]
    for call in calls:
        with reverts("EnforcedPause"):
            call()
    ledger.unpause({"from": regulator})
    ledger.drawdown(lid, 1, {"from": bank})


# ---------------------------------------------------------------- views, constructor


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
    assert list(ledger.borrowerPosition(e)) == [bal + tx.events["LoanDrawn"]["contributionAdded"], 1, False]


def test_constructor_zero_addresses(xb, registry, policy, regulator):
    for args in ((ZERO_ADDRESS, registry, policy), (regulator, ZERO_ADDRESS, policy), (regulator, registry, ZERO_ADDRESS)):
        with reverts("ZeroAddress"):
            LoanLedger.deploy(*args, {"from": regulator})
