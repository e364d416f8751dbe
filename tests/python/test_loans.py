"""Loan lifecycle: terms commitment (unit) and every v2 ledger action against real anvil and Ganache,
with the attacks of issue #10 refused with their decoded reasons (values named)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
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

from xborder.chain import LocalNode
from xborder.domain import limits
from xborder.domain.dates import DAY, format_date, parse_date
from xborder.domain.enums import ReasonCode
from xborder.domain.loans import LoanRequest, document_hash, parse_loan_id
from xborder.errors import TransactionRejected, ValidationError
from xborder.services import onboarding
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


@pytest.fixture
def anvil_world(anvil: LocalNode, tmp_path: Path) -> World:
    return build_world(anvil.rpc_url, tmp_path / "deployments")


def request_for(world: World, *, borrower: int = BORROWER_X, creditor: int = BANK_A, currency: str = "USD",
                principal: int = 10_000_000_00, days: int = 200, ftype: int = 1, doc: str = "DOC-1",
                value_date: int | None = None, maturity_date: int | None = None,
                terms: T.SealedTerms | None = None) -> tuple[LoanRequest, T.SealedTerms]:
    """A request valued today (chain time, midnight UTC) maturing `days` later (200: short-term)."""
    sealed = terms or T.seal(T.LoanTerms(interest_rate="4.35", purpose="working capital"))
    value = world.client.now() // DAY * DAY if value_date is None else value_date
    maturity = value + days * DAY if maturity_date is None else maturity_date
    return LoanRequest(borrower, creditor, currency, principal, value, maturity, ftype, document_hash(doc),
                       sealed.terms_hash), sealed


def balance(world: World, borrower: int = BORROWER_X) -> int:
    return world.service.exposure(borrower).balance


def test_record_confirm_partial_repayments_then_close(world: World) -> None:
    s = world.service
    req, sealed = request_for(world)
    tx = s.record(world.wallets[BANK_A], req, sealed)  # the creditor records: its side consents
    assert tx.loan_id == BORROWER_X << 32 | 1 and tx.status == "Recorded"
    view = s.show(tx.loan_id)
    assert (view.creditor_consented, view.borrower_consented, view.confirm_by) == (True, False, view.confirm_by)
    assert view.confirm_by is not None
    with pytest.raises(TransactionRejected, match="the creditor side already consented to loan"):
        s.confirm(world.wallets[BANK_A], tx.loan_id)
    assert s.confirm(world.wallets[BORROWER_X], tx.loan_id).status == "Active"
    s.draw(world.extra_x, tx.loan_id, 10_000_000_00)  # any wallet of the borrower may draw
    # 10,000,000.00 USD x 7.1 x (1.5 short-term + 0.5 FX) = 142,000,000.00 CNY
    assert balance(world) == 142_000_000_00
    view = s.show(tx.loan_id)
    assert (view.status, view.outstanding, view.contribution_cny, view.short_term) == (
        "Active", 10_000_000_00, 142_000_000_00, True)
    assert [(d.amount, d.rate, d.weight_bps) for d in view.drawdowns] == [(10_000_000_00, 710_000_000, 20_000)]
    assert view.terms == {"interest_rate": "4.35", "purpose": "working capital"} and view.terms_verified
    s.repay(world.wallets[BANK_A], tx.loan_id, 4_000_000_00)  # the creditor acknowledges receipt
    assert balance(world) == 85_200_000_00
    with pytest.raises(TransactionRejected, match=r"of BORROWER-X \(#3\) is not allowed to do this"):
        s.repay(world.wallets[BORROWER_X], tx.loan_id, 5_999_999_99)  # a borrower cannot free its own limit
    s.repay(world.wallets[BANK_A], tx.loan_id, 5_999_999_99)
    assert s.show(tx.loan_id).status == "Active"
    assert balance(world) == limits.remaining_after_repay(85_200_000_00, 6_000_000_00, 5_999_999_99)
    last = s.repay(world.wallets[BANK_A], tx.loan_id, 1)
    assert last.status == "Closed" and balance(world) == 0
    req2, sealed2 = request_for(world, terms=sealed)  # the document is free again once the loan is closed
    assert s.record(world.wallets[BANK_A], req2, sealed2).loan_id == BORROWER_X << 32 | 2


def test_both_consents_in_one_transaction_with_a_first_drawdown(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, days=730, doc="DOC-C")
    block = world.w3.eth.block_number
    tx = s.record_co_signed(world.wallets[HK_CREDITOR], world.extra_x, req, sealed, draw=2_000_000_00)
    assert tx.status == "Active" and tx.block_number == block + 1
    view = s.show(tx.loan_id)
    assert view.drawn == view.outstanding == 2_000_000_00 and view.drawdowns[0].weight_bps == 15_000  # long-term
    assert balance(world) == 21_300_000_00
    assert view.borrower_consented and view.creditor_consented and view.confirm_by is None


def test_front_runner_cannot_submit_someone_elses_consent(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="FRONT")
    consent = s.sign_consent(world.wallets[BORROWER_X], req, 1_000_00, submitter=HK_CREDITOR)
    with pytest.raises(TransactionRejected, match=(
            r"the borrower's consent names HK-CREDITOR \(#5\) as the one who may submit it, but BANK-A \(#1\) "
            r"sent it")) as refused:
        s.record_with_consent(world.wallets[BANK_A], req, sealed, consent=consent, draw=1_000_00)
    assert refused.value.error_name == "ConsentSubmitterMismatch"
    assert s.position(BORROWER_X)[1] == 0
    s.record_with_consent(world.wallets[HK_CREDITOR], req, sealed, consent=consent, draw=1_000_00)
    again, sealed_again = request_for(world, creditor=HK_CREDITOR, doc="FRONT-2", terms=sealed)
    with pytest.raises(TransactionRejected, match="consent was signed by 0x[0-9a-fA-F]{40}, which is not a wallet "
                                                  r"of BORROWER-X \(#3\)"):  # the signature covers the request
        s.record_with_consent(world.wallets[HK_CREDITOR], again, sealed_again, consent=consent, draw=1_000_00)


def test_drawdown_refused_at_the_limit_with_exact_numbers(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, currency="CNY", principal=300_000_000_00, doc="BIG")
    loan = s.record(world.wallets[BORROWER_X], req, sealed).loan_id  # the borrower records: its side consents
    s.confirm(world.wallets[BANK_A], loan)
    with pytest.raises(TransactionRejected) as refused:
        s.draw(world.wallets[BORROWER_X], loan, 234_600_000_00)  # x 1.5 = 351,900,000.00
    assert str(refused.value) == (
        f"drawdown on loan {loan} refused: BORROWER-X (#3) would reach CNY 351,900,000.00 of risk-weighted "
        "balance, above its limit of CNY 350,000,000.00")
    assert refused.value.exit_code == 7 and balance(world) == 0
    assert s.preview_drawdown(loan, 233_333_333_33) == (350_000_000_00, 350_000_000_00, True)
    s.draw(world.wallets[BANK_A], loan, 233_333_333_33)  # exactly at the limit fits
    assert balance(world) == 350_000_000_00 and s.exposure(BORROWER_X).headroom == 0


def test_each_drawdown_converts_and_weighs_at_its_own_date(world: World) -> None:
    s, c = world.service, world.client
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="FX", days=100)
    loan = s.record_co_signed(world.wallets[HK_CREDITOR], world.wallets[BORROWER_X], req, sealed,
                              draw=1_000_000_00).loan_id
    c.transact(world.regulator, c.policy.functions.setReferenceRate(b"USD", 725_000_000), "USD moves")
    c.transact(world.regulator, c.policy.functions.setParameter(10, 6_000), "FX risk factor 0.6")
    s.draw(world.wallets[BORROWER_X], loan, 2_500_000_01)
    first = limits.contribution(1_000_000_00, 710_000_000, 20_000)
    second = limits.contribution(2_500_000_01, 725_000_000, 21_000)
    assert [(d.rate, d.weight_bps, d.contribution_added) for d in s.drawdowns(loan)] == [
        (710_000_000, 20_000, first), (725_000_000, 21_000, second)]
    assert balance(world) == first + second == s.show(loan).contribution_cny


def test_a_document_is_claimed_by_the_first_activation(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, doc="DUP")
    first = s.record(world.wallets[BANK_A], req, sealed).loan_id
    req2, sealed2 = request_for(world, borrower=BORROWER_Y, creditor=BANK_B, doc="DUP")
    second = s.record(world.wallets[BANK_B], req2, sealed2).loan_id  # a Recorded loan blocks nobody
    s.confirm(world.wallets[BORROWER_Y], second)
    with pytest.raises(TransactionRejected, match=f"already backs live loan {second} .*: one document can back only"):
        s.confirm(world.wallets[BORROWER_X], first)
    assert s.cancel(world.wallets[BORROWER_X], first).status == "Cancelled"


def test_extension_that_changes_the_term_class_needs_the_borrower(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="EXT", days=300)
    loan = s.record_co_signed(world.wallets[HK_CREDITOR], world.wallets[BORROWER_X], req, sealed,
                              draw=1_000_000_00).loan_id
    assert balance(world) == 14_200_000_00  # short-term weight 2.0
    later = req.maturity_date + 200 * DAY  # past one calendar year: long-term
    with pytest.raises(TransactionRejected, match=r"of BORROWER-X \(#3\) is not allowed"):  # not lender side
        s.extend(world.wallets[BORROWER_X], loan, later)
    with pytest.raises(TransactionRejected, match=f"must be after the current maturity {format_date(req.maturity_date)}"):
        s.extend(world.wallets[HK_CREDITOR], loan, req.maturity_date - DAY)
    with pytest.raises(TransactionRejected, match="turns it from short-term to long-term, which needs the borrower"):
        s.extend(world.wallets[HK_CREDITOR], loan, later)
    s.extend(world.wallets[HK_CREDITOR], loan, req.maturity_date + 10 * DAY)  # same class: no consent needed
    s.extend_co_signed(world.wallets[HK_CREDITOR], world.wallets[BORROWER_X], loan, later)
    view = s.show(loan)
    assert view.maturity_date == format_date(later) and not view.short_term
    assert balance(world) == 14_200_000_00  # what is drawn keeps its contribution


def test_cancel_close_default_and_the_regulators_write_off(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, doc="D-CANCEL")
    loan = s.record(world.wallets[BANK_A], req, sealed).loan_id
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):
        s.cancel(world.outsider, loan)
    with pytest.raises(TransactionRejected, match="wallet .* of OBSERVER \\(#7\\) is not allowed"):
        s.cancel(world.wallets[OBSERVER], loan)
    assert s.cancel(world.wallets[BANK_A], loan).status == "Cancelled"

    req, sealed = request_for(world, doc="D-CLOSE", principal=5_000_000_00)
    loan = s.record_co_signed(world.wallets[BANK_A], world.wallets[BORROWER_X], req, sealed, draw=1_000_000_00).loan_id
    with pytest.raises(TransactionRejected, match="still has 1,000,000.00 outstanding"):
        s.close(world.wallets[BANK_A], loan)
    s.repay(world.wallets[BANK_A], loan, 1_000_000_00)
    assert s.close(world.wallets[BANK_A], loan).status == "Closed"  # undrawn rest given up

    req, sealed = request_for(world, doc="D-DEFAULT")
    loan = s.record_co_signed(world.wallets[BANK_A], world.wallets[BORROWER_X], req, sealed, draw=3_000_000_00).loan_id
    assert balance(world) == 42_600_000_00
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):
        s.default(world.wallets[BORROWER_X], loan)
    assert s.default(world.wallets[BANK_A], loan).status == "Defaulted"
    assert balance(world) == 42_600_000_00  # a default alone frees nothing: it still counts
    with pytest.raises(TransactionRejected, match="lacks the role REGULATOR_ROLE"):
        s.write_off(world.wallets[BANK_A], loan)
    tx = s.write_off(world.regulator, loan)
    assert tx.status == "WrittenOff" and balance(world) == 0
    assert s.show(loan).outstanding == 3_000_000_00  # kept for the record


def test_bank_borrower_cannot_write_off_its_own_debt(anvil_world: World) -> None:
    """Issue #10 item 1: a bank that borrows is never lender side of its own loan."""
    world, s = anvil_world, anvil_world.service
    req, sealed = request_for(world, borrower=BANK_A, creditor=HK_CREDITOR, doc="SELF")
    loan = s.record_co_signed(world.wallets[HK_CREDITOR], world.wallets[BANK_A], req, sealed,
                              draw=1_000_000_00).loan_id
    bank = world.wallets[BANK_A]
    attempts: list[Callable[[], object]] = [lambda: s.default(bank, loan), lambda: s.repay(bank, loan, 1_000_000_00),
                                            lambda: s.extend(bank, loan, req.maturity_date + DAY)]
    for attempt in attempts:
        with pytest.raises(TransactionRejected, match=r"of BANK-A \(#1\) is not allowed to do this") as refused:
            attempt()
        assert refused.value.error_name == "UnauthorizedWallet"
    s.appoint_agent(world.wallets[HK_CREDITOR], BANK_A)  # even as its creditor's agent
    with pytest.raises(TransactionRejected, match=r"of BANK-A \(#1\) is not allowed to do this"):
        s.default(world.wallets[BANK_A], loan)
    with pytest.raises(TransactionRejected, match="lacks the role REGULATOR_ROLE"):
        s.write_off(world.wallets[BANK_A], loan)


def test_agents_act_for_their_creditor_until_dismissed(anvil_world: World) -> None:
    world, s = anvil_world, anvil_world.service
    with pytest.raises(TransactionRejected, match=r"BORROWER-Y \(#4\) cannot be an agent of HK-CREDITOR"):
        s.appoint_agent(world.wallets[HK_CREDITOR], BORROWER_Y)
    s.appoint_agent(world.wallets[HK_CREDITOR], BANK_B)
    assert world.client.is_agent(HK_CREDITOR, BANK_B)
    with pytest.raises(TransactionRejected, match=r"BANK-B \(#2\) already is an agent of HK-CREDITOR"):
        s.appoint_agent(world.wallets[HK_CREDITOR], BANK_B)
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="AGENT")
    loan = s.record_co_signed(world.wallets[BANK_B], world.wallets[BORROWER_X], req, sealed, draw=1_00).loan_id
    s.draw(world.wallets[BANK_B], loan, 1_00)
    s.dismiss_agent(world.wallets[HK_CREDITOR], BANK_B)
    with pytest.raises(TransactionRejected, match=r"of BANK-B \(#2\) is not allowed to do this"):
        s.draw(world.wallets[BANK_B], loan, 1_00)
    with pytest.raises(TransactionRejected, match=r"BANK-B \(#2\) is not an agent of HK-CREDITOR"):
        s.dismiss_agent(world.wallets[HK_CREDITOR], BANK_B)


def test_consents_are_revoked_one_by_one_or_all_at_once(anvil_world: World) -> None:
    world, s = anvil_world, anvil_world.service
    req, sealed = request_for(world, creditor=HK_CREDITOR, doc="REVOKE-1")
    consent = s.sign_consent(world.wallets[BORROWER_X], req, submitter=HK_CREDITOR)
    s.revoke_consents(world.extra_x, [consent.nonce])
    with pytest.raises(TransactionRejected, match=f"consent nonce {consent.nonce} of BORROWER-X .* is already used "
                                                  "or was revoked"):
        s.record_with_consent(world.wallets[HK_CREDITOR], req, sealed, consent=consent)
    consent = s.sign_consent(world.wallets[BORROWER_X], req, submitter=HK_CREDITOR)
    assert onboarding.revoke_signatures(world.client, world.wallets[BORROWER_X], BORROWER_X) == 1
    with pytest.raises(TransactionRejected, match="signed at BORROWER-X .*'s signature epoch 0, which was revoked "
                                                  r"\(the epoch is 1 now\)"):
        s.record_with_consent(world.wallets[HK_CREDITOR], req, sealed, consent=consent)
    assert s.record_co_signed(world.wallets[HK_CREDITOR], world.wallets[BORROWER_X], req, sealed).status == "Active"


def test_regulator_controls(anvil_world: World) -> None:
    world, s = anvil_world, anvil_world.service
    req, sealed = request_for(world, doc="STALE")
    stale = s.record(world.wallets[BANK_A], req, sealed).loan_id
    with pytest.raises(TransactionRejected, match="may be consented until .*: until then only the regulator may"):
        s.expire(world.wallets[BANK_B], stale)
    assert s.expire(world.regulator, stale, ReasonCode.DATA_CORRECTION).status == "Expired"

    req, sealed = request_for(world, doc="SQUAT")
    squat = s.record_co_signed(world.wallets[BANK_A], world.wallets[BORROWER_X], req, sealed).loan_id
    s.release_document(world.regulator, req.document_hash)
    assert int(world.client.ledger.functions.liveLoanOfDocument(req.document_hash).call()) == 0
    assert s.show(squat).status == "Active"
    with pytest.raises(TransactionRejected, match="backs no live loan: nothing to release"):
        s.release_document(world.regulator, req.document_hash)

    s.freeze(world.regulator, BORROWER_X)
    assert s.exposure(BORROWER_X).frozen
    with pytest.raises(TransactionRejected, match=r"the regulator froze the drawdowns of BORROWER-X \(#3\)"):
        s.draw(world.wallets[BORROWER_X], squat, 1_00)
    with pytest.raises(TransactionRejected, match="already are frozen"):
        s.freeze(world.regulator, BORROWER_X)
    s.unfreeze(world.regulator, BORROWER_X)
    s.draw(world.wallets[BORROWER_X], squat, 1_00)


def test_refusals_name_the_reason(world: World) -> None:
    s = world.service
    req, sealed = request_for(world, borrower=SUSPENDED_E, doc="S")
    with pytest.raises(TransactionRejected, match=r"SUSPENDED-E \(#6\) is suspended"):
        s.record(world.wallets[BANK_A], req, sealed)
    req, sealed = request_for(world, currency="GBP", doc="G")
    with pytest.raises(TransactionRejected, match="no reference rate is published for currency 'GBP'"):
        s.record(world.wallets[BANK_A], req, sealed)
    req, sealed = request_for(world, creditor=BANK_B, doc="W")
    with pytest.raises(TransactionRejected, match="is not allowed to do this"):  # Y is no party of X's loan
        s.record(world.wallets[BORROWER_Y], req, sealed)
    today = world.client.now() // DAY * DAY
    req, sealed = request_for(world, value_date=today - 60 * DAY, doc="OLD")
    with pytest.raises(TransactionRejected, match=f"value date {format_date(today - 60 * DAY)} is outside the window"):
        s.record(world.wallets[BANK_A], req, sealed)
    req, sealed = request_for(world, value_date=today, maturity_date=today, doc="DATES")
    with pytest.raises(ValidationError, match=f"maturity_date: {format_date(today)} is not after value_date"):
        s.record(world.wallets[BANK_A], req, sealed)
    assert s.position(BORROWER_X)[1] == 0 and s.position(SUSPENDED_E)[1] == 0
