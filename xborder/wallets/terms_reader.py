"""Opening confidential loan terms with an operator's own keys (docs/confidential-terms.md).

`TermsReader` is what an indexer (the regulator's, a bank's) and `xborder loan show` use to read
the `terms` bytes of `LoanRecorded` / `TermsShared`: an envelope is opened with the operator's
`KeyRing` and checked against the loan's commitment; plaintext terms (from before encryption)
are open to everyone and checked the same way. It needs no chain access and no service: it lives
here, below the services and the index, so both can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from xborder.errors import ValidationError
from xborder.wallets import envelope as env
from xborder.wallets import terms as terms_codec
from xborder.wallets.encryption import KeyRing
from xborder.wallets.envelope import Binding


@dataclass(frozen=True)
class ReadTerms:
    """What an operator learns from the `terms` bytes of one event."""

    readable: bool
    commitment_ok: bool | None
    terms: dict[str, str] | None
    key: tuple[int, int] | None
    encrypted: bool
    error: str = ""

    @property
    def tampered(self) -> bool:
        return self.readable and self.commitment_ok is False


@dataclass
class TermsReader:
    """Opens terms bytes with `ring` (plaintext terms, from before encryption, open for everyone)."""

    ring: KeyRing
    chain_id: int

    def read(self, data: bytes, *, ledger: str, document_hash: bytes, terms_hash: bytes) -> ReadTerms:
        data = bytes(data)
        if not env.is_envelope(data):
            ok = terms_codec.verify(data, terms_hash)
            try:
                decoded: dict[str, str] | None = terms_codec.unseal(data)[1].to_dict()
                error = "" if ok else "the plaintext terms do not open the terms hash (wrong commitment)"
            except ValidationError as exc:
                decoded, error = None, str(exc)
            return ReadTerms(True, ok and decoded is not None, decoded, None, False, error)
        opened = env.open_envelope(data, self.ring.as_mapping(), Binding(self.chain_id, ledger, document_hash,
                                                                          terms_hash))
        if not opened.readable:
            return ReadTerms(False, None, None, None, True, opened.error)
        terms: dict[str, str] | None = None
        error = opened.error
        if opened.plaintext is not None and opened.commitment_ok:
            try:
                terms = terms_codec.unseal(opened.plaintext)[1].to_dict()
            except ValidationError as exc:
                return ReadTerms(True, False, None, opened.key, True, f"decrypted but not xborder terms: {exc}")
        return ReadTerms(True, bool(opened.commitment_ok), terms, opened.key, True, error)

    def plaintext(self, data: bytes, *, ledger: str, document_hash: bytes, terms_hash: bytes) -> bytes:
        """`salt || encoding` of readable, authentic terms (for re-sharing); ValidationError otherwise."""
        data = bytes(data)
        if not env.is_envelope(data):
            if terms_codec.verify(data, terms_hash):
                return data
            raise ValidationError("terms: the plaintext terms do not open the terms hash", field="terms")
        opened = env.open_envelope(data, self.ring.as_mapping(), Binding(self.chain_id, ledger, document_hash,
                                                                          terms_hash))
        if not opened.readable:
            have = ", ".join(f"{i}/v{v}" for i, v in self.ring) or "none"
            names = ", ".join(f"{i}/v{v}" for i, v in env.parse(data).key_ids)
            raise ValidationError(f"terms: none of your keys ({have}) can open these terms (sealed for {names})",
                                  field="keys", value=have, allowed=f"one of {names}")
        if not opened.commitment_ok or opened.plaintext is None:
            raise ValidationError(f"terms: the envelope is not authentic: {opened.error}", field="terms")
        return opened.plaintext
