"""Commercial terms of a loan: kept off-chain, committed on-chain.

The ledger never stores the interest rate, fees, purpose, external reference, document metadata
or free text. It stores `termsHash`, a salted commitment, and emits the `terms` bytes in
`LoanRecorded`:

* `encode(terms)` -> the canonical encoding: UTF-8 JSON with sorted keys, no whitespace, only
  non-empty fields, prefixed by a version tag (`CANONICAL_PREFIX`);
* `commitment(salt, encoding)` = keccak256(salt (32 bytes) || encoding);
* `seal(terms, salt)` -> the plaintext `salt || encoding` (so `keccak256(plaintext) == termsHash`).
  What the ledger emits is normally an encrypted envelope of that plaintext for the parties and
  the regulator (`xborder.services.confidential.TermsSealer`, docs/confidential-terms.md); the
  plaintext itself is emitted only when explicitly allowed (`--allow-plaintext`).

The salt hides low-entropy terms (an interest rate is easy to guess) from anyone who only sees
the hash. `random_salt()` is the default; `derive_salt(secret, document_hash, encoding)` gives a
salt that is unguessable without `secret` (e.g. the recorder's private key) yet the same on every
run, which is what makes a repeated CSV import recognise its own loans ("already recorded").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_hash.auto import keccak

from xborder.errors import ValidationError

SALT_BYTES = 32
CANONICAL_PREFIX = b"xbt1:"
#: Upper bound on the encoded terms (they travel in calldata and in an event).
MAX_ENCODED_BYTES = 4096
_TEXT_LIMITS = {"fees": 256, "purpose": 256, "external_ref": 128, "document_name": 256,
                "document_uri": 512, "notes": 1024}
_RATE = re.compile(r"^\d{1,3}(\.\d{1,6})?$")


@dataclass(frozen=True)
class LoanTerms:
    """The commercial terms of one loan (all optional).

    `interest_rate` is the annual rate in percent as a decimal string ("4.35" = 4.35 % p.a.,
    0 to 100, at most 6 decimals); the other fields are free text."""

    interest_rate: str = ""
    fees: str = ""
    purpose: str = ""
    external_ref: str = ""
    document_name: str = ""
    document_uri: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        validate_terms(self)

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoanTerms:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"terms: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})",
                                  field="terms", value=unknown, allowed=", ".join(sorted(known)))
        return cls(**{k: str(v) for k, v in data.items()})


def normalise_rate(value: str, field: str = "interest_rate") -> str:
    """'4.350' -> '4.35'; '' stays ''. Refuses anything but a percentage 0..100, <= 6 decimals."""
    text = value.strip().removesuffix("%").strip()
    if not text:
        return ""
    allowed = "an annual rate in percent, 0 to 100, at most 6 decimals (e.g. 4.35)"
    if not _RATE.match(text):
        raise ValidationError(f"{field}: {value!r} is not a valid interest rate ({allowed})",
                              field=field, value=value, allowed=allowed)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a number
        raise ValidationError(f"{field}: {value!r} is not a number ({allowed})", field=field,
                              value=value, allowed=allowed) from None
    if number > 100:
        raise ValidationError(f"{field}: {value!r} is above 100 % ({allowed})", field=field,
                              value=value, allowed=allowed)
    normal = format(number.normalize(), "f")
    return normal


def validate_terms(terms: LoanTerms) -> None:
    if terms.interest_rate:
        object.__setattr__(terms, "interest_rate", normalise_rate(terms.interest_rate))
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(terms, name)
        if not isinstance(value, str):
            raise ValidationError(f"{name}: {value!r} must be text", field=name, value=value, allowed="text")
        if len(value.encode("utf-8")) > limit:
            raise ValidationError(f"{name}: {len(value.encode('utf-8'))} bytes is too long (at most {limit} bytes)",
                                  field=name, value=value[:40] + "…", allowed=f"at most {limit} bytes of UTF-8")
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise ValidationError(f"{name}: {value[:40]!r} contains control characters (line breaks are not allowed)",
                                  field=name, value=value[:40], allowed="printable text on one line")


def encode(terms: LoanTerms) -> bytes:
    """Canonical encoding: the same terms always give the same bytes."""
    body = json.dumps(terms.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = CANONICAL_PREFIX + body.encode("utf-8")
    if len(encoded) > MAX_ENCODED_BYTES:
        raise ValidationError(f"terms: {len(encoded)} bytes encoded is too long (at most {MAX_ENCODED_BYTES})",
                              field="terms", value=len(encoded), allowed=f"at most {MAX_ENCODED_BYTES} bytes")
    return encoded


def decode(encoding: bytes) -> LoanTerms:
    if not encoding.startswith(CANONICAL_PREFIX):
        raise ValidationError("terms: not an xborder terms encoding (missing the 'xbt1:' prefix)",
                              field="terms", value=encoding[:8], allowed="xbt1:{json}")
    try:
        data = json.loads(encoding[len(CANONICAL_PREFIX):].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"terms: the encoding is not valid UTF-8 JSON ({exc})", field="terms",
                              value=encoding[:40], allowed="xbt1:{json}") from None
    if not isinstance(data, dict):
        raise ValidationError("terms: the encoding is not a JSON object", field="terms", value=data,
                              allowed="a JSON object")
    return LoanTerms.from_dict(data)


def random_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def derive_salt(secret: bytes, document_hash: bytes, encoding: bytes) -> bytes:
    """A salt that only the holder of `secret` can compute, stable across runs."""
    return hmac.new(secret, b"xborder/terms-salt/v1" + document_hash + encoding, hashlib.sha256).digest()


def commitment(salt: bytes, encoding: bytes) -> bytes:
    """termsHash = keccak256(salt || encoding)."""
    if len(salt) != SALT_BYTES:
        raise ValidationError(f"salt: {len(salt)} bytes, must be exactly {SALT_BYTES}", field="salt",
                              value=len(salt), allowed=f"{SALT_BYTES} bytes")
    return bytes(keccak(salt + encoding))


@dataclass(frozen=True)
class SealedTerms:
    """What goes on chain: `terms_hash` in the request, `data` as the emitted `terms` bytes."""

    terms: LoanTerms
    salt: bytes
    encoding: bytes
    terms_hash: bytes
    data: bytes


def seal(terms: LoanTerms, salt: bytes | None = None) -> SealedTerms:
    """Commit to `terms` and produce the emitted bytes (plaintext `salt || encoding` for now)."""
    salt = salt if salt is not None else random_salt()
    encoding = encode(terms)
    digest = commitment(salt, encoding)
    return SealedTerms(terms, salt, encoding, digest, salt + encoding)


def unseal(data: bytes) -> tuple[bytes, LoanTerms]:
    """(salt, terms) from emitted `terms` bytes."""
    if len(data) < SALT_BYTES + len(CANONICAL_PREFIX):
        raise ValidationError(f"terms: {len(data)} bytes is too short to hold a salt and an encoding",
                              field="terms", value=len(data), allowed="salt (32 bytes) || xbt1:{json}")
    return data[:SALT_BYTES], decode(data[SALT_BYTES:])


def verify_emitted(terms_bytes: bytes, terms_hash: bytes) -> bool:
    """The check a sender can make on the bytes it is about to emit: plaintext terms must open
    `terms_hash`; an envelope must be well formed (only a recipient can check that it opens the
    commitment, and does so when reading)."""
    from xborder.wallets import envelope

    if envelope.is_envelope(terms_bytes):
        try:
            envelope.parse(terms_bytes)
        except ValidationError:
            return False
        return True
    return verify(terms_bytes, terms_hash)


def verify(terms_bytes: bytes, terms_hash: bytes) -> bool:
    """True when the emitted `terms_bytes` open the commitment `terms_hash`."""
    if len(terms_bytes) < SALT_BYTES:
        return False
    return hmac.compare_digest(commitment(terms_bytes[:SALT_BYTES], terms_bytes[SALT_BYTES:]), bytes(terms_hash))
