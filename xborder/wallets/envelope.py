"""Terms envelopes: the confidential terms of a loan, encrypted once for several institutions.

Format version 1 (docs/confidential-terms.md), all integers big-endian:

    magic        4 bytes   b"XBE\\x01"
    count        1 byte    number of recipients n (1..255)
    n x recipient 88 bytes:
        institution  uint32   (0 = the regulator's own key)
        key version  uint32   (the registry's EncryptionKeyRegistered version)
        wrapped key  80 bytes  HPKE(X25519, HKDF-SHA256, ChaCha20-Poly1305) single-shot seal of the
                               32-byte content key: enc (32) || ciphertext (32) || tag (16)
    nonce        12 bytes
    ciphertext   len(plaintext) + 16   ChaCha20-Poly1305(content key, nonce, plaintext, aad)

    context  = b"xborder/terms-envelope/v1" || chainId (uint256) || ledger (20 bytes)
               || documentHash (32) || termsHash (32)
    aad      = context || magic || count || every recipient entry (so no entry can be dropped,
               added or swapped without every recipient noticing)
    HPKE info per recipient = context || institution (uint32) || key version (uint32)

The plaintext is `salt (32) || canonical encoding` (xborder.wallets.terms), so a recipient checks
keccak256(plaintext) == termsHash. Every primitive comes from `cryptography` (RFC 9180 HPKE,
RFC 8439 ChaCha20-Poly1305); nothing here is home-made cryptography, only framing.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from eth_hash.auto import keccak

from xborder.errors import ValidationError

MAGIC = b"XBE\x01"
CONTEXT_TAG = b"xborder/terms-envelope/v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = 32 + KEY_BYTES + TAG_BYTES  # HPKE enc || sealed content key
ENTRY_BYTES = 4 + 4 + WRAPPED_BYTES
HEADER_BYTES = len(MAGIC) + 1
MAX_RECIPIENTS = 255
REGULATOR = 0  # institution id of the regulator's own key

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

KeyId = tuple[int, int]  # (institution, key version)


@dataclass(frozen=True)
class Recipient:
    """An institution's registered encryption key (`public_key`: 32 raw X25519 bytes)."""

    institution: int
    version: int
    public_key: bytes


@dataclass(frozen=True)
class Binding:
    """What the envelope is bound to: the chain, the ledger and the loan's two hashes."""

    chain_id: int
    ledger: str | bytes
    document_hash: bytes
    terms_hash: bytes

    def context(self) -> bytes:
        ledger = self.ledger if isinstance(self.ledger, bytes) else bytes.fromhex(self.ledger.removeprefix("0x"))
        if len(ledger) != 20 or len(self.document_hash) != 32 or len(self.terms_hash) != 32:
            raise ValidationError("envelope binding: ledger must be 20 bytes, document and terms hashes 32 bytes",
                                  field="binding", value=(len(ledger), len(self.document_hash), len(self.terms_hash)),
                                  allowed="(20, 32, 32) bytes")
        return CONTEXT_TAG + self.chain_id.to_bytes(32, "big") + ledger + self.document_hash + self.terms_hash


@dataclass(frozen=True)
class Entry:
    institution: int
    version: int
    wrapped: bytes


@dataclass(frozen=True)
class Envelope:
    entries: tuple[Entry, ...]
    nonce: bytes
    ciphertext: bytes
    header: bytes  # magic .. last entry: authenticated as part of the aad

    @property
    def key_ids(self) -> list[KeyId]:
        return [(e.institution, e.version) for e in self.entries]


class EnvelopeError(ValidationError):
    """Bytes that are not a well-formed envelope, or an envelope that fails authentication."""


def is_envelope(data: bytes) -> bool:
    return bytes(data[:len(MAGIC)]) == MAGIC


def _info(context: bytes, institution: int, version: int) -> bytes:
    return context + struct.pack(">II", institution, version)


def seal(plaintext: bytes, recipients: Sequence[Recipient], binding: Binding) -> bytes:
    """Encrypt `plaintext` once under a fresh content key and wrap that key for every recipient."""
    if not recipients:
        raise ValidationError("envelope: no recipients", field="recipients", value=0, allowed="1 to 255 keys")
    if len(recipients) > MAX_RECIPIENTS:
        raise ValidationError(f"envelope: {len(recipients)} recipients", field="recipients",
                              value=len(recipients), allowed=f"at most {MAX_RECIPIENTS}")
    seen: set[KeyId] = set()
    context = binding.context()
    content_key = ChaCha20Poly1305.generate_key()
    header = bytearray(MAGIC + bytes([len(recipients)]))
    for r in recipients:
        if (r.institution, r.version) in seen:
            raise ValidationError(f"envelope: key {r.institution}/v{r.version} given twice", field="recipients",
                                  value=(r.institution, r.version), allowed="each key once")
        seen.add((r.institution, r.version))
        if len(r.public_key) != 32 or not any(r.public_key):
            raise ValidationError(f"envelope: institution {r.institution} key v{r.version} is not an X25519 key",
                                  field="public_key", value="0x" + r.public_key.hex(), allowed="32 non-zero bytes")
        public = X25519PublicKey.from_public_bytes(r.public_key)
        wrapped = _SUITE.encrypt(content_key, public, info=_info(context, r.institution, r.version))
        assert len(wrapped) == WRAPPED_BYTES
        header += struct.pack(">II", r.institution, r.version) + wrapped
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = ChaCha20Poly1305(content_key).encrypt(nonce, plaintext, context + bytes(header))
    return bytes(header) + nonce + ciphertext


def parse(data: bytes) -> Envelope:
    """The structure of an envelope (no key needed); EnvelopeError if it is malformed."""
    data = bytes(data)
    allowed = "an xborder terms envelope v1 (docs/confidential-terms.md)"
    if not is_envelope(data) or len(data) < HEADER_BYTES:
        raise EnvelopeError("terms: not an xborder terms envelope (bad magic)", field="terms", value=data[:4],
                            allowed=allowed)
    count = data[len(MAGIC)]
    end = HEADER_BYTES + count * ENTRY_BYTES
    if count == 0 or len(data) < end + NONCE_BYTES + TAG_BYTES:
        raise EnvelopeError(f"terms: envelope of {len(data)} bytes is too short for {count} recipient(s)",
                            field="terms", value=len(data), allowed=allowed)
    entries = []
    for k in range(count):
        at = HEADER_BYTES + k * ENTRY_BYTES
        institution, version = struct.unpack(">II", data[at:at + 8])
        entries.append(Entry(institution, version, data[at + 8:at + ENTRY_BYTES]))
    return Envelope(tuple(entries), data[end:end + NONCE_BYTES], data[end + NONCE_BYTES:], data[:end])


@dataclass(frozen=True)
class Opened:
    """The result of opening an envelope with some keys.

    readable: one of our keys is a recipient; `plaintext` is set when authentication passed.
    commitment_ok: keccak256(plaintext) == termsHash (None when not readable).
    tampered: one of our keys is a recipient but the key unwrap or the AEAD failed, or the
    plaintext does not open the commitment: the envelope must not be trusted."""

    readable: bool
    plaintext: bytes | None = None
    key: KeyId | None = None
    commitment_ok: bool | None = None
    error: str = ""

    @property
    def tampered(self) -> bool:
        return self.readable and not self.commitment_ok


def open_envelope(data: bytes, keys: Mapping[KeyId, X25519PrivateKey], binding: Binding) -> Opened:
    """Open `data` with whichever of `keys` (by (institution, version)) it names."""
    try:
        envelope = parse(data)
    except EnvelopeError as exc:
        return Opened(readable=False, error=str(exc))
    context = binding.context()
    errors = []
    for entry in envelope.entries:
        key = keys.get((entry.institution, entry.version))
        if key is None:
            continue
        key_id = (entry.institution, entry.version)
        try:
            content_key = _SUITE.decrypt(entry.wrapped, key, info=_info(context, entry.institution, entry.version))
        except Exception as exc:  # noqa: BLE001 - any unwrap failure means "not authentic"
            errors.append(f"key {entry.institution}/v{entry.version}: the wrapped key does not open "
                          f"({type(exc).__name__})")
            continue
        try:
            plaintext = ChaCha20Poly1305(content_key).decrypt(envelope.nonce, envelope.ciphertext,
                                                              context + envelope.header)
        except InvalidTag:
            return Opened(readable=True, key=key_id, commitment_ok=False,
                          error="the ciphertext fails authentication (tampered, or bound to another loan)")
        ok = hmac.compare_digest(bytes(keccak(plaintext)), binding.terms_hash)
        return Opened(readable=True, plaintext=plaintext, key=key_id, commitment_ok=ok,
                      error="" if ok else "the decrypted terms do not open the terms hash (wrong commitment)")
    if errors:
        return Opened(readable=True, commitment_ok=False, error="; ".join(errors))
    return Opened(readable=False)


def envelope_size(recipients: int, plaintext_bytes: int) -> int:
    """Bytes of an envelope for `recipients` keys and a plaintext of `plaintext_bytes`."""
    return HEADER_BYTES + recipients * ENTRY_BYTES + NONCE_BYTES + plaintext_bytes + TAG_BYTES
