"""Issue #10 item 9: the smaller gaps."""
from brownie import LoanLedger, MacroPrudentialPolicy, ZERO_ADDRESS

import model
from conftest import TERMS, make_request, reverts


def test_policy_constructor_emits_parameters(regulator):
    p = MacroPrudentialPolicy.deploy(regulator, {"from": regulator})
    assert [(e["parameter"], e["oldValue"], e["newValue"]) for e in p.tx.events["ParameterUpdated"]] == [
        (i, 0, v) for i, (_, v) in enumerate(model.PARAMETERS)]


def test_zero_admin_refused(xb, registry, policy, regulator):
    with reverts("ZeroAddress"):
        MacroPrudentialPolicy.deploy(ZERO_ADDRESS, {"from": regulator})
    with reverts("ZeroAddress"):
        LoanLedger.deploy(ZERO_ADDRESS, registry, policy, {"from": regulator})


def test_drawdown_after_creditor_revoked(xb, ledger, registry, regulator, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=0)
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_REVOKED):
        ledger.drawdown(lid, 1, {"from": enterprise})


def test_drawdown_after_recorder_revoked(xb, ledger, registry, regulator, bank, bank2, enterprise, ids, consent):
    """The creditor's agent recorded the loan and is revoked: it can act no more (the recorder has no
    rights of its own; the borrower still draws from its Active creditor)."""
    ledger.appointAgent(ids["bank2"], {"from": bank})
    req = make_request(ids["enterprise"], ids["bank"])
    lid = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0, submitter=ids["bank2"]),
                                       {"from": bank2}).return_value
    registry.revokeInstitution(ids["bank2"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank2"], model.ST_REVOKED):
        ledger.drawdown(lid, 1, {"from": bank2})
    ledger.drawdown(lid, 1, {"from": enterprise})


def test_uscc_check_character(xb, registry, regulator, stranger):
    bad = b"91110000100000000A\x00\x00"  # charset fine, check character should be R
    assert registry.isValidIdentifier(bad) is False
    with reverts("InvalidIdentifier", bad):
        registry.registerInstitution(model.ENTERPRISE, bad, b"CN", 1, "x", stranger, (0, b""), {"from": regulator})
    assert registry.isValidIdentifier(b"91110000100000000R\x00\x00") is True


def test_zero_weight_drawdown_over_limit_after_tightening(xb, ledger, policy, regulator, enterprise, ids, record_active):
    e = ids["enterprise"]
    record_active(draw=30_000_000_00, principal=30_000_000_00, currency=b"CNY")
    trade, _, _ = record_active(draw=0, financing_type=4)
    weighted, _, _ = record_active(draw=0, currency=b"CNY", principal=10)
    policy.setParameter(model.PARAM_INDEX["AdjustmentEnterprise"], 5000, {"from": regulator})
    limit = ledger.borrowingLimit(e)
    assert ledger.riskWeightedBalance(e) > limit
    ledger.drawdown(trade, 1_000_000_00, {"from": enterprise})  # adds nothing: allowed
    with reverts("BorrowingLimitExceeded", e, 30_000_000_00 + 1, limit):
        ledger.drawdown(weighted, 1, {"from": enterprise})
