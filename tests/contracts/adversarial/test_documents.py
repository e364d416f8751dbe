"""Issue #10 item 5: anyone can block anyone's document."""
from brownie import chain

import model
from conftest import DAY, TERMS, make_request, new_doc, reverts


def test_squatter_blocks_document(xb, ledger, bank, bank2, enterprise, nbfi, ids, consent):
    doc = new_doc()
    # a member that is no party to the loan cannot record it at all
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.recordLoan(make_request(ids["enterprise"], ids["bank"], principal=1, document_hash=doc), TERMS, {"from": bank2})
    # its own 1-cent unconsented loan with the document claims nothing ...
    squat = ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], principal=1, document_hash=doc), TERMS,
                              {"from": bank2}).return_value
    assert ledger.liveLoanOfDocument(doc) == 0
    # ... so the real parties go ahead, and the squat can no longer be activated
    req = make_request(ids["enterprise"], ids["bank"], document_hash=doc)
    real = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank}).return_value
    assert ledger.liveLoanOfDocument(doc) == real
    with reverts("DocumentAlreadyBacksLoan", doc, real):
        ledger.confirmLoan(squat, {"from": nbfi})


def test_colluding_pair_squats_document_regulator_releases(xb, ledger, regulator, bank, bank2, enterprise, nbfi, ids, consent):
    """A colluding pair CAN activate a loan with someone else's document: the regulator releases it."""
    doc = new_doc()
    squat = ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], principal=1, document_hash=doc), TERMS,
                              {"from": bank2}).return_value
    ledger.confirmLoan(squat, {"from": nbfi})
    req = make_request(ids["enterprise"], ids["bank"], document_hash=doc)
    with reverts("DocumentAlreadyBacksLoan", doc, squat):
        ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank})
    tx = ledger.releaseDocument(doc, model.DOCUMENT_DISPUTE, {"from": regulator})
    assert tx.events["DocumentReleased"]["loanId"] == squat
    ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank})


def test_stale_unconsented_record_expires(xb, ledger, bank2, stranger, ids):
    """An unconsented record cannot sit forever: anyone expires it after the confirmation window."""
    lid = ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], principal=1), TERMS, {"from": bank2}).return_value
    confirm_by = ledger.getLoan(lid)["confirmBy"]
    with reverts("ConfirmationWindowOpen", lid, confirm_by):
        ledger.expireLoan(lid, 0, {"from": stranger})
    chain.sleep(31 * DAY)
    chain.mine()
    ledger.expireLoan(lid, 0, {"from": stranger})
    with reverts("InvalidLoanStatus", lid, model.EXPIRED):
        ledger.confirmLoan(lid, {"from": bank2})


def test_revoked_squatter_cannot_pin_a_document(xb, ledger, registry, regulator, bank, bank2, enterprise, nbfi, ids, consent):
    """Revoking the squatter used to make the block permanent; a Recorded loan holds nothing."""
    doc = new_doc()
    ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], principal=1, document_hash=doc), TERMS, {"from": bank2})
    registry.revokeInstitution(ids["bank2"], {"from": regulator})
    req = make_request(ids["enterprise"], ids["bank"], document_hash=doc)
    ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0), {"from": bank})
