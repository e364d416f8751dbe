"""Confidential terms, on-chain side: encryption keys in the registry (history, rotation, who may set
them), the stored terms commitment and `shareTerms` on the ledger (docs/confidential-terms.md)."""
import pytest
from eth_utils import keccak

from conftest import TERMS, make_request, reverts

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
K1, K2, K3 = (bytes([i]) * 32 for i in (0xA1, 0xA2, 0xA3))


def _hex(b):
    return "0x" + b.hex()


def _key(registry, institution_id):
    key, version = registry.encryptionKey(institution_id)
    return str(key), int(version)


# ---------------------------------------------------------------- registry: encryption keys


def test_no_key_yet(xb, registry, ids):
    assert _key(registry, ids["bank"]) == (_hex(b"\0" * 32), 0)
    with reverts("UnknownEncryptionKey", ids["bank"], 1, 0):
        registry.encryptionKeyAt(ids["bank"], 1)


def test_admin_sets_and_rotates_key_history_kept(xb, registry, bank, ids):
    b = ids["bank"]
    tx = registry.setEncryptionKey(b, K1, {"from": bank})
    assert tx.return_value == 1
    assert tx.events["EncryptionKeyRegistered"] == {"institutionId": b, "version": 1, "publicKey": _hex(K1), "by": bank}
    tx = registry.setEncryptionKey(b, K2, {"from": bank})
    assert tx.return_value == 2
    assert _key(registry, b) == (_hex(K2), 2)
    assert registry.encryptionKeyAt(b, 1) == _hex(K1)
    assert registry.encryptionKeyAt(b, 2) == _hex(K2)
    with reverts("UnknownEncryptionKey", b, 3, 2):
        registry.encryptionKeyAt(b, 3)
    with reverts("UnknownEncryptionKey", b, 0, 2):
        registry.encryptionKeyAt(b, 0)


def test_regulator_sets_an_institutions_key(xb, registry, regulator, ids):
    tx = registry.setEncryptionKey(ids["enterprise"], K3, {"from": regulator})
    assert tx.events["EncryptionKeyRegistered"]["by"] == regulator
    assert _key(registry, ids["enterprise"]) == (_hex(K3), 1)


def test_regulator_key_is_institution_zero(xb, registry, regulator, bank, ids):
    tx = registry.setEncryptionKey(0, K1, {"from": regulator})
    assert tx.events["EncryptionKeyRegistered"] == {"institutionId": 0, "version": 1, "publicKey": _hex(K1),
                                                    "by": regulator}
    assert _key(registry, 0) == (_hex(K1), 1)
    with reverts("AccessControlUnauthorizedAccount", bank.address, REGULATOR_ROLE):
        registry.setEncryptionKey(0, K2, {"from": bank})


@pytest.mark.parametrize("role", ["bank2", "enterprise_wallet2", "stranger"])
def test_others_cannot_set_a_key(xb, registry, bank2, enterprise_wallet2, stranger, ids, role):
    caller = {"bank2": bank2, "enterprise_wallet2": enterprise_wallet2, "stranger": stranger}[role]
    owner = {"bank2": ids["bank2"], "enterprise_wallet2": ids["enterprise"], "stranger": 0}[role]
    with reverts("UnauthorizedWallet", caller.address, owner):
        registry.setEncryptionKey(ids["bank"], K1, {"from": caller})


def test_key_rules(xb, registry, regulator, bank, ids):
    with reverts("InvalidEncryptionKey", b"\0" * 32):
        registry.setEncryptionKey(ids["bank"], b"\0" * 32, {"from": bank})
    with reverts("UnknownInstitution", 99):
        registry.setEncryptionKey(99, K1, {"from": regulator})
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], 2):
        registry.setEncryptionKey(ids["bank"], K1, {"from": bank})
    registry.setEncryptionKey(ids["bank"], K1, {"from": regulator})  # the regulator still may
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], 3):
        registry.setEncryptionKey(ids["bank"], K2, {"from": regulator})


def test_paused_registry_stops_admin_not_regulator(xb, registry, regulator, bank, ids):
    registry.pause({"from": regulator})
    with reverts("EnforcedPause"):
        registry.setEncryptionKey(ids["bank"], K1, {"from": bank})
    registry.setEncryptionKey(ids["bank"], K1, {"from": regulator})


# ---------------------------------------------------------------- ledger: commitment and shareTerms


def test_commitment_stored_for_both_record_paths(xb, ledger, record_active, record_pending):
    lid, req, _ = record_active(terms_hash=keccak(text="active terms"))
    assert ledger.termsCommitment(lid) == _hex(req[8])
    lid2, req2, _ = record_pending(terms_hash=keccak(text="pending terms"))
    assert ledger.termsCommitment(lid2) == _hex(req2[8])
    assert ledger.termsCommitment(lid2 + 1) == _hex(b"\0" * 32)


@pytest.mark.parametrize("role", ["bank", "enterprise", "enterprise_wallet2"])
def test_parties_share_terms(xb, ledger, bank, enterprise, enterprise_wallet2, ids, record_active, role):
    lid, _, _ = record_active()
    caller = {"bank": bank, "enterprise": enterprise, "enterprise_wallet2": enterprise_wallet2}[role]
    tx = ledger.shareTerms(lid, b"\x01envelope", {"from": caller})
    by = ids["bank"] if role == "bank" else ids["enterprise"]
    assert tx.events["TermsShared"] == {"loanId": lid, "borrower": ids["enterprise"], "by": by,
                                        "envelope": _hex(b"\x01envelope")}


def test_share_terms_any_status_but_none(xb, ledger, bank, ids, record_active):
    lid, _, _ = record_active()
    ledger.cancelLoan(lid, {"from": bank})
    assert ledger.shareTerms(lid, b"\x01", {"from": bank}).status == 1  # history stays shareable
    missing = (ids["enterprise"] << 32) | 77
    with reverts("InvalidLoanStatus", missing, 0):
        ledger.shareTerms(missing, b"\x01", {"from": bank})


def test_share_terms_rules(xb, ledger, registry, regulator, bank, bank2, creditor, ids, record_active):
    lid, _, _ = record_active()
    with reverts("EmptyEnvelope", lid):
        ledger.shareTerms(lid, b"", {"from": bank})
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.shareTerms(lid, b"\x01", {"from": bank2})
    with reverts("UnauthorizedWallet", creditor.address, ids["creditor"]):
        ledger.shareTerms(lid, b"\x01", {"from": creditor})
    with reverts("UnauthorizedWallet", regulator.address, 0):
        ledger.shareTerms(lid, b"\x01", {"from": regulator})
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], 2):
        ledger.shareTerms(lid, b"\x01", {"from": bank})
    ledger.pause({"from": regulator})
    with reverts("EnforcedPause"):
        ledger.shareTerms(lid, b"\x01", {"from": bank})


def test_agent_shares_dismissed_recorder_may_not(xb, ledger, bank2, creditor, enterprise, ids, consent):
    """Creditor = the foreign creditor, which appointed bank2 as its agent; bank2 recorded the loan.
    The borrower, the creditor and the current agent share; once dismissed, the recorder may not."""
    ledger.appointAgent(ids["bank2"], {"from": creditor})
    req = make_request(ids["enterprise"], ids["creditor"])
    lid = ledger.recordLoanWithConsent(req, TERMS, 0, consent(enterprise, req, 0, submitter=ids["bank2"]),
                                       {"from": bank2}).return_value
    assert ledger.shareTerms(lid, b"\x01", {"from": bank2}).events["TermsShared"]["by"] == ids["bank2"]
    assert ledger.shareTerms(lid, b"\x01", {"from": creditor}).events["TermsShared"]["by"] == ids["creditor"]
    assert ledger.termsCommitment(lid) == _hex(req[8])
    ledger.dismissAgent(ids["bank2"], {"from": creditor})
    with reverts("UnauthorizedWallet", bank2.address, ids["bank2"]):
        ledger.shareTerms(lid, b"\x01", {"from": bank2})
