import pytest
from brownie import ZERO_ADDRESS, chain
from eth_utils import keccak

import model
from conftest import DAY, IDENTIFIERS, today, NO_PROOF, bind_proof, lei, reverts, reverts_at_block_time, uscc

REGULATOR_ROLE = keccak(text="REGULATOR_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
NEW_LEI = lei("9695001234ABCDEFGH")


def _register(registry, regulator, wallet, ident=NEW_LEI, kind=model.ENTERPRISE, proof=None, sender=None, **kw):
    proof = bind_proof(registry, wallet, ident) if proof is None else proof
    return registry.registerInstitution(kind, ident, kw.get("jur", b"SG"), kw.get("capital", 123_45),
                                        kw.get("name", "ACME Pte"), wallet, proof, {"from": sender or regulator})


def test_register_success(xb, registry, regulator, stranger):
    before = registry.institutionCount()
    tx = _register(registry, regulator, stranger)
    new_id = tx.return_value
    assert new_id == before + 1
    assert tx.events["InstitutionRegistered"] == {
        "institutionId": new_id, "admin": stranger, "kind": model.ENTERPRISE, "identifier": "0x" + NEW_LEI.hex(),
        "jurisdiction": "0x" + b"SG".hex(), "capitalBase": 123_45, "name": "ACME Pte",
    }
    assert tx.events["WalletAdded"] == {"institutionId": new_id, "wallet": stranger, "by": regulator}
    inst = registry.getInstitution(new_id)
    assert inst["status"] == model.ST_ACTIVE and inst["admin"] == stranger and inst["walletCount"] == 1
    assert inst["signatureEpoch"] == 0
    assert registry.institutionOf(stranger) == new_id
    assert registry.institutionByIdentifier(NEW_LEI) == new_id
    assert registry.bindingNonce(stranger) == 1  # the proof's nonce is consumed


def test_ids_sequential(ids):
    assert [ids[r] for r in ("bank", "bank2", "enterprise", "nbfi", "creditor", "observer")] == [1, 2, 3, 4, 5, 6]


def _uscc_raw(code18):
    return code18.encode() + b"\x00\x00"


@pytest.mark.parametrize("ident,valid", [
    (lei("300300ICBCBANK0001"), True),
    (lei("300300ICBCBANK0001")[:19] + b"0", False),  # wrong check digit
    (b"300300icbcbank000100", False),  # lowercase
    (uscc("91110000100000000"), True),
    (_uscc_raw("91110000100000000R"), True),  # the check character of 91110000100000000 is R
    (_uscc_raw("91110000100000000A"), False),  # right charset, wrong check character
    (_uscc_raw("91350100M000100Y43"), True),  # a published code (GB 32100-2015 example)
    (_uscc_raw("91350100M000100Y44"), False),
    (b"91110000100000000I\x00\x00", False),  # I not in USCC charset
    (b"9111000010000000\x00\x00\x00\x00", False),  # 16 chars
    (b"\x00" * 20, False),
])
def test_identifier_validation(registry, ident, valid):
    assert registry.isValidIdentifier(ident) is valid


def test_register_invalid_identifier(xb, registry, regulator, stranger):
    bad = _uscc_raw("91110000100000000A")  # check character must be R
    with reverts("InvalidIdentifier", bad):
        _register(registry, regulator, stranger, ident=bad, proof=NO_PROOF)


@pytest.mark.parametrize("jur", [b"cn", b"C1", b"\x00\x00"])
def test_register_invalid_jurisdiction(xb, registry, regulator, stranger, jur):
    with reverts("InvalidJurisdiction", jur):
        _register(registry, regulator, stranger, jur=jur)


def test_register_identifier_taken(xb, registry, regulator, stranger, ids):
    with reverts("IdentifierTaken", IDENTIFIERS["bank"], ids["bank"]):
        _register(registry, regulator, stranger, ident=IDENTIFIERS["bank"])


def test_register_admin_already_registered(xb, registry, regulator, bank, ids):
    with reverts("WalletAlreadyRegistered", bank.address, ids["bank"]):
        _register(registry, regulator, bank)


def test_register_zero_admin(xb, registry, regulator):
    with reverts("ZeroAddress"):
        registry.registerInstitution(model.ENTERPRISE, NEW_LEI, b"CN", 1, "x", ZERO_ADDRESS, NO_PROOF, {"from": regulator})


def test_register_requires_regulator(xb, registry, stranger):
    with reverts("AccessControlUnauthorizedAccount", stranger.address, REGULATOR_ROLE):
        _register(registry, stranger, stranger)


def test_register_proof_rules(xb, registry, regulator, stranger, funded):
    signer = funded["stranger_signer"]
    # signed by another key
    with reverts("InvalidWalletProof", stranger.address, signer.address):
        _register(registry, regulator, stranger, proof=bind_proof(registry, stranger, NEW_LEI, signer=signer))
    # signed for another institution's identifier
    other = lei("9695009999ZZZZZZZZ")
    proof = bind_proof(registry, stranger, other)
    tx = _register(registry, regulator, stranger, ident=other, proof=proof)
    assert tx.status == 1
    # expired
    deadline = today() - DAY
    with reverts_at_block_time("SignatureExpired", deadline):
        _register(registry, regulator, signer, proof=bind_proof(registry, signer, NEW_LEI, deadline=deadline))
    # garbage signature: recovers to nothing
    with reverts("InvalidWalletProof", signer.address, ZERO_ADDRESS):
        _register(registry, regulator, signer, proof=(chain.time() + 60, b"\x01" * 65))


def test_proof_is_single_use(xb, registry, regulator, bank, stranger, ids):
    """A proof carries the wallet's binding nonce: once used (even if the wallet is removed later)
    it cannot bind the wallet again."""
    proof = bind_proof(registry, stranger, IDENTIFIERS["bank"])
    registry.addWallet(ids["bank"], stranger, proof, {"from": bank})
    registry.removeWallet(ids["bank"], stranger, {"from": bank})
    replay_signer = _recover_binding(registry, stranger, IDENTIFIERS["bank"], 1, proof)
    with reverts("InvalidWalletProof", stranger.address, replay_signer):
        registry.addWallet(ids["bank"], stranger, proof, {"from": bank})
    registry.addWallet(ids["bank"], stranger, bind_proof(registry, stranger, IDENTIFIERS["bank"]), {"from": bank})


def _recover_binding(registry, wallet, identifier, nonce, proof):
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    data = model.wallet_binding_typed_data(identifier, wallet.address, nonce, proof[0], chain.id, registry.address)
    return Account.recover_message(encode_typed_data(full_message=data), signature=proof[1])


def test_binding_digest_matches_eip712(xb, registry, stranger):
    from eth_account.messages import encode_typed_data

    data = model.wallet_binding_typed_data(NEW_LEI, stranger.address, 7, 999, chain.id, registry.address)
    msg = encode_typed_data(full_message=data)
    assert registry.walletBindingDigest(NEW_LEI, stranger, 7, 999) == "0x" + keccak(b"\x19\x01" + msg.header + msg.body).hex()


def test_eip5267_domain(registry):
    fields, name, version, chain_id, contract, salt, extensions = registry.eip712Domain()
    assert (fields, name, version, chain_id, contract) == ("0x0f", "xborder InstitutionRegistry", "2", chain.id, registry.address)
    assert salt == "0x" + "00" * 32 and list(extensions) == []


def test_status_lifecycle(xb, registry, regulator, ids):
    i = ids["enterprise"]
    tx = registry.suspendInstitution(i, {"from": regulator})
    assert tx.events["InstitutionStatusChanged"] == {"institutionId": i, "oldStatus": 1, "newStatus": 2, "by": regulator}
    assert tx.events["SignatureEpochChanged"] == {"institutionId": i, "epoch": 1, "by": regulator}
    with reverts("InvalidStatusTransition", i, model.ST_SUSPENDED, model.ST_SUSPENDED):
        registry.suspendInstitution(i, {"from": regulator})
    tx = registry.reinstateInstitution(i, {"from": regulator})
    assert tx.events["SignatureEpochChanged"]["epoch"] == 2
    with reverts("InvalidStatusTransition", i, model.ST_ACTIVE, model.ST_ACTIVE):
        registry.reinstateInstitution(i, {"from": regulator})
    tx = registry.revokeInstitution(i, {"from": regulator})
    assert tx.events["InstitutionStatusChanged"]["newStatus"] == model.ST_REVOKED
    assert registry.signatureEpoch(i) == 3
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
    assert registry.getInstitution(ids["enterprise"])["capitalBase"] == 7
    assert _unpack_core(registry.institutionCore(ids["enterprise"]))[2] == 7
    with reverts("UnknownInstitution", 0):
        registry.setCapitalBase(0, 7, {"from": regulator})


@pytest.mark.parametrize("by", ["admin", "regulator"])
def test_add_remove_wallet(xb, registry, regulator, bank, stranger, ids, by):
    sender = bank if by == "admin" else regulator
    b = ids["bank"]
    tx = registry.addWallet(b, stranger, bind_proof(registry, stranger, IDENTIFIERS["bank"]), {"from": sender})
    assert tx.events["WalletAdded"] == {"institutionId": b, "wallet": stranger, "by": sender}
    assert "SignatureEpochChanged" not in tx.events
    assert registry.institutionOf(stranger) == b
    assert registry.getInstitution(b)["walletCount"] == 2
    tx = registry.removeWallet(b, stranger, {"from": sender})
    assert tx.events["WalletRemoved"] == {"institutionId": b, "wallet": stranger, "by": sender}
    assert tx.events["SignatureEpochChanged"] == {"institutionId": b, "epoch": 1, "by": sender}
    assert registry.institutionOf(stranger) == 0
    assert registry.getInstitution(b)["walletCount"] == 1


def test_wallet_errors(xb, registry, bank, creditor, enterprise_wallet2, stranger, ids):
    b = ids["bank"]
    proof = bind_proof(registry, stranger, IDENTIFIERS["bank"])
    with reverts("WalletAlreadyRegistered", creditor.address, ids["creditor"]):
        registry.addWallet(b, creditor, bind_proof(registry, creditor, IDENTIFIERS["bank"]), {"from": bank})
    with reverts("ZeroAddress"):
        registry.addWallet(b, ZERO_ADDRESS, NO_PROOF, {"from": bank})
    with reverts("WalletNotRegistered", stranger.address, b):
        registry.removeWallet(b, stranger, {"from": bank})
    with reverts("CannotRemoveAdminWallet", b, bank.address):
        registry.removeWallet(b, bank, {"from": bank})
    # another institution's admin, a non-admin wallet and a stranger may not manage the bank
    with reverts("UnauthorizedWallet", creditor.address, ids["creditor"]):
        registry.addWallet(b, stranger, proof, {"from": creditor})
    with reverts("UnauthorizedWallet", enterprise_wallet2.address, ids["enterprise"]):
        registry.addWallet(ids["enterprise"], stranger, proof, {"from": enterprise_wallet2})
    with reverts("UnauthorizedWallet", stranger.address, 0):
        registry.addWallet(b, stranger, proof, {"from": stranger})
    with reverts("UnknownInstitution", 42):
        registry.addWallet(42, stranger, proof, {"from": bank})


def test_admin_rotation(xb, registry, enterprise, enterprise_wallet2, stranger, ids):
    e = ids["enterprise"]
    tx = registry.setAdminWallet(e, enterprise_wallet2, NO_PROOF, {"from": enterprise})  # already a wallet: no proof
    assert tx.events["AdminWalletChanged"] == {"institutionId": e, "oldAdmin": enterprise, "newAdmin": enterprise_wallet2}
    assert tx.events["SignatureEpochChanged"] == {"institutionId": e, "epoch": 1, "by": enterprise}
    assert "WalletAdded" not in tx.events
    # the old admin can no longer manage; it can be removed by the new admin
    with reverts("UnauthorizedWallet", enterprise.address, e):
        registry.addWallet(e, stranger, bind_proof(registry, stranger, IDENTIFIERS["enterprise"]), {"from": enterprise})
    registry.removeWallet(e, enterprise, {"from": enterprise_wallet2})
    with reverts("InvalidWalletProof", stranger.address, ZERO_ADDRESS):
        registry.setAdminWallet(e, stranger, (chain.time() + 60, b""), {"from": enterprise_wallet2})
    tx = registry.setAdminWallet(e, stranger, bind_proof(registry, stranger, IDENTIFIERS["enterprise"]),
                                 {"from": enterprise_wallet2})
    assert tx.events["WalletAdded"] == {"institutionId": e, "wallet": stranger, "by": enterprise_wallet2}
    assert registry.getInstitution(e)["admin"] == stranger
    assert registry.signatureEpoch(e) == 3  # rotation, removal, rotation


def test_revoke_signatures(xb, registry, regulator, bank, enterprise, enterprise_wallet2, ids):
    e = ids["enterprise"]
    tx = registry.revokeSignatures(e, {"from": enterprise})
    assert tx.events["SignatureEpochChanged"] == {"institutionId": e, "epoch": 1, "by": enterprise}
    tx = registry.revokeSignatures(e, {"from": regulator})
    assert tx.events["SignatureEpochChanged"] == {"institutionId": e, "epoch": 2, "by": regulator}
    with reverts("UnauthorizedWallet", enterprise_wallet2.address, e):
        registry.revokeSignatures(e, {"from": enterprise_wallet2})  # admin only
    with reverts("UnauthorizedWallet", bank.address, ids["bank"]):
        registry.revokeSignatures(e, {"from": bank})
    registry.suspendInstitution(e, {"from": regulator})
    with reverts("InstitutionNotActive", e, model.ST_SUSPENDED):
        registry.revokeSignatures(e, {"from": enterprise})


def test_suspended_admin_cannot_manage(xb, registry, regulator, bank, stranger, ids):
    proof = bind_proof(registry, stranger, IDENTIFIERS["bank"])
    registry.suspendInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_SUSPENDED):
        registry.addWallet(ids["bank"], stranger, proof, {"from": bank})
    registry.addWallet(ids["bank"], stranger, proof, {"from": regulator})  # the regulator still can, with a proof
    registry.revokeInstitution(ids["bank"], {"from": regulator})
    with reverts("InstitutionNotActive", ids["bank"], model.ST_REVOKED):
        registry.addWallet(ids["bank"], ZERO_ADDRESS, NO_PROOF, {"from": regulator})


def test_pause_stops_institution_writes(xb, registry, regulator, bank, stranger, ids):
    tx = registry.pause({"from": regulator})
    assert tx.events["Paused"]["account"] == regulator
    proof = bind_proof(registry, stranger, IDENTIFIERS["bank"])
    with reverts("EnforcedPause"):
        registry.addWallet(ids["bank"], stranger, proof, {"from": bank})
    with reverts("EnforcedPause"):
        registry.revokeSignatures(ids["bank"], {"from": bank})
    registry.addWallet(ids["bank"], stranger, proof, {"from": regulator})
    registry.unpause({"from": regulator})
    registry.removeWallet(ids["bank"], stranger, {"from": bank})
    with reverts("AccessControlUnauthorizedAccount", bank.address, PAUSER_ROLE):
        registry.pause({"from": bank})
    with reverts("ExpectedPause"):
        registry.unpause({"from": regulator})


def _unpack_core(word):
    """InstitutionCore: admin (0-159) | kind (160-167) | status (168-175) | capitalBase (176-239) | epoch (240-255)."""
    return [(word >> 160) & 0xFF, (word >> 168) & 0xFF, (word >> 176) & (2**64 - 1), word & (2**160 - 1), word >> 240]


def test_core_words_match_get_institution(xb, registry, regulator, bank, enterprise, stranger, ids):
    registry.revokeSignatures(ids["enterprise"], {"from": enterprise})  # a non-zero epoch in the top bits
    for wallet, a, b in ((bank, ids["enterprise"], ids["creditor"]), (enterprise, ids["enterprise"], ids["bank"]),
                         (bank, ids["bank"], ids["bank"]), (stranger, 0, 0), (bank, 77, 0)):
        wid, *words = registry.coreWords(wallet, a, b)
        assert wid == registry.institutionOf(wallet)
        for inst_id, w in zip((wid, a, b), words):
            if inst_id == 0 or inst_id == 77:
                assert w == 0
                continue
            inst = registry.getInstitution(inst_id)
            assert _unpack_core(w) == [inst["kind"], inst["status"], inst["capitalBase"], int(inst["admin"], 16),
                                       inst["signatureEpoch"]]
            assert registry.institutionCore(inst_id) == w
    assert list(registry.coreWords(stranger, 0, 0)) == [0, 0, 0, 0]
    with reverts("UnknownInstitution", 77):
        registry.getInstitution(77)
