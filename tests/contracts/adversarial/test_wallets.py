"""Issue #10 item 6: wallet squatting."""
from brownie import ZERO_ADDRESS

import model
from conftest import IDENTIFIERS, bind_proof, lei, reverts


def test_wallet_squatting(xb, registry, regulator, bank, stranger, funded, ids):
    """The bank's admin tries to pre-claim the address the regulator is about to register for another
    institution: without that wallet's own signature it cannot."""
    signer = funded["stranger_signer"]
    with reverts("InvalidWalletProof", stranger.address, signer.address):
        registry.addWallet(ids["bank"], stranger, bind_proof(registry, stranger, IDENTIFIERS["bank"], signer=signer),
                           {"from": bank})
    with reverts("InvalidWalletProof", stranger.address, ZERO_ADDRESS):
        registry.addWallet(ids["bank"], stranger, (2**63, b""), {"from": bank})
    # a proof the wallet gave for ANOTHER institution does not bind it to the bank
    other = lei("9695000000NEWFIRM1")
    proof_for_other = bind_proof(registry, stranger, other)
    with reverts("InvalidWalletProof", stranger.address, _recovered_for(registry, stranger, proof_for_other)):
        registry.addWallet(ids["bank"], stranger, proof_for_other, {"from": bank})
    # so the regulator's registration goes through
    tx = registry.registerInstitution(model.ENTERPRISE, other, b"CN", 1, "new firm", stranger, proof_for_other,
                                      {"from": regulator})
    assert registry.institutionOf(stranger) == tx.return_value


def test_admin_rotation_to_a_foreign_key(xb, registry, bank, stranger, funded, ids):
    signer = funded["stranger_signer"]
    with reverts("InvalidWalletProof", stranger.address, signer.address):
        registry.setAdminWallet(ids["bank"], stranger, bind_proof(registry, stranger, IDENTIFIERS["bank"], signer=signer),
                                {"from": bank})


def test_regulator_cannot_bind_without_proof(xb, registry, regulator, stranger):
    with reverts("InvalidWalletProof", stranger.address, ZERO_ADDRESS):
        registry.registerInstitution(model.ENTERPRISE, lei("9695000000NEWFIRM2"), b"CN", 1, "x", stranger, (2**63, b""),
                                     {"from": regulator})


def _recovered_for(registry, wallet, proof):
    """The address a proof recovers to when checked for the bank's identifier."""
    from brownie import chain
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    data = model.wallet_binding_typed_data(IDENTIFIERS["bank"], wallet.address, registry.bindingNonce(wallet), proof[0],
                                           chain.id, registry.address)
    return Account.recover_message(encode_typed_data(full_message=data), signature=proof[1])
