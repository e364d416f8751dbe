"""Loan lifecycle on the v2 LoanLedger: a loan is live only with the consent of both sides.

- `record_co_signed` (one transaction): the borrower's wallet signs an EIP-712 `LoanConsent` naming
  the submitter, and the lender side (the creditor or an agent it appointed) submits it with
  `recordLoanWithConsent` — its submission is the creditor's consent. Optional first drawdown.
- `record` then `confirm`: the borrower, the creditor or its agent records (its side consents); the
  other side confirms within the confirmation window, or the record expires.
- then `draw` (borrower or lender side, at the drawdown date's rate and weight), `repay` (lender
  side: the creditor acknowledges receipt), `extend` (lender side; with the borrower's signed
  `ExtensionConsent` when the term class changes), `cancel`, `close`, `default` (lender side: the
  loan keeps counting until the regulator writes it off, `LoanControls.write_off`).

Every write is signed by the acting institution's own wallet and sent as a batch of one through the
engine (`XborderClient.transact`): the dry run comes first, so a refusal surfaces as a decoded
sentence before anything is sent. Amounts are integers in the chain's 1/100 units; dates unix
seconds (UTC); the CLI parses human input once (`xborder.cli.params`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from xborder.bindings.consent import ConsentSignature, sign_consent, sign_extension
from xborder.domain.loans import LoanRequest, loan_label
from xborder.domain.money import format_amount
from xborder.errors import ValidationError
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsReader, TermsSealer
from xborder.services.loan_controls import LoanControls
from xborder.services.loan_reads import (
    INSTITUTION_ALLOWED,
    LOAN_ALLOWED,
    LOAN_RECORDED_TOPIC,
    TERMS_SHARED_TOPIC,
    Drawdown,
    Exposure,
    LoanTx,
    LoanView,
)
from xborder.wallets.encryption import KeyRing

log = logging.getLogger(__name__)

#: How long a consent signed by the service stays valid by default (seconds of chain time).
CONSENT_VALID_FOR = 3600


@dataclass
class LoanService(LoanControls):
    """One deployment's loan operations; every write names the acting wallet."""

    #: Consent nonces this service handed out per borrower and not yet seen used.
    _handed_out: dict[int, set[int]] = field(default_factory=dict, repr=False)

    # -- consents -----------------------------------------------------------------------------
    def next_consent_nonce(self, borrower: int) -> int:
        """An unused consent nonce of `borrower` (low, so its consents share bitmap words), never one
        this service already handed out."""
        taken = self._handed_out.setdefault(borrower, set())
        nonce = self.client.unused_consent_nonces(borrower, 1, skip=taken)[0]
        taken.add(nonce)
        return nonce

    def _consent_fields(self, borrower: int, nonce: int | None, epoch: int | None, deadline: int | None,
                        valid_for: int) -> tuple[int, int, int]:
        return (self.next_consent_nonce(borrower) if nonce is None else nonce,
                self.client.signature_epoch(borrower) if epoch is None else epoch,
                self.chain_time() + valid_for if deadline is None else deadline)

    def sign_consent(self, borrower_account: LocalAccount, request: LoanRequest, draw_amount: int = 0, *,
                     submitter: int | None = None, nonce: int | None = None, epoch: int | None = None,
                     deadline: int | None = None, valid_for: int = CONSENT_VALID_FOR) -> ConsentSignature:
        """The borrower's `LoanConsent` for this ledger, naming `submitter` (default: the creditor),
        at the borrower's current signature epoch, an unused nonce and chain time + `valid_for`."""
        nonce, epoch, deadline = self._consent_fields(request.borrower, nonce, epoch, deadline, valid_for)
        return sign_consent(borrower_account, request, draw_amount,
                            submitter=request.creditor if submitter is None else submitter, nonce=nonce, epoch=epoch,
                            deadline=deadline, chain_id=self.client.chain_id, ledger=self.ledger_address,
                            separator=self.separator)

    def sign_extension(self, borrower_account: LocalAccount, loan_id: int, new_maturity: int, *, submitter: int,
                       nonce: int | None = None, epoch: int | None = None, deadline: int | None = None,
                       valid_for: int = CONSENT_VALID_FOR) -> ConsentSignature:
        """The borrower's `ExtensionConsent` naming `submitter` (the lender side that will extend)."""
        nonce, epoch, deadline = self._consent_fields(loan_id >> 32, nonce, epoch, deadline, valid_for)
        return sign_extension(borrower_account, loan_id, new_maturity, submitter=submitter, nonce=nonce, epoch=epoch,
                              deadline=deadline, chain_id=self.client.chain_id, ledger=self.ledger_address,
                              separator=self.separator)

    # -- recording ----------------------------------------------------------------------------
    def record(self, recorder: LocalAccount, request: LoanRequest, terms: terms_codec.SealedTerms | bytes) -> LoanTx:
        """recordLoan by the borrower, the creditor or the creditor's agent: Recorded, with the
        recorder's side consented; the other side confirms (`confirm`) within the window."""
        request.check()
        data = _terms_data(request, terms)
        return self._send(recorder, self.client.ledger.functions.recordLoan(request.as_abi(), data), "record loan")

    def record_with_consent(self, submitter: LocalAccount, request: LoanRequest,
                            terms: terms_codec.SealedTerms | bytes, *, consent: ConsentSignature,
                            draw: int = 0) -> LoanTx:
        """recordLoanWithConsent: the lender side named in the borrower's `consent` submits; Active at
        once (both sides consented), optionally drawing `draw` at today's rate and weight."""
        request.check()
        if not 0 <= draw <= request.principal:
            raise ValidationError(f"draw: {format_amount(draw)} must be between 0 and the principal "
                                  f"{format_amount(request.principal)}", field="draw", value=draw,
                                  allowed=f"0 to {format_amount(request.principal)}")
        data = _terms_data(request, terms)
        call = self.client.ledger.functions.recordLoanWithConsent(request.as_abi(), data, draw, consent.as_abi())
        return self._send(submitter, call, "record loan with consent")

    def record_co_signed(self, lender: LocalAccount, borrower_account: LocalAccount, request: LoanRequest,
                         terms: terms_codec.SealedTerms | bytes, *, draw: int = 0,
                         valid_for: int = CONSENT_VALID_FOR) -> LoanTx:
        """Both consents in one transaction: `borrower_account` signs a consent naming `lender`'s
        institution (the creditor or its agent) as submitter, and `lender` submits it."""
        consent = self.sign_consent(borrower_account, request, draw, submitter=self.institution_of(lender),
                                    valid_for=valid_for)
        return self.record_with_consent(lender, request, terms, consent=consent, draw=draw)

    def confirm(self, account: LocalAccount, loan_id: int) -> LoanTx:
        """confirmLoan: the side that has not consented yet (borrower, or creditor / its agent)."""
        return self._send(account, self.client.ledger.functions.confirmLoan(loan_id), f"confirm loan {loan_id}", loan_id)

    # -- money ------------------------------------------------------------------------------------
    def draw(self, account: LocalAccount, loan_id: int, amount: int) -> LoanTx:
        """drawdown (borrower or lender side): converted and weighted as of now, limit-checked."""
        return self._send(account, self.client.ledger.functions.drawdown(loan_id, amount),
                          f"drawdown on loan {loan_id}", loan_id)

    def repay(self, account: LocalAccount, loan_id: int, amount: int) -> LoanTx:
        """repay (lender side acknowledges receipt): the contribution falls pro rata."""
        return self._send(account, self.client.ledger.functions.repay(loan_id, amount),
                          f"repayment of loan {loan_id}", loan_id)

    # -- changes and endings ------------------------------------------------------------------------
    def extend(self, account: LocalAccount, loan_id: int, new_maturity: int,
               consent: ConsentSignature | None = None) -> LoanTx:
        """extendMaturity (lender side, same term class), or extendMaturityWithConsent with the
        borrower's `ExtensionConsent` (needed when the term class changes)."""
        ledger = self.client.ledger.functions
        call = ledger.extendMaturity(loan_id, new_maturity) if consent is None else \
            ledger.extendMaturityWithConsent(loan_id, new_maturity, consent.as_abi())
        return self._send(account, call, f"extension of loan {loan_id}", loan_id)

    def extend_co_signed(self, lender: LocalAccount, borrower_account: LocalAccount, loan_id: int,
                         new_maturity: int, *, valid_for: int = CONSENT_VALID_FOR) -> LoanTx:
        """An extension with the borrower's consent naming `lender`'s institution, in one transaction."""
        consent = self.sign_extension(borrower_account, loan_id, new_maturity, submitter=self.institution_of(lender),
                                      valid_for=valid_for)
        return self.extend(lender, loan_id, new_maturity, consent)

    def cancel(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.cancelLoan(loan_id), f"cancelling loan {loan_id}",
                          loan_id)

    def close(self, account: LocalAccount, loan_id: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.closeLoan(loan_id), f"closing loan {loan_id}", loan_id)

    def default(self, account: LocalAccount, loan_id: int) -> LoanTx:
        """declareDefault (lender side): Defaulted, still counting until the regulator writes it off."""
        return self._send(account, self.client.ledger.functions.declareDefault(loan_id),
                          f"declaring loan {loan_id} in default", loan_id)

    declare_default = default

    def reshare(self, account: LocalAccount, loan_id: int, ring: KeyRing, to: Sequence[int]) -> LoanTx:
        """shareTerms: re-seal the terms (which `ring` must open) for the current keys of `to`."""
        event = self._event(loan_id)
        reader = TermsReader(ring, self.client.deployment.chain_id)
        plaintext: bytes | None = None
        problems = []
        for data in [event.terms, *self.shared_envelopes(loan_id)]:
            try:
                plaintext = reader.plaintext(data, **self._binding(event))
                break
            except ValidationError as exc:
                problems.append(str(exc))
        if plaintext is None:
            raise ValidationError(f"cannot re-share loan {loan_label(loan_id)}: {problems[0]}", field="keys",
                                  value=loan_id, allowed="the key ring of a party (or the regulator) of the loan")
        sealer = TermsSealer(self.client)
        assert sealer.keys is not None
        envelope = sealer.seal_plaintext(plaintext, document_hash=event.request.document_hash,
                                         terms_hash=event.request.terms_hash,
                                         recipients=sealer.keys.recipients(list(to)))
        return self._send(account, self.client.ledger.functions.shareTerms(loan_id, envelope),
                          f"re-sharing the terms of loan {loan_id}", loan_id)



def _terms_data(request: LoanRequest, terms: terms_codec.SealedTerms | bytes) -> bytes:
    data = terms.data if isinstance(terms, terms_codec.SealedTerms) else bytes(terms)
    if not terms_codec.verify_emitted(data, request.terms_hash):
        raise ValidationError("terms: the terms bytes do not open the request's terms hash", field="terms_hash",
                              value="0x" + request.terms_hash.hex(), allowed="keccak256(salt || encoding) of the terms")
    return data


__all__ = ["CONSENT_VALID_FOR", "INSTITUTION_ALLOWED", "LOAN_ALLOWED", "LOAN_RECORDED_TOPIC", "TERMS_SHARED_TOPIC",
           "Drawdown", "Exposure", "LoanService", "LoanTx", "LoanView"]
