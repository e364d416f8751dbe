"""What makes a file a usable keystore: a Web3 Secret Storage v3 JSON that eth-account decrypts.

`check_keystore` names the first bad field, its value and what is allowed: version 3, cipher
aes-128-ctr with an IV of 1 to 16 bytes and a 32-byte ciphertext, kdf scrypt or pbkdf2 with
parameters that cannot keep xborder busy for long, a 32-byte MAC, an optional address. The folder
of keystores (`xborder.wallets.keystore.Keystore`) checks every file with it before use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address

from xborder.errors import WalletError


class KeystoreFormatError(WalletError):
    """A keystore file that cannot be used; `problem` names the field, the value and what is allowed."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"keystore {path}: {problem}")
        self.path = path
        self.problem = problem


class _Bad(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
#: scrypt work (n * r * p) xborder accepts: 8 times eth-account's default (2**18 * 8 * 1). With r and
#: p capped too (every wallet tool writes r 8, p 1), a hostile keystore cannot keep xborder busy for
#: long: on main, n 16, r 8, p 1024 kept `Keystore.load` busy for over 100 s on this machine.
MAX_SCRYPT_WORK = 2**24
MAX_PBKDF2_ROUNDS = 10_000_000


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(parent: dict[str, Any], key: str, where: str, allowed: str) -> Any:
    if key not in parent:
        raise _Bad(f"{where}{key}: missing ({allowed})")
    return parent[key]


def _section(parent: dict[str, Any], key: str, where: str, allowed: str) -> dict[str, Any]:
    value = _field(parent, key, where, allowed)
    if not isinstance(value, dict):
        raise _Bad(f"{where}{key}: {_shown(value)} is not an object ({allowed})")
    return value


def _hex(parent: dict[str, Any], key: str, where: str, size: int | None, allowed: str) -> bytes:
    value = _field(parent, key, where, allowed)
    digits = value[2:] if isinstance(value, str) and value.startswith("0x") else value
    if not isinstance(digits, str) or not _HEX_DIGITS.fullmatch(digits) or len(digits) % 2:
        raise _Bad(f"{where}{key}: {_shown(value)} is not hex ({allowed})")
    raw = bytes.fromhex(digits)
    if size is not None and len(raw) != size:
        raise _Bad(f"{where}{key}: {len(raw)} bytes, not {size} ({allowed})")
    if size is None and not 1 <= len(raw) <= 1024:
        raise _Bad(f"{where}{key}: {len(raw)} bytes ({allowed})")
    return raw


def _int(parent: dict[str, Any], key: str, where: str, low: int, high: int, allowed: str) -> int:
    value = _field(parent, key, where, allowed)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad(f"{where}{key}: {_shown(value)} is not an integer ({allowed})")
    if not low <= value <= high:
        raise _Bad(f"{where}{key}: {value} is out of range ({allowed})")
    return value


def _choice(parent: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    text = " or ".join(allowed)
    value = _field(parent, key, where, text)
    if value not in allowed:
        raise _Bad(f"{where}{key}: {_shown(value)} is not supported ({text})")
    return str(value)


def check_keystore(data: object) -> str | None:
    """What keeps `data` from being a usable Web3 Secret Storage v3 keystore (what eth-account
    decrypts: aes-128-ctr, scrypt or pbkdf2), naming the first bad field; None if nothing."""
    try:
        _check(data)
    except _Bad as bad:
        return bad.problem
    return None


def _check(data: object) -> None:
    if not isinstance(data, dict):
        raise _Bad(f"the file holds a JSON {type(data).__name__}, not an object: this is not a Web3 Secret "
                   "Storage v3 keystore")
    if "crypto" not in data and "Crypto" not in data:
        raise _Bad("crypto: missing: this is not a Web3 Secret Storage v3 keystore")
    version = _field(data, "version", "", "3: Web3 Secret Storage v3")
    if version != 3 or isinstance(version, bool):
        raise _Bad(f"version: {_shown(version)} is not supported (3: Web3 Secret Storage v3)")
    crypto = _section(data, "crypto" if "crypto" in data else "Crypto", "", "the encrypted key")
    where = "crypto."
    _choice(crypto, "cipher", where, ("aes-128-ctr",))
    params = _section(crypto, "cipherparams", where, "an object with the IV")
    # eth-keyfile writes the IV as a big-endian integer without its leading zero bytes (one file
    # in 256 has a 15-byte IV) and reads it back the same way: accept 1 to 16 bytes.
    iv = _hex(params, "iv", where + "cipherparams.", None, "1 to 16 bytes as hex digits")
    if len(iv) > 16:
        raise _Bad(f"{where}cipherparams.iv: {len(iv)} bytes, more than 16 (1 to 16 bytes as hex digits)")
    _hex(crypto, "ciphertext", where, 32, "the encrypted 32-byte key as 64 hex digits")
    kdf = _choice(crypto, "kdf", where, ("scrypt", "pbkdf2"))
    kdfparams = _section(crypto, "kdfparams", where, f"the {kdf} parameters")
    at = where + "kdfparams."
    _int(kdfparams, "dklen", at, 32, 32, "32")
    _hex(kdfparams, "salt", at, None, "1 to 1024 bytes as hex digits")
    if kdf == "scrypt":
        n = _int(kdfparams, "n", at, 2, MAX_SCRYPT_WORK, "a power of two from 2 to 2**24; 2**18 by default")
        if n & (n - 1):
            raise _Bad(f"{at}n: {n} is not a power of two (a power of two from 2 to 2**24; 2**18 by default)")
        r = _int(kdfparams, "r", at, 1, 16, "1 to 16; 8 by default")
        p = _int(kdfparams, "p", at, 1, 16, "1 to 16; 1 by default")
        if n * r * p > MAX_SCRYPT_WORK:
            raise _Bad(f"{at}n*r*p: {n * r * p} is more work than xborder accepts (at most 2**24; "
                       "eth-account's default is 2**21)")
    else:
        _choice(kdfparams, "prf", at, ("hmac-sha256",))
        _int(kdfparams, "c", at, 1, MAX_PBKDF2_ROUNDS, f"1 to {MAX_PBKDF2_ROUNDS:,} rounds")
    _hex(crypto, "mac", where, 32, "32 bytes as 64 hex digits")
    address = data.get("address")
    if address not in (None, "") and recorded_address(address) is None:
        raise _Bad(f"address: {_shown(address)} is not an address (optional: 20 bytes as 40 hex digits)")


def recorded_address(raw: object) -> str | None:
    """`raw` (hex, with or without 0x) as a checksummed address; None if it is not one."""
    if not isinstance(raw, str) or not raw:
        return None
    value = raw if raw.startswith("0x") else "0x" + raw
    return to_checksum_address(value) if is_hex_address(value) else None
