"""The bindings' EIP-712 consents and proofs, and the revert sentences, held to the deployed v2
contracts: our digests equal the contracts' own digest views, eth-account's typed-data signing
agrees, and every custom error in the ABIs has a sentence that names its values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from faster_eth_abi import encode as abi_encode
from loan_setup import BANK_A, BORROWER_X, HK_CREDITOR, World, build_world

from xborder.bindings import consent as C
from xborder.bindings.deployment import CONTRACT_NAMES
from xborder.bindings.reverts import _TEMPLATES
from xborder.domain.dates import DAY
from xborder.domain.loans import LoanRequest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from xborder.chain import start_anvil

    root = tmp_path_factory.mktemp("consent")
    with start_anvil(log_path=root / "anvil.log") as node:
        yield build_world(node.rpc_url, root / "deployments")


def _request(world: World) -> LoanRequest:
    now = world.client.now()
    return LoanRequest(BORROWER_X, HK_CREDITOR, "USD", 1_000_00, now, now + 200 * DAY, 1, b"\x05" * 32, b"\x06" * 32)


def test_domains_are_the_contracts_eip5267_domains(world: World) -> None:
    for contract, name in ((world.client.ledger, C.LEDGER_DOMAIN), (world.client.registry, C.REGISTRY_DOMAIN)):
        _fields, got_name, version, chain_id, address, _salt, _ext = contract.functions.eip712Domain().call()
        assert (got_name, version, chain_id, address) == (name, C.DOMAIN_VERSION, world.client.chain_id,
                                                          contract.address)


def test_loan_consent_digest_and_signature(world: World) -> None:
    request, chain_id, ledger = _request(world), world.client.chain_id, str(world.client.ledger.address)
    ours = C.consent_digest(request, 500_00, BANK_A, 7, 0, 2_000_000_000, chain_id=chain_id, ledger=ledger)
    theirs = world.client.ledger.functions.consentDigest(request.as_abi(), 500_00, BANK_A, 7, 0, 2_000_000_000).call()
    assert ours == bytes(theirs)
    signed = C.sign_consent(world.wallets[BORROWER_X], request, 500_00, submitter=BANK_A, nonce=7, epoch=0,
                            deadline=2_000_000_000, chain_id=chain_id, ledger=ledger)
    typed = C.consent_typed_data(request, 500_00, BANK_A, 7, 0, 2_000_000_000, chain_id=chain_id, ledger=ledger)
    reference = Account.sign_message(encode_typed_data(full_message=typed), world.wallets[BORROWER_X].key)
    assert signed.signature == bytes(reference.signature)
    assert C.ConsentSignature.from_json(signed.to_json()) == signed


def test_extension_and_binding_digests(world: World) -> None:
    chain_id = world.client.chain_id
    loan_id = BORROWER_X << 32 | 1
    ours = C.extension_digest(BANK_A, loan_id, 1_900_000_000, 3, 2, 2_000_000_000, chain_id=chain_id,
                              ledger=str(world.client.ledger.address))
    theirs = world.client.ledger.functions.extensionConsentDigest(BANK_A, loan_id, 1_900_000_000, 3, 2,
                                                                  2_000_000_000).call()
    assert ours == bytes(theirs)
    identifier = world.client.identifier(BORROWER_X)
    wallet = world.outsider.address
    ours = C.binding_digest(identifier, wallet, 4, 2_000_000_000, chain_id=chain_id,
                            registry=str(world.client.registry.address))
    assert ours == bytes(world.client.registry.functions.walletBindingDigest(identifier, wallet, 4, 2_000_000_000).call())


def test_nonce_bitmap_positions() -> None:
    assert C.nonce_position(0) == (0, 0) and C.nonce_position(257) == (1, 1)
    assert C.invalidation_masks([0, 3, 256, 511]) == {0: 0b1001, 1: 1 | 1 << 255}
    with pytest.raises(ValueError, match="uint64"):
        C.nonce_position(2**64)


def _abi_errors(world: World) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in CONTRACT_NAMES:
        for item in world.client.deployment.abi(name, world.client.deployments_dir):
            if item.get("type") == "error":
                found.setdefault(item["name"], item)
    return list(found.values())


def test_every_contract_error_has_a_sentence_naming_its_values(world: World) -> None:
    decoder = world.client.decoder
    for item in _abi_errors(world):
        assert item["name"] in _TEMPLATES, f"{item['name']} has no sentence in xborder/bindings/reverts.py"
        types = [i["type"] for i in item["inputs"]]
        values = [_sample(t, k) for k, t in enumerate(types)]
        selector = keccak(f"{item['name']}({','.join(types)})".encode())[:4]
        decoded = decoder.decode(selector + abi_encode(types, values))
        assert decoded is not None and decoded.name == item["name"]
        assert not decoded.message.startswith(item["name"] + "("), decoded.message


def _sample(solidity_type: str, k: int) -> Any:
    if solidity_type == "address":
        return "0x" + f"{k + 1:040x}"
    if solidity_type.startswith("bytes"):
        return bytes([65 + k]) * int(solidity_type[5:] or 4)
    if solidity_type == "bool":
        return bool(k % 2)
    if solidity_type == "uint8":
        return 1
    if solidity_type == "uint16":
        return k + 1
    return 1_700_000_000 + k


def test_attack_sentences_name_the_values(world: World) -> None:
    decoder = world.client.decoder
    say = decoder.describe
    assert say("ConsentSubmitterMismatch", {"named": HK_CREDITOR, "caller": BANK_A}) == (
        "the borrower's consent names HK-CREDITOR (#5) as the one who may submit it, but BANK-A (#1) sent it")
    assert "signature epoch 0" in say("ConsentRevoked", {"borrower": BORROWER_X, "signedEpoch": 0, "currentEpoch": 2})
    assert "written off" in say("InvalidLoanStatus", {"loanId": BORROWER_X << 32 | 1, "status": 6})
    assert "2028-03-01" in say("LoanMatured", {"loanId": 1 << 32 | 1, "maturityDate": 1835481600})


def test_unused_consent_nonces_pass_over_used_voided_and_skipped_ones(world: World) -> None:
    """The search asks exactly the shortfall first, then wider windows: nonces voided (or used) past
    the start and nonces handed out (`skip`) are passed over, and the answer is the lowest unused."""
    from xborder.chain.sender import TxSender

    client, borrower = world.client, world.wallets[BORROWER_X]
    start = 3 * 256  # a word no other test of this module touches
    TxSender(world.w3, borrower).transact(
        (str(client.ledger.address), C.ledger_call("invalidateConsentNonces(uint256,uint256)", 3, 0b1011)))
    assert [client.consent_nonce_used(BORROWER_X, start + k) for k in range(5)] == [True, True, False, True, False]
    assert client.unused_consent_nonces(BORROWER_X, 3, start=start) == [start + 2, start + 4, start + 5]
    assert client.unused_consent_nonces(BORROWER_X, 3, start=start, skip={start + 4}) == [start + 2, start + 5, start + 6]
    assert client.unused_consent_nonces_of({BORROWER_X: 1, BANK_A: 2}, starts={BORROWER_X: start, BANK_A: 0}) == {
        BORROWER_X: [start + 2], BANK_A: [0, 1]}
