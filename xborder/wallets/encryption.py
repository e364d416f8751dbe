"""X25519 encryption keys of institutions (confidential loan terms, docs/confidential-terms.md).

Decision: an encryption key is a SEPARATE secret, not derived from the wallet's signing key.
The indexer of a bank or of the regulator must decrypt terms all day; giving it the signing key
of an admin wallet (which can add wallets, record and default loans) to do so would be a needless
privilege. So `xborder institution set-key` generates a random X25519 key and keeps it in an
encrypted *key ring* file next to the wallets:

    <keystores>/encryption-keys/<WALLET NAME>.json     (mode 0600, folder 0700)

encrypted with the same password (and the same password sources: prompt, XBORDER_PASSWORD*,
--password-file) as the wallet of that name: scrypt (n = 2**17, r = 8, p = 1) -> 32-byte key ->
ChaCha20-Poly1305 over the JSON list of private keys, the file's public part as associated data.
Every version is kept (rotation never loses access to loans sealed under an old key). The ring
sits in a sub-folder, so `xborder wallet list` (which lists files, not folders) is unaffected.

DEMO-ONLY / development: `derive_key(secret, institution, version)` = HKDF-SHA256 of a wallet's
private key; demo wallets (`xborder.wallets.demo`) and the tests use it so that no ring is needed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from xborder.errors import WalletError
from xborder.wallets.keystore import validate_name, write_private

log = logging.getLogger(__name__)

RING_FOLDER = "encryption-keys"
RING_FORMAT = "xborder-keyring-1"
_DERIVE_SALT = b"xborder/x25519-terms-key/v1"

KeyId = tuple[int, int]  # (institution, version)


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def derive_key(secret: bytes, institution: int, version: int) -> X25519PrivateKey:
    """DEMO-ONLY / development: the X25519 key `version` of `institution` derived from `secret`
    (a wallet's private key) with HKDF-SHA256. Anyone who has the wallet key has this key."""
    okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=_DERIVE_SALT,
               info=institution.to_bytes(4, "big") + version.to_bytes(4, "big")).derive(bytes(secret))
    return X25519PrivateKey.from_private_bytes(okm)


@dataclass
class KeyRing:
    """Private keys by (institution, version); what the indexer and `loan show` decrypt with."""

    keys: dict[KeyId, X25519PrivateKey] = field(default_factory=dict)

    def add(self, institution: int, version: int, key: X25519PrivateKey) -> None:
        self.keys[(institution, version)] = key

    def merge(self, other: KeyRing) -> KeyRing:
        return KeyRing({**self.keys, **other.keys})

    def institutions(self) -> set[int]:
        return {i for i, _ in self.keys}

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[KeyId]:
        return iter(sorted(self.keys))

    def as_mapping(self) -> Mapping[KeyId, X25519PrivateKey]:
        return self.keys

    @classmethod
    def derived(cls, secret: bytes, institution: int, versions: Iterable[int]) -> KeyRing:
        """DEMO-ONLY: the derived keys `versions` of `institution` (see `derive_key`)."""
        return cls({(institution, v): derive_key(secret, institution, v) for v in versions})


@dataclass(frozen=True)
class KeyRingStore:
    """Encrypted key rings in `<keystores>/encryption-keys/`. `scrypt_n` may be lowered by tests only."""

    keystores: Path
    scrypt_n: int = 2**17

    @property
    def directory(self) -> Path:
        return self.keystores / RING_FOLDER

    def path(self, name: str) -> Path:
        return self.directory / f"{validate_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def _kdf(self, salt: bytes, n: int) -> Scrypt:
        return Scrypt(salt=salt, length=32, n=n, r=8, p=1)

    def load(self, name: str, password: str) -> KeyRing:
        path = self.path(name)
        if not path.is_file():
            raise WalletError(f"no encryption key ring for wallet {name!r} ({path}): create one with "
                              f"`xborder institution set-key INSTITUTION --wallet {name}`")
        try:
            data = json.loads(path.read_text())
            if data.get("format") != RING_FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            salt, nonce = bytes.fromhex(data["salt"]), bytes.fromhex(data["nonce"])
            ciphertext = bytes.fromhex(data["ciphertext"])
            aad = json.dumps(data["public"], sort_keys=True).encode()
            n = int(data["scrypt_n"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WalletError(f"cannot read key ring {path}: {exc}") from None
        try:
            plain = ChaCha20Poly1305(self._kdf(salt, n).derive(password.encode())).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise WalletError(f"wrong password for the key ring of wallet {name!r} ({path}) (or the file was "
                              "edited): it uses the wallet's password source") from None
        ring = KeyRing()
        for item in json.loads(plain):
            key = X25519PrivateKey.from_private_bytes(bytes.fromhex(item["private_key"]))
            ring.add(int(item["institution"]), int(item["version"]), key)
        log.info("unlocked key ring %r: %d key(s)", name, len(ring))
        return ring

    def save(self, name: str, ring: KeyRing, password: str) -> Path:
        if not password:
            raise WalletError("refusing to encrypt a key ring with an empty password")
        self.keystores.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        public = [{"institution": i, "version": v, "public_key": public_bytes(k).hex()}
                  for (i, v), k in sorted(ring.keys.items())]
        secret = json.dumps([{"institution": i, "version": v, "private_key": private_bytes(k).hex()}
                             for (i, v), k in sorted(ring.keys.items())]).encode()
        salt, nonce = os.urandom(16), os.urandom(12)
        aad = json.dumps(public, sort_keys=True).encode()
        ciphertext = ChaCha20Poly1305(self._kdf(salt, self.scrypt_n).derive(password.encode())).encrypt(
            nonce, secret, aad)
        data = {"format": RING_FORMAT, "kdf": "scrypt", "scrypt_n": self.scrypt_n, "scrypt_r": 8, "scrypt_p": 1,
                "aead": "chacha20-poly1305", "salt": salt.hex(), "nonce": nonce.hex(), "public": public,
                "ciphertext": ciphertext.hex()}
        path = self.path(name)
        write_private(path, json.dumps(data, indent=1).encode(), overwrite=True)
        log.info("stored key ring %r (%d key(s)) in %s", name, len(ring), path)
        return path

    def add_key(self, name: str, password: str, institution: int, version: int,
                key: X25519PrivateKey | None = None) -> X25519PrivateKey:
        """Add (institution, version) to the ring of `name` (created if missing); return the key."""
        ring = self.load(name, password) if self.exists(name) else KeyRing()
        if (institution, version) in ring.keys and key is None:
            return ring.keys[(institution, version)]
        key = key or X25519PrivateKey.generate()
        ring.add(institution, version, key)
        self.save(name, ring, password)
        return key
