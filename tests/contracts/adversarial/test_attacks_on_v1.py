"""Issue #10, written against the v1 ABI BEFORE the fix: each test performs one attack of the issue
and asserts what a sound ledger must do. On the v1 contracts every test here FAILS (the attack
succeeds); this file is replaced by the per-attack files of the v2 ABI in the next commits."""
import brownie
from brownie import MacroPrudentialPolicy, LoanLedger, ZERO_ADDRESS, chain
from brownie.exceptions import VirtualMachineError
import pytest

import model
from conftest import DAY, RATES, TERMS, make_request, sign_consent


def _succeeds(fn):
    try:
        fn()
        return True
    except VirtualMachineError:
        return False


# 1 ------------------------------------------------------------------------------------------
def test_bank_borrower_writes_off_own_debt(xb, ledger, bank, creditor, ids):
    b = ids["bank"]
    limit = ledger.borrowingLimit(b)
    req = make_request(b, ids["creditor"], currency=b"CNY", principal=limit)
    lid = ledger.recordLoan(req, TERMS, {"from": bank}).return_value  # the bank records its own debt
    ledger.confirmLoan(lid, {"from": bank})
    ledger.drawdown(lid, limit, {"from": bank})
    assert not _succeeds(lambda: ledger.declareDefault(lid, {"from": bank})), "borrower wrote off its own debt"
    assert ledger.riskWeightedBalance(b) == limit


# 2 ------------------------------------------------------------------------------------------
def test_frontrunner_submits_someone_elses_consent(xb, ledger, bank, bank2, enterprise, ids):
    req = make_request(ids["enterprise"], ids["bank"])
    deadline = chain.time() + 3600
    sig = sign_consent(ledger, enterprise, req, 0, 0, deadline)
    # bank2 saw the signature meant for bank and submits it first
    assert not _succeeds(lambda: ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank2}))


# 3 ------------------------------------------------------------------------------------------
def test_named_creditor_never_agrees(xb, ledger, bank2, enterprise, ids):
    req = make_request(ids["enterprise"], ids["bank"])  # creditor: bank, which never hears of it
    lid = ledger.recordLoan(req, TERMS, {"from": bank2}).return_value
    ledger.confirmLoan(lid, {"from": enterprise})
    assert ledger.getLoan(lid)["status"] != model.ACTIVE, "live without the creditor's consent"


def test_borrower_fakes_repayment(xb, ledger, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=1_000_00)
    assert not _succeeds(lambda: ledger.repay(lid, 1_000_00, {"from": enterprise})), "borrower freed its own limit"


# 4 ------------------------------------------------------------------------------------------
def test_stale_rate_drawn_after_revaluation(xb, ledger, policy, regulator, bank, ids, record_active):
    lid, _, _ = record_active(draw=0, principal=1_000_000_00)
    policy.setReferenceRate(b"USD", 2 * RATES[b"USD"], {"from": regulator})
    ledger.drawdown(lid, 1_000_000_00, {"from": bank})
    expected = model.contribution(1_000_000_00, 2 * RATES[b"USD"], 15000)
    assert ledger.riskWeightedBalance(ids["enterprise"]) == expected, "drawn at the recording-date rate"


def test_drawdown_after_maturity(xb, ledger, bank, ids, record_active):
    lid, req, _ = record_active(draw=0, term_days=1, value_date=chain.time() - 10 * DAY)
    assert not _succeeds(lambda: ledger.drawdown(lid, 1, {"from": bank})), "drawn after maturity"


# 5 ------------------------------------------------------------------------------------------
def test_squatter_blocks_document(xb, ledger, bank, bank2, enterprise, ids, consent):
    doc = b"\x42" * 32
    ledger.recordLoan(make_request(ids["nbfi"], ids["bank2"], principal=1, document_hash=doc), TERMS, {"from": bank2})
    req = make_request(ids["enterprise"], ids["bank"], document_hash=doc)
    sig, deadline = consent(enterprise, req, 0)
    assert _succeeds(lambda: ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank})), \
        "an unconsented 1-cent record blocks the real loan's document"


# 6 ------------------------------------------------------------------------------------------
def test_wallet_squatting(xb, registry, bank, stranger, ids):
    # bank's admin pre-claims an address it holds no key for
    assert not _succeeds(lambda: registry.addWallet(ids["bank"], stranger, {"from": bank}))


# 7 ------------------------------------------------------------------------------------------
def test_extension_past_a_year_frees_headroom(xb, ledger, bank, ids, record_active):
    lid, req, _ = record_active(draw=1_000_000_00, principal=1_000_000_00, term_days=365)
    before = ledger.riskWeightedBalance(ids["enterprise"])
    ledger.extendMaturity(lid, req[5] + 1, {"from": bank})
    assert ledger.riskWeightedBalance(ids["enterprise"]) >= before, "a 1-second extension freed headroom"


def test_leap_year_loan_counted_long_term(xb, policy):
    # 2027-03-01 -> 2028-03-01 is one calendar year (366 days): short-term, weight 1.5 + 0.5
    assert policy.combinedWeight(b"USD", 1, 366 * DAY) == 20000


# 8 ------------------------------------------------------------------------------------------
def test_revived_consent_after_reinstatement(xb, ledger, registry, regulator, bank, enterprise, ids):
    req = make_request(ids["enterprise"], ids["bank"])
    deadline = chain.time() + 3600
    sig = sign_consent(ledger, enterprise, req, 0, 0, deadline)
    registry.suspendInstitution(ids["enterprise"], {"from": regulator})
    registry.reinstateInstitution(ids["enterprise"], {"from": regulator})
    assert not _succeeds(lambda: ledger.recordLoanWithConsent(req, TERMS, 0, deadline, sig, {"from": bank}))


# 9 ------------------------------------------------------------------------------------------
def test_policy_constructor_emits_parameters(regulator):
    p = MacroPrudentialPolicy.deploy(regulator, {"from": regulator})
    assert len(p.tx.events["ParameterUpdated"]) == len(model.PARAMETERS) if "ParameterUpdated" in p.tx.events else False


def test_zero_admin_accepted(xb, registry, policy, regulator):
    assert not _succeeds(lambda: MacroPrudentialPolicy.deploy(ZERO_ADDRESS, {"from": regulator}))
    assert not _succeeds(lambda: LoanLedger.deploy(ZERO_ADDRESS, registry, policy, {"from": regulator}))


def test_drawdown_after_creditor_revoked(xb, ledger, registry, regulator, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=0)
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    assert not _succeeds(lambda: ledger.drawdown(lid, 1, {"from": enterprise}))


def test_uscc_check_character(registry):
    assert registry.isValidIdentifier(b"91110000100000000A\x00\x00") is False  # check character is 0


def test_zero_weight_drawdown_over_limit_after_tightening(xb, ledger, policy, regulator, bank, enterprise, ids, record_active):
    lid, _, _ = record_active(draw=30_000_000_00, principal=30_000_000_00, currency=b"CNY")
    trade, _, _ = record_active(draw=0, financing_type=4)
    policy.setParameter(model.PARAM_INDEX["AdjustmentEnterprise"], 5000, {"from": regulator})
    assert _succeeds(lambda: ledger.drawdown(trade, 1_000_00, {"from": enterprise})), "weight-0 drawdown refused"
