import brownie
import pytest
from brownie import ZERO_ADDRESS
from eth_utils import keccak

import model
from conftest import IDENTIFIERS, lei, reverts, uscc

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")


def test_register_success(xb, registry, regulator, stranger):
    before = registry.institutionCount()
    ident = lei("9695001234ABCDEFGH")
    tx = registry.registerInstitution(model.ENTERPRISE, ident, b"SG", 123_45, "ACME Pte", stranger, {"from": regulator})
    new_id = tx.return_value
    assert new_id == before + 1
    assert tx.events["InstitutionRegistered"] == {
        "institutionId": new_id, "admin": stranger, "kind": model.ENTERPRISE, "identifier": "0x" + ident.hex(),
        "jurisdiction": "0x" + b"SG".hex(), "capitalBase": 123_45, "name": "ACME Pte",
    }
    assert tx.events["WalletAdded"] == {"institutionId": new_id, "wallet": stranger, "by": regulator}
    inst = registry.getInstitution(new_id)
    assert inst["status"] == model.ST_ACTIVE and inst["admin"] == stranger and inst["walletCount"] == 1
    assert registry.institutionOf(stranger) == new_id
    assert registry.institutionByIdentifier(ident) == new_id


def test_ids_sequential(ids):
    assert [ids[r] for r in ("bank", "bank2", "enterprise", "nbfi", "creditor", "observer")] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("ident,valid", [
    (lei("300300ICBCBANK0001"), True),
    (lei("300300ICBCBANK0001")[:19] + b"0", False),  # wrong check digit
    (b"300300icbcbank000100", False),  # lowercase
    (uscc("91110000100000000A"), True),
    (b"91110000100000000I\x00\x00", False),  # I not in USCC charset
    (b"9111000010000000\x00\x00\x00\x00", False),  # 16 chars
    (b"\x00" * 20, False),
])
def test_identifier_validation(registry, ident, valid):
    assert registry.isValidIdentifier(ident) is valid


def test_register_invalid_identifier(xb, registry, regulator, stranger):
    bad = b"91110000100000000I\x00\x00"
    with reverts("InvalidIdentifier", bad):
        registry.registerInstitution(model.ENTERPRISE, bad, b"CN", 1, "x", stranger, {"from": regulator})


@pytest.mark.parametrize("jur", [b"cn", b"C1", b"\x00\x00"])
def test_register_invalid_jurisdiction(xb, registry, regulator, stranger, jur):
    with reverts("InvalidJurisdiction", jur):
        registry.registerInstitution(model.ENTERPRISE, lei("9695001234ABCDEFGH"), jur, 1, "x", stranger, {"from": regulator})


def test_register_identifier_taken(xb, registry, regulator, stranger, ids):
    with reverts("IdentifierTaken", IDENTIFIERS["bank"], ids["bank"]):
        registry.registerInstitution(model.ENTERPRISE, IDENTIFIERS["bank"], b"CN", 1, "x", stranger, {"from": regulator})


def test_register_admin_already_registered(xb, registry, regulator, bank, ids):
    with reverts("WalletAlreadyRegistered", bank.address, ids["bank"]):
        registry.registerInstitution(model.ENTERPRISE, lei("9695001234ABCDEFGH"), b"CN", 1, "x", bank, {"from": regulator})


def test_register_zero_admin(xb, registry, regulator):
    with reverts("ZeroAddress"):
        registry.registerInstitution(model.ENTERPRISE, lei("9695001234ABCDEFGH"), b"CN", 1, "x", ZERO_ADDRESS, {"from": regulator})


def test_register_requires_regulator(xb, registry, stranger):
    with reverts("AccessControlUnauthorizedAccount", stranger.address, REGULATOR_ROLE):
        registry.registerInstitution(model.ENTERPRISE, lei("9695001234ABCDEFGH"), b"CN", 1, "x", stranger, {"from": stranger})


def test_status_lifecycle(xb, registry, regulator, ids):
    i = ids["enterprise"]
    tx = registry.suspendInstitution(i, {"from": regulator})
    assert tx.events["InstitutionStatusChanged"] == {"institutionId": i, "oldStatus": 1, "newStatus": 2, "by": regulator}
    with reverts("InvalidStatusTransition", i, model.ST_SUSPENDED, model.ST_SUSPENDED):
        registry.suspendInstitution(i, {"from": regulator})
    registry.reinstateInstitution(i, {"from": regulator})
    with reverts("InvalidStatusTransition", i, model.ST_ACTIVE, model.ST_ACTIVE):
        registry.reinstateInstitution(i, {"from": regulator})
    tx = registry.revokeInstitution(i, {"from": regulator})
    assert tx.events["InstitutionStatusChanged"]["newStatus"] == model.ST_REVOKED
    with reverts("InvalidStatusTransition", i, model.ST_REVOKED, model.ST_REVOKED):
        registry.revokeInstitution(i, {"from": regulator})
    with reverts("InvalidStatusTransition", i, model.ST_REVOKED, model.ST_ACTIVE):
        registry.reinstateInstitution(i, {"from": regulator})


@pytest.mark.parametrize("fn", ["suspendInstitution", "reinstateInstitution", "revokeInstitution"])
def test_status_unknown(xb, registry, regulator, fn):
    with reverts("UnknownInstitution", 99):
        getattr(registry, fn)(99, {"from": regulator})


def test_set_capital_base(xb, registry, regulator, ids):
    tx = registry.setCapitalBase(ids["enterprise"], 7, {"from": regulator})
    assert tx.events["CapitalBaseUpdated"] == {"institutionId": ids["enterprise"], "oldCapitalBase": 10_000_000_00, "newCapitalBase": 7}
    assert registry.institutionCore(ids["enterprise"])["capitalBase"] == 7
    with reverts("UnknownInstitution", 0):
        registry.setCapitalBase(0, 7, {"from": regulator})


@pytest.mark.parametrize("by", ["admin", "regulator"])
def test_add_remove_wallet(xb, registry, regulator, bank, stranger, ids, by):
    sender = bank if by == "admin" else regulator
    tx = registry.addWallet(ids["bank"], stranger, {"from": sender})
    assert tx.events["WalletAdded"] == {"institutionId": ids["bank"], "wallet": stranger, "by": sender}
    assert registry.institutionOf(stranger) == ids["bank"]
    assert registry.getInstitution(ids["bank"])["walletCount"] == 2
    tx = registry.removeWallet(ids["bank"], stranger, {"from": sender})
    assert tx.events["WalletRemoved"] == {"institutionId": ids["bank"], "wallet": stranger, "by": sender}
    assert registry.institutionOf(stranger) == 0
    assert registry.getInstitution(ids["bank"])["walletCount"] == 1


def test_wallet_errors(xb, registry, bank, creditor, enterprise_wallet2, stranger, ids):
    b = ids["bank"]
    with reverts("WalletAlreadyRegistered", creditor.address, ids["creditor"]):
        registry.addWallet(b, creditor, {"from": bank})
    with reverts("ZeroAddress"):
        registry.addWallet(b, ZERO_ADDRESS, {"from": bank})
    with reverts("WalletNotRegistered", stranger.address, b):
        registry.removeWallet(b, stranger, {"from": bank})
    with reverts("CannotRemoveAdminWallet", b, bank.address):
        registry.removeWallet(b, bank, {"from": bank})
    # another institution's admin, a non-admin wallet and a stranger may not manage the bank
    with reverts("UnauthorizedWallet", creditor.address, ids["creditor"]):
        registry.addWallet(b, stranger, {"from": creditor})
    with reverts("UnauthorizedWallet", enterprise_wallet2.address, ids["enterprise"]):
        registry.addWallet(ids["enterprise"], stranger, {"from": enterprise_wallet2})
    with reverts("UnauthorizedWallet", stranger.address, 0):
        registry.addWallet(b, stranger, {"from": stranger})
    with reverts("UnknownInstitution", 42):
        registry.addWallet(42, stranger, {"from": bank})


def test_admin_rotation(xb, registry, enterprise, enterprise_wallet2, stranger, ids):
    e = ids["enterprise"]
    tx = registry.setAdminWallet(e, enterprise_wallet2, {"from": enterprise})
    assert tx.events["AdminWalletChanged"] == {"institutionId": e, "oldAdmin": enterprise, "newAdmin": enterprise_wallet2}
    assert "WalletAdded" not in tx.events
    # the old admin can no longer manage; it can be removed by the new admin
    with reverts("UnauthorizedWallet", enterprise.address, e):
        registry.addWallet(e, stranger, {"from": enterprise})
    registry.removeWallet(e, enterprise, {"from": enterprise_wallet2})
    tx = registry.setAdminWallet(e, stranger, {"from": enterprise_wallet2})
    assert tx.events["WalletAdded"] == {"institutionId": e, "wallet": stranger, "by": enterprise_wallet2}
    assert registry.getInstitution(e)["admin"] == stranger


def test_suspended_admin_cannot_manage(xb, registry, regulator, bank, stranger, ids):
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        registry.addWallet(ids["bank"], stranger, {"from": bank})
    registry.addWallet(ids["bank"], stranger, {"from": regulator})  # the regulator still can
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_REVOKED):
        registry.addWallet(ids["bank"], ZERO_ADDRESS, {"from": regulator})


def test_pause_stops_institution_writes(xb, registry, regulator, bank, stranger, ids):
    tx = registry.pause({"from": regulator})
    assert tx.events["Paused"]["account"] == regulator
    with reverts("EnforcedPause"):
        registry.addWallet(ids["bank"], stranger, {"from": bank})
    registry.addWallet(ids["bank"], stranger, {"from": regulator})
    registry.unpause({"from": regulator})
    registry.removeWallet(ids["bank"], stranger, {"from": bank})
    with reverts("AccessControlUnauthorizedAccount", bank.address, PAUSER_ROLE):
        registry.pause({"from": bank})
    with reverts("ExpectedPause"):
        registry.unpause({"from": regulator})


def test_lookup(xb, registry, bank, enterprise, stranger, ids):
    wid, wcore, a, b = registry.lookup(bank, ids["enterprise"], ids["creditor"])
    assert wid == ids["bank"] and wcore[3] == bank
    assert list(a) == [model.ENTERPRISE, model.ST_ACTIVE, 10_000_000_00, enterprise]
    assert b[0] == model.FOREIGN_CREDITOR
    wid, wcore, a, b = registry.lookup(stranger, 0, 0)
    assert wid == 0 and list(wcore) == list(a) == list(b) == [0, 0, 0, ZERO_ADDRESS]
    with reverts("UnknownInstitution", 77):
        registry.getInstitution(77)


def _unpack_core(word):
    """coreWords layout: admin (bits 0-159) | kind (160-167) | status (168-175) | capitalBase (176-239)."""
    return [(word >> 160) & 0xFF, (word >> 168) & 0xFF, (word >> 176) & (2**64 - 1), word & (2**160 - 1)]


def test_core_words_match_lookup(xb, registry, bank, enterprise, stranger, ids):
    for wallet, a, b in ((bank, ids["enterprise"], ids["creditor"]), (enterprise, ids["enterprise"], ids["bank"]),
                         (bank, ids["bank"], ids["bank"]), (stranger, 0, 0), (bank, 77, 0)):
        wid, *words = registry.coreWords(wallet, a, b)
        lwid, *cores = registry.lookup(wallet, a, b)
        assert wid == lwid
        for w, c in zip(words, cores):
            kind, status, capital, admin = _unpack_core(w)
            assert [kind, status, capital, admin] == [c[0], c[1], c[2], int(c[3], 16)]
    assert list(registry.coreWords(stranger, 0, 0)) == [0, 0, 0, 0]
