"""Issue #10 items 2, 3 and 8: who may submit a consent, the creditor's consent, revocation."""
from brownie import chain
from eth_account import Account
from eth_account.messages import encode_typed_data

import model
from conftest import DAY, IDENTIFIERS, TERMS, bind_proof, make_request, reverts, reverts_at_block_time, sign_extension, today


def test_frontrunner_submits_someone_elses_consent(xb, ledger, bank, bank2, enterprise, ids, consent):
    req = make_request(ids["enterprise"], ids["bank"])
    sig = consent(enterprise, req, 0)  # names the bank as submitter
    with reverts("ConsentSubmitterMismatch", ids["bank"], ids["bank2"]):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank2})
    # even a bank2 that rewrites the creditor to itself: the signature does not match
    req2 = (req[0], ids["bank2"]) + req[2:]
    with reverts("ConsentSubmitterMismatch", ids["bank"], ids["bank2"]):
        ledger.recordLoanWithConsent(req2, TERMS, 0, sig, {"from": bank2})
    ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def _recovered(data, signature):
    """The address `signature` recovers to over typed data the borrower never signed."""
    return Account.recover_message(encode_typed_data(full_message=data), signature=signature)


def test_frontrunner_rewrites_the_named_submitter(xb, ledger, bank, bank2, enterprise, ids, consent):
    """The front-runner copies the consent and puts its own id in the submitter field (as the
    creditor's agent, or also rewriting the creditor to itself): the borrower signed neither."""
    e, b, b2 = ids["enterprise"], ids["bank"], ids["bank2"]
    req = make_request(e, b)
    sig = consent(enterprise, req, 0)  # names the bank
    forged = (b2,) + sig[1:]
    ledger.appointAgent(b2, {"from": bank})  # lender side of the bank's loans: only the submitter is wrong
    signer = _recovered(model.consent_typed_data(req, 0, b2, *sig[1:4], chain.id, ledger.address), sig[4])
    with reverts("InvalidBorrowerSignature", signer, e):
        ledger.recordLoanWithConsent(req, TERMS, 0, forged, {"from": bank2})
    ledger.dismissAgent(b2, {"from": bank})
    req2 = (e, b2) + req[2:]  # bank2 as creditor and submitter
    signer = _recovered(model.consent_typed_data(req2, 0, b2, *sig[1:4], chain.id, ledger.address), sig[4])
    with reverts("InvalidBorrowerSignature", signer, e):
        ledger.recordLoanWithConsent(req2, TERMS, 0, forged, {"from": bank2})
    ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})  # the honest submission still lands


def test_frontrunner_rewrites_extension_submitter(xb, ledger, bank, bank2, enterprise, ids, record_active):
    lid, req, _ = record_active(term_days=180)
    new_maturity = model.add_one_year(req[4]) + DAY
    sig = sign_extension(ledger, enterprise, ids["bank"], lid, new_maturity)
    ledger.appointAgent(ids["bank2"], {"from": bank})
    forged = (ids["bank2"],) + sig[1:]
    data = model.extension_consent_typed_data(ids["bank2"], lid, new_maturity, *sig[1:4], chain.id, ledger.address)
    with reverts("InvalidBorrowerSignature", _recovered(data, sig[4]), ids["enterprise"]):
        ledger.extendMaturityWithConsent(lid, new_maturity, forged, {"from": bank2})
    ledger.extendMaturityWithConsent(lid, new_maturity, sig, {"from": bank})


def test_consent_naming_no_submitter(xb, ledger, bank, bank2, enterprise, ids, consent, record_active):
    """A consent must name the institution that may submit it: one naming nobody (submitter 0) is not a
    bearer consent that any lender side may submit, neither for a record nor for an extension."""
    e, b = ids["enterprise"], ids["bank"]
    req = make_request(e, b)
    sig = consent(enterprise, req, 0, submitter=0)
    ledger.appointAgent(ids["bank2"], {"from": bank})
    for wallet, inst in ((bank, b), (bank2, ids["bank2"])):
        with reverts("ConsentSubmitterMismatch", 0, inst):
            ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": wallet})
    lid, loan_req, _ = record_active(term_days=180)
    new_maturity = model.add_one_year(loan_req[4]) + DAY
    ext = sign_extension(ledger, enterprise, 0, lid, new_maturity)
    with reverts("ConsentSubmitterMismatch", 0, b):
        ledger.extendMaturityWithConsent(lid, new_maturity, ext, {"from": bank})


def test_frontrunning_agent_of_the_same_creditor(xb, ledger, regulator, bank, bank2, bank3, enterprise, ids, consent):
    """Two agents of one creditor are both lender side: the consent still names one of them."""
    from conftest import KIND, register

    bank3_id = register(xb["registry"], regulator, KIND["bank"], IDENTIFIERS["bank3"], bank3, 10**12)
    ledger.appointAgent(ids["bank2"], {"from": bank})
    ledger.appointAgent(bank3_id, {"from": bank})
    req = make_request(ids["enterprise"], ids["bank"])
    sig = consent(enterprise, req, 0, submitter=ids["bank2"])
    with reverts("ConsentSubmitterMismatch", ids["bank2"], bank3_id):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank3})


def test_frontrunner_submits_extension_consent(xb, ledger, bank, bank2, enterprise, ids, record_active):
    lid, req, _ = record_active(term_days=180)
    new_maturity = model.add_one_year(req[4]) + DAY
    sig = sign_extension(ledger, enterprise, ids["bank"], lid, new_maturity)
    ledger.appointAgent(ids["bank2"], {"from": bank})  # even a lender-side agent
    with reverts("ConsentSubmitterMismatch", ids["bank"], ids["bank2"]):
        ledger.extendMaturityWithConsent(lid, new_maturity, sig, {"from": bank2})


def test_replayed_consent(xb, ledger, bank, enterprise, ids, consent):
    req = make_request(ids["enterprise"], ids["bank"])
    sig = consent(enterprise, req, 0)
    lid = ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank}).return_value
    ledger.cancelLoan(lid, {"from": bank})  # the document is free again: only the nonce stops a replay
    with reverts("ConsentNonceUsed", ids["enterprise"], sig[1]):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def test_named_creditor_never_agrees(xb, ledger, bank, bank2, enterprise, ids, record_pending):
    """A bank cannot record for a creditor that did not appoint it, and a borrower's record stays
    Recorded (no drawdown, no document) until the named creditor consents."""
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.recordLoan(make_request(ids["enterprise"], ids["bank"]), TERMS, {"from": bank2})
    lid, req, _ = record_pending(sender=enterprise)
    with reverts("AlreadyConsented", lid, model.BORROWER_SIDE):
        ledger.confirmLoan(lid, {"from": enterprise})
    with reverts("InvalidLoanStatus", lid, model.RECORDED):
        ledger.drawdown(lid, 1, {"from": enterprise})
    assert ledger.liveLoanOfDocument(req[7]) == 0
    ledger.confirmLoan(lid, {"from": bank})
    assert ledger.getLoan(lid)["status"] == model.ACTIVE


def test_borrower_fakes_repayment(xb, ledger, enterprise, enterprise_wallet2, ids, record_active):
    lid, _, _ = record_active(draw=1_000_00)
    for wallet in (enterprise, enterprise_wallet2):
        with reverts("UnauthorizedWallet", wallet.address, ids["enterprise"]):
            ledger.repay(lid, 1_000_00, {"from": wallet})


def test_revived_consent_after_reinstatement(xb, ledger, registry, regulator, bank, enterprise, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"])
    sig = consent(enterprise, req, 0)
    registry.suspendInstitution(e, {"from": regulator})
    registry.reinstateInstitution(e, {"from": regulator})
    with reverts("ConsentRevoked", e, 0, 2):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def test_revived_consent_after_wallet_readded(xb, ledger, registry, bank, enterprise, enterprise_wallet2, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"])
    sig = consent(enterprise_wallet2, req, 0)
    registry.removeWallet(e, enterprise_wallet2, {"from": enterprise})
    registry.addWallet(e, enterprise_wallet2, bind_proof(registry, enterprise_wallet2, IDENTIFIERS["enterprise"]),
                       {"from": enterprise})
    with reverts("ConsentRevoked", e, 0, 1):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def test_signer_revokes_outstanding_consents(xb, ledger, registry, bank, enterprise, ids, consent, record_active):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"])
    sig = consent(enterprise, req, 0)
    lid, loan_req, _ = record_active(term_days=180)
    new_maturity = model.add_one_year(loan_req[4]) + DAY
    ext = sign_extension(ledger, enterprise, ids["bank"], lid, new_maturity)
    registry.revokeSignatures(e, {"from": enterprise})
    with reverts("ConsentRevoked", e, 0, 1):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})
    with reverts("ConsentRevoked", e, 0, 1):
        ledger.extendMaturityWithConsent(lid, new_maturity, ext, {"from": bank})


def test_single_consent_withdrawn(xb, ledger, bank, enterprise, ids, consent):
    e = ids["enterprise"]
    req = make_request(e, ids["bank"])
    sig = consent(enterprise, req, 0, nonce=2**40 + 5)
    ledger.invalidateConsentNonces((2**40 + 5) >> 8, 1 << 5, {"from": enterprise})
    with reverts("ConsentNonceUsed", e, 2**40 + 5):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})


def test_consent_past_its_deadline(xb, ledger, bank, enterprise, ids, consent):
    req = make_request(ids["enterprise"], ids["bank"])
    sig = consent(enterprise, req, 0, deadline=today() - DAY)
    with reverts_at_block_time("SignatureExpired", sig[3]):
        ledger.recordLoanWithConsent(req, TERMS, 0, sig, {"from": bank})
