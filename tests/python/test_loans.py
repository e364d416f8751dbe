"""Loan lifecycle: terms commitment (unit) and every ledger action against real anvil and Ganache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from loan_setup import (
    BANK_A,
    BANK_B,
    BORROWER_X,
    BORROWER_Y,
    HK_CREDITOR,
    OBSERVER,
    SUSPENDED_E,
    World,
    build_world,
)

from xborder.bindings.consent import consent_digest, consent_typed_data
from xborder.chain import LocalNode
from xborder.domain.dates import parse_date
from xborder.domain.loans import LoanRequest, document_hash, parse_loan_id
from xborder.errors import TransactionRejected, ValidationError
from xborder.services import terms as T

# ------------------------------------------------------------------------------ unit: terms


def test_encoding_is_canonical_and_commitment_salted() -> None:
    a = T.LoanTerms(interest_rate="4.350", purpose="working capital", external_ref="R-1")
    b = T.LoanTerms(external_ref="R-1", purpose="working capital", interest_rate="4.35")
    assert T.encode(a) == T.encode(b) == b'xbt1:{"external_ref":"R-1","interest_rate":"4.35","purpose":"working capital"}'
    s1, s2 = T.seal(a), T.seal(a)
    assert s1.terms_hash != s2.terms_hash  # random salts hide equal terms
    assert T.verify(s1.data, s1.terms_hash) and not T.verify(s2.data, s1.terms_hash)
    assert T.unseal(s1.data) == (s1.salt, a)
    tampered = s1.data[:-2] + b'x}'
    assert not T.verify(tampered, s1.terms_hash)


def test_derived_salt_is_stable_and_secret_dependent() -> None:
    enc = T.encode(T.LoanTerms(interest_rate="5"))
    doc = document_hash("DOC")
    assert T.derive_salt(b"k1", doc, enc) == T.derive_salt(b"k1", doc, enc)
    assert T.derive_salt(b"k1", doc, enc) != T.derive_salt(b"k2", doc, enc)
    assert T.commitment(T.derive_salt(b"k1", doc, enc), enc) == T.seal(
        T.LoanTerms(interest_rate="5"), T.derive_salt(b"k1", doc, enc)).terms_hash


@pytest.mark.parametrize("rate", ["-1", "101", "4.1234567", "abc", "4,5"])
def test_bad_interest_rates(rate: str) -> None:
    with pytest.raises(ValidationError, match="interest_rate"):
        T.LoanTerms(interest_rate=rate)


def test_terms_limits() -> None:
    with pytest.raises(ValidationError, match="notes: 1025 bytes is too long"):
        T.LoanTerms(notes="x" * 1025)
    with pytest.raises(ValidationError, match="control characters"):
        T.LoanTerms(purpose="a\nb")
    with pytest.raises(ValidationError, match="unknown field"):
        T.LoanTerms.from_dict({"rate": "1"})


def test_input_helpers() -> None:
    assert parse_date("2025-01-01") == 1735689600
    assert parse_loan_id("3:2") == (3 << 32) | 2 == parse_loan_id(str((3 << 32) | 2))
    assert document_hash("0x" + "11" * 32) == bytes.fromhex("11" * 32)
    with pytest.raises(ValidationError, match="value_date: '2025-13-01' is not a date"):
        parse_date("2025-13-01", "value_date")
    with pytest.raises(ValidationError, match="not a non-zero 32-byte hash"):
        document_hash("0x" + "00" * 32)


# ------------------------------------------------------------------------------ integration


@pytest.fixture(params=["anvil", "ganache"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    node: LocalNode = request.getfixturevalue(request.param)
    yield build_world(node.rpc_url, tmp_path / "deployments")


def request_for(world: World, *, borrower: int = BORROWER_X, creditor: int = BANK_A, currency: str = "USD",
                principal: int = 10_000_000_00, value: str = "2025-01-01", maturity: str = "2025-12-31",
                ftype: int = 1, doc: str = "DOC-1", terms: T.SealedTerms | None = None) -> tuple[LoanRequest, T.SealedTerms]:
    sealed = terms or T.seal(T.LoanTerms(interest_rate="4.35", purpose="working capital"))
    return LoanRequest(borrower, creditor, currency, principal, parse_date(value), parse_date(maturity), ftype,
                       document_hash(doc), sealed.terms_hash), sealed


def balance(world: World, borrower: int = BORROWER_X) -> int:
    return world.service.exposure(borrower).balance


def test_record_confirm_partial_repayments_then_close(world: World) -> None:
    s = world.service
    req, sealed = request_for(world)
    tx = s.record(world.wallets[BANK_A], req, sealed)
    assert tx.loan_id == BORROWER_X << 32 | 1 and tx.status == "Recorded"
    assert s.confirm(world.wallets[BORROWER_X], tx.loan_id).status == "Active"
    s.draw(world.extra_x, tx.loan_id, 10_000_000_00)  # any wallet of the borrower may draw
    # 10,000,000.00 USD x 7.1 x (1.5 short-term + 0.5 FX) = 142,000,000.00 CNY
    assert balance(world) == 142_000_000_00
    view = s.show(tx.loan_id)
    assert (view.status, view.outstanding, view.base_outstanding_cny, view.contribution_cny) == (
        "Active", 10_000_000_00, 71_000_000_00, 142_000_000_00)
    assert view.terms == {"interest_rate": "4.35", "purpose": "working capital"} and view.terms_verified
    s.repay(world.wallets[BANK_A], tx.loan_id, 4_000_000_00)
    assert balance(world) == 85_200_000_00
    s.repay(world.wallets[BORROWER_X], tx.loan_id, 5_999_999_99)
    assert s.show(tx.loan_id).status == "Active"
    last = s.repay(world.wallets[BORROWER_X], tx.loan_id, 1)
    assert last.status == "Closed" and balance(world) == 0
    # the document is free again once the loan is closed
    req2, sealed2 = request_for(world, terms=sealed)
    assert s.record(world.wallets[BANK_A], req2, sealed2).loan_id == BORROWER_X << 32 | 2


def test_record_with_consent_and_draw_in_one_transaction(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, maturity="2027-01-01", doc="DOC-C")
    signature, nonce, deadline = s.sign_consent(world.extra_x, req, 2_000_000_00)
    assert nonce == 0
    chain_digest = bytes(world.client.ledger.functions.consentDigest(req.as_abi(), 2_000_000_00, nonce,
                                                                      deadline).call())
    assert chain_digest == consent_digest(req, 2_000_000_00, nonce, deadline,
                                          chain_id=world.client.deployment.chain_id, ledger=s.ledger_address)
    typed = Account.sign_typed_data(world.extra_x.key, full_message=consent_typed_data(
        req, 2_000_000_00, nonce, deadline, chain_id=world.client.deployment.chain_id, ledger=s.ledger_address))
    assert bytes(typed.signature) == signature
    block = world.w3.eth.block_number
    tx = s.record_with_consent(world.wallets[HK_CREDITOR], req, sealed, signature=signature, deadline=deadline,
                               draw=2_000_000_00)
    assert tx.status == "Active" and tx.block_number == block + 1
    view = s.show(tx.loan_id)
    assert view.drawn == view.outstanding == 2_000_000_00 and view.weight_bps == 15_000  # long-term USD
    assert balance(world) == 21_300_000_00
    assert s.position(BORROWER_X)[2] == 1  # nonce consumed
    with pytest.raises(TransactionRejected, match="consent was signed by"):  # replay: nonce moved on
        req2, sealed2 = request_for(world, creditor=HK_CREDITOR, doc="DOC-D", terms=sealed)
        s.record_with_consent(world.wallets[HK_CREDITOR], req2, sealed2, signature=signature, deadline=deadline)


def test_drawdown_refused_at_the_limit_with_exact_numbers(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, currency="CNY", principal=300_000_000_00, doc="BIG")
    loan = s.record(world.wallets[BANK_A], req, sealed).loan_id
    s.confirm(world.wallets[BORROWER_X], loan)
    with pytest.raises(TransactionRejected) as refused:
        s.draw(world.wallets[BORROWER_X], loan, 234_600_000_00)  # x 1.5 = 351,900,000.00
    assert str(refused.value) == (
        f"drawdown on loan {loan} refused: BORROWER-X (#3) would reach CNY 351,900,000.00 of risk-weighted "
        "balance, above its limit of CNY 350,000,000.00")
    assert refused.value.exit_code == 7 and balance(world) == 0
    s.draw(world.wallets[BORROWER_X], loan, 233_333_333_33)  # exactly at the limit fits
    assert balance(world) == 350_000_000_00 and s.exposure(BORROWER_X).headroom == 0


def test_duplicate_document_refused_until_cancelled(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, doc="DUP")
    first = s.record(world.wallets[BANK_A], req, sealed).loan_id
    req2, sealed2 = request_for(world, borrower=BORROWER_Y, creditor=BANK_B, doc="DUP")
    with pytest.raises(TransactionRejected, match=f"already backs live loan {first}: one document can back only one"):
        s.record(world.wallets[BANK_B], req2, sealed2)
    assert s.position(BORROWER_Y)[1] == 0
    assert s.cancel(world.wallets[BORROWER_X], first).status == "Cancelled"
    assert s.record(world.wallets[BANK_B], req2, sealed2).status == "Recorded"


def test_extend_rederives_the_weight(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="EXT")
    signature, _, deadline = s.sign_consent(world.wallets[BORROWER_X], req, 1_000_000_00)
    loan = s.record_with_consent(world.wallets[BANK_A], req, sealed, signature=signature, deadline=deadline,
                                 draw=1_000_000_00).loan_id
    assert balance(world) == 14_200_000_00  # short-term weight 2.0
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):  # borrower is not lender side
        s.extend(world.wallets[BORROWER_X], loan, parse_date("2027-06-30"))
    with pytest.raises(TransactionRejected, match="must be after the current maturity 2025-12-31"):
        s.extend(world.wallets[BANK_A], loan, parse_date("2025-06-30"))
    s.extend(world.wallets[BANK_A], loan, parse_date("2027-06-30"))  # recorder = lender side
    assert s.show(loan).maturity_date == "2027-06-30" and s.show(loan).weight_bps == 15_000
    assert balance(world) == 10_650_000_00


def test_cancel_close_and_default(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, doc="D-CANCEL")
    loan = s.record(world.wallets[BANK_A], req, sealed).loan_id
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):
        s.cancel(world.outsider, loan)
    with pytest.raises(TransactionRejected, match="wallet .* of OBSERVER \\(#7\\) is not allowed"):
        s.cancel(world.wallets[OBSERVER], loan)
    assert s.cancel(world.wallets[BANK_A], loan).status == "Cancelled"

    req, sealed = request_for(world, doc="D-CLOSE", principal=5_000_000_00)
    loan = s.record(world.wallets[BANK_A], req, sealed).loan_id
    s.confirm(world.wallets[BORROWER_X], loan)
    s.draw(world.wallets[BORROWER_X], loan, 1_000_000_00)
    with pytest.raises(TransactionRejected, match="still has 1,000,000.00 outstanding"):
        s.close(world.wallets[BANK_A], loan)
    s.repay(world.wallets[BORROWER_X], loan, 1_000_000_00)
    assert s.close(world.wallets[BANK_A], loan).status == "Closed"  # undrawn rest given up

    req, sealed = request_for(world, doc="D-DEFAULT")
    loan = s.record(world.wallets[BANK_A], req, sealed).loan_id
    s.confirm(world.wallets[BORROWER_X], loan)
    s.draw(world.wallets[BORROWER_X], loan, 3_000_000_00)
    assert balance(world) == 42_600_000_00
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):
        s.default(world.wallets[BORROWER_X], loan)
    tx = s.default(world.wallets[BANK_A], loan)
    assert tx.status == "Defaulted" and balance(world) == 0
    assert s.show(loan).outstanding == 3_000_000_00  # written off, kept for the record


def test_refusals_name_the_reason(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, borrower=SUSPENDED_E, doc="S")
    with pytest.raises(TransactionRejected, match=r"SUSPENDED-E \(#6\) is suspended"):
        s.record(world.wallets[BANK_A], req, sealed)
    req, sealed = request_for(world, currency="GBP", doc="G")
    with pytest.raises(TransactionRejected, match="no reference rate is published for currency 'GBP'"):
        s.record(world.wallets[BANK_A], req, sealed)
    req, sealed = request_for(world, creditor=BANK_B, doc="W")
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):  # enterprise records for others
        s.record(world.wallets[BORROWER_Y], req, sealed)
    req, sealed = request_for(world, value="2025-06-01", maturity="2025-06-01", doc="DATES")
    with pytest.raises(ValidationError, match="maturity_date: 2025-06-01 is not after value_date 2025-06-01"):
        s.record(world.wallets[BANK_A], req, sealed)
    assert s.position(BORROWER_X)[1] == 0 and s.position(SUSPENDED_E)[1] == 0
