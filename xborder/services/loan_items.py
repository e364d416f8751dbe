"""What a loan batch is made of: `LoanItem` (one loan to record, with its sealed terms and who
records / co-signs it), `LoanOutcome` (the engine's outcome plus a loan row's reference, id and
bad field) and `BatchReport`. `xborder.services.loan_batch` plans and sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from xborder.bindings.batch import Outcome
from xborder.domain.loans import LoanRequest
from xborder.domain.money import format_amount
from xborder.errors import ValidationError
from xborder.services import terms as terms_codec
from xborder.services.confidential import TermsSealer

RECORDED = "recorded"            # landed (the engine's DONE, for a loan)
ALREADY = "already recorded"     # an earlier run recorded it


@dataclass
class LoanItem:
    """One loan to record. With `borrower_account` the borrower co-signs (EIP-712 consent naming the
    recorder's institution, which must be the creditor or its agent) and the loan is recorded
    Active in one transaction, drawing `draw` at once; without it the loan is recorded awaiting the
    other side's confirmation (`draw` must then be 0)."""

    request: LoanRequest
    terms: bytes
    recorder: LocalAccount
    borrower_account: LocalAccount | None = None
    draw: int = 0
    ref: str = ""
    row: int | None = None

    @classmethod
    def build(cls, *, borrower: int, creditor: int, currency: str, principal: int, value_date: int,
              maturity_date: int, financing_type: int, document: bytes, terms: terms_codec.LoanTerms,
              recorder: LocalAccount, borrower_account: LocalAccount | None = None, draw: int = 0,
              ref: str = "", row: int | None = None, salt: bytes | None = None,
              sealer: TermsSealer | None = None) -> LoanItem:
        """Seal `terms` (salt derived from the recorder's key, the document and the terms unless
        given: the same item always gets the same terms hash) and assemble the request. With
        `sealer` the emitted terms are an envelope for the parties and the regulator
        (docs/confidential-terms.md); without, the plaintext `salt || encoding`."""
        encoding = terms_codec.encode(terms)
        sealed = terms_codec.seal(terms, salt if salt is not None else
                                  terms_codec.derive_salt(bytes(recorder.key), document, encoding))
        if sealer is not None:
            sealed = sealer.seal(sealed, document_hash=document, borrower=borrower, creditor=creditor,
                                 recorder=recorder.address)
        request = LoanRequest(borrower, creditor, currency, principal, value_date, maturity_date, financing_type,
                              document, sealed.terms_hash)
        return cls(request, sealed.data, recorder, borrower_account, draw, ref, row)

    @property
    def co_signed(self) -> bool:
        return self.borrower_account is not None

    def check(self) -> None:
        """The item's own data (ValidationError naming the field)."""
        self.request.check()
        if not 0 <= self.draw <= self.request.principal:
            raise ValidationError(
                f"draw: {format_amount(self.draw)} is more than the principal {format_amount(self.request.principal)}",
                field="draw", value=format_amount(self.draw),
                allowed=f"0 to the principal {format_amount(self.request.principal)}")
        if self.draw and not self.co_signed:
            raise ValidationError("draw: drawing at once needs the borrower's consent: give the borrower's wallet too",
                                  field="draw", value=format_amount(self.draw),
                                  allowed="0 unless a borrower wallet co-signs")
        if not terms_codec.verify_emitted(self.terms, self.request.terms_hash):
            raise ValidationError("terms: the terms bytes do not open the terms hash", field="terms",
                                  value="0x" + self.request.terms_hash.hex(), allowed="keccak256(terms bytes) == termsHash")


@dataclass
class LoanOutcome(Outcome):
    """The engine's outcome plus what a loan row needs: its reference, row, loan id and, for an
    invalid row, which field, which value and what is allowed."""

    ref: str = ""
    loan_id: int | None = None
    row: int | None = None
    field: str | None = None
    value: str | None = None
    allowed: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"row": self.row, "ref": self.ref, "status": self.status}
        for key in ("reason", "error", "loan_id", "tx_hash", "gas_used", "field", "value", "allowed"):
            value = getattr(self, key)
            if value not in (None, ""):
                data[key] = value
        return data


@dataclass
class BatchReport:
    outcomes: list[LoanOutcome]
    seconds: float = 0.0
    submitted: int = 0

    def with_status(self, *statuses: str) -> list[LoanOutcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    @property
    def rate(self) -> float:
        landed = len(self.with_status(RECORDED))
        return landed / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "seconds": round(self.seconds, 3), "loans_per_second": round(self.rate, 1),
                "rows": [o.to_json() for o in sorted(self.outcomes, key=lambda o: (o.row or 0, o.index))]}
