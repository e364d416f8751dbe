"""Ledger acts that are not one party's loan lifecycle: the regulator's controls (write-off of a
Defaulted loan, expiry of a Recorded one, document release, drawdown freeze) each with a
`ReasonCode`; a creditor's agents; a borrower withdrawing single consents it signed (their nonces;
all of them at once is the registry's epoch move, `xborder.services.onboarding.revoke_signatures`)."""

from __future__ import annotations

from collections.abc import Iterable

from eth_account.signers.local import LocalAccount

from xborder.bindings.consent import invalidation_masks
from xborder.domain.enums import ReasonCode
from xborder.domain.loans import short_hash
from xborder.errors import ValidationError
from xborder.services.loan_reads import LoanBase, LoanTx


class LoanControls(LoanBase):
    """Mixin of `LoanService`: regulator controls, agents, consent revocation."""

    # -- the regulator (REGULATOR_ROLE on the ledger; works while the ledger is paused) --------
    def write_off(self, regulator: LocalAccount, loan_id: int,
                  reason: ReasonCode = ReasonCode.WRITE_OFF_APPROVED) -> LoanTx:
        """writeOff: confirm the write-off of a Defaulted loan (or an Active one of a Revoked creditor);
        its contribution leaves the balance."""
        return self._send(regulator, self.client.ledger.functions.writeOff(loan_id, int(reason)),
                          f"writing off loan {loan_id} ({reason.label})", loan_id)

    def expire(self, account: LocalAccount, loan_id: int, reason: ReasonCode = ReasonCode.UNSPECIFIED) -> LoanTx:
        """expireLoan: the regulator any time (any reason); anyone once the confirmation window closed."""
        return self._send(account, self.client.ledger.functions.expireLoan(loan_id, int(reason)),
                          f"expiring loan {loan_id}", loan_id)

    def release_document(self, regulator: LocalAccount, document: bytes,
                         reason: ReasonCode = ReasonCode.DOCUMENT_DISPUTE) -> LoanTx:
        """releaseDocument: free a document from the live loan that holds it (the loan is unchanged)."""
        loan_id = int(self.client.ledger.functions.liveLoanOfDocument(document).call())
        tx = self._send(regulator, self.client.ledger.functions.releaseDocument(document, int(reason)),
                        f"releasing document {short_hash(document)} ({reason.label})", loan_id or None)
        return tx

    def freeze(self, regulator: LocalAccount, institution: int, reason: ReasonCode = ReasonCode.SUSPECTED_FRAUD) -> LoanTx:
        """freezeDrawdowns: no new drawdown (nor first draw) for `institution` as borrower."""
        return self._send(regulator, self.client.ledger.functions.freezeDrawdowns(institution, int(reason)),
                          f"freezing the drawdowns of {self.client.institution_name(institution)} ({reason.label})")

    def unfreeze(self, regulator: LocalAccount, institution: int, reason: ReasonCode = ReasonCode.UNSPECIFIED) -> LoanTx:
        return self._send(regulator, self.client.ledger.functions.unfreezeDrawdowns(institution, int(reason)),
                          f"lifting the drawdown freeze of {self.client.institution_name(institution)}")

    # -- agents ----------------------------------------------------------------------------------
    def appoint_agent(self, account: LocalAccount, agent: int) -> LoanTx:
        """appointAgent: bank `agent` becomes lender side of every loan of `account`'s institution as creditor."""
        return self._send(account, self.client.ledger.functions.appointAgent(agent),
                          f"appointing {self.client.institution_name(agent)} as agent")

    def dismiss_agent(self, account: LocalAccount, agent: int) -> LoanTx:
        return self._send(account, self.client.ledger.functions.dismissAgent(agent),
                          f"dismissing agent {self.client.institution_name(agent)}")

    # -- withdrawing consents ----------------------------------------------------------------------
    def revoke_consents(self, account: LocalAccount, nonces: Iterable[int]) -> list[LoanTx]:
        """invalidateConsentNonces: void the given consent nonces of `account`'s institution (one
        transaction per 256-nonce bitmap word)."""
        wanted = sorted(set(nonces))
        if not wanted:
            raise ValidationError("nonce: give at least one consent nonce to revoke", field="nonce", value="",
                                  allowed="consent nonces (0 .. 2^64-1)")
        try:
            masks = invalidation_masks(wanted)
        except ValueError as exc:
            raise ValidationError(f"nonce: {exc}", field="nonce", value=str(wanted),
                                  allowed="consent nonces (0 .. 2^64-1)") from None
        return [self._send(account, self.client.ledger.functions.invalidateConsentNonces(word, mask),
                           f"revoking consent nonces {', '.join(str(n) for n in wanted if n // 256 == word)}")
                for word, mask in sorted(masks.items())]
