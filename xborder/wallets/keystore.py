"""Encrypted JSON keystores (Web3 Secret Storage v3) in one folder, one file per wallet.

File naming: a wallet called ``NAME`` lives in ``<keystores>/NAME`` (no extension). That is the
scheme of Foundry: ``cast wallet import NAME --keystore-dir DIR`` and ``cast wallet new DIR NAME``
write exactly that file, and ``cast send --keystore <file>`` (or ``--account NAME`` with the folder
as Foundry's keystores folder) uses it as is. Files other tools drop in the folder are listed too:
geth's ``UTC--<iso>--<address>`` files (their name is the wallet name; the address comes from the
JSON or the file name) and ``*.json`` files (listed under the name without ``.json``).

Files are created with mode 0600 in a folder of mode 0700: the content is written to a private
temporary file which is then hard-linked to its final name, so a keystore is never visible half
written nor with looser permissions, and an existing wallet is never replaced unless asked.

Foundry keystores carry no ``address`` field; xborder records the address in its own copy on
import, and in ``.addresses.json`` (a cache, never secret) the first time such a file is unlocked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.address import is_hex_address, to_checksum_address

from xborder.config import Settings
from xborder.errors import WalletError

log = logging.getLogger(__name__)

#: Wallet names: letters, digits, `.`, `_`, `-`; no leading dot (so no `..`, no hidden files);
#: long enough for geth's `UTC--2024-01-01T00-00-00.000000000Z--<40 hex>` file names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ADDRESS_CACHE = ".addresses.json"
_GETH_NAME = re.compile(r"^UTC--.+--([0-9a-fA-F]{40})$")


@dataclass(frozen=True)
class WalletInfo:
    """What can be said about a wallet without its password."""

    name: str
    #: Checksummed address, or None when the file does not record it (a Foundry keystore never
    #: unlocked by xborder).
    address: str | None
    #: The keystore file; None for wallets that have none (demo wallets).
    path: Path | None
    #: True for DEMO-ONLY wallets whose keys are derived from a public mnemonic.
    demo: bool = False


def validate_name(name: str) -> str:
    """Return `name` if it is a usable wallet name, else raise WalletError saying what is allowed."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith(".json"):
        raise WalletError(
            f"invalid wallet name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (no '/', no leading '.', no '.json' suffix)"
        )
    return name


def _is_keystore(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("crypto") or data.get("Crypto"), dict)


def _checksum(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw:
        return None
    value = raw if raw.startswith("0x") else "0x" + raw
    return to_checksum_address(value) if is_hex_address(value) else None


def _write_private(path: Path, content: bytes, *, overwrite: bool) -> None:
    """Create `path` with mode 0600 atomically; refuse to replace it unless `overwrite`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".partial")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise WalletError(
                    f"a wallet file already exists at {path}: choose another name, or replace it "
                    "explicitly (--force / overwrite=True)"
                ) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class Keystore:
    """The keystore folder (`settings.keystores`). Production wallets only: scrypt with
    eth-account's default (strong) parameters unless `scrypt_n` is given (tests use light ones)."""

    directory: Path
    #: scrypt `n` override; None keeps eth-account's default (2**18). Only tests should lower it.
    scrypt_n: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Keystore:
        """The keystore folder the settings name (`settings.keystores`)."""
        return cls(settings.keystores)

    # -- paths -------------------------------------------------------------------------------
    def ensure_dir(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.directory, 0o700)
        return self.directory

    def path(self, name: str) -> Path:
        """The file of wallet `name` (existing `NAME` or `NAME.json`), or where it would be made."""
        validate_name(name)
        plain = self.directory / name
        if not plain.exists() and (self.directory / f"{name}.json").exists():
            return self.directory / f"{name}.json"
        return plain

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def _existing(self, name: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(info.name for info in self.list()) or "none"
            raise WalletError(
                f"no wallet called {name!r} in {self.directory} (wallets there: {known}): create "
                "it with `xborder wallet new` or import one with `xborder wallet import`"
            )
        return path

    # -- reading -----------------------------------------------------------------------------
    def _read(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WalletError(f"cannot read keystore {path}: {exc}; is it a JSON keystore file?") from None
        if not _is_keystore(data):
            raise WalletError(f"{path} is not a Web3 Secret Storage (v3) keystore: it has no 'crypto' section")
        return dict(data)

    def _cached_addresses(self) -> dict[str, str]:
        try:
            data = json.loads((self.directory / ADDRESS_CACHE).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _remember_address(self, name: str, address: str) -> None:
        cache = self._cached_addresses()
        if cache.get(name) == address:
            return
        cache[name] = address
        try:
            _write_private(self.directory / ADDRESS_CACHE, json.dumps(cache, indent=1).encode(), overwrite=True)
        except OSError as exc:  # a cache: never fatal
            log.debug("could not update %s: %s", ADDRESS_CACHE, exc)

    def _info(self, name: str, path: Path, data: dict[str, Any], cache: dict[str, str]) -> WalletInfo:
        address = _checksum(data.get("address"))
        if address is None:
            geth = _GETH_NAME.match(path.name)
            address = _checksum(geth.group(1)) if geth else _checksum(cache.get(name))
        return WalletInfo(name=name, address=address, path=path)

    def _iter_files(self) -> Iterator[tuple[str, Path]]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            name = path.name[:-5] if path.name.endswith(".json") else path.name
            if NAME_PATTERN.fullmatch(name):
                yield name, path

    def list(self) -> list[WalletInfo]:
        """Every keystore in the folder (xborder's, cast's, geth's), sorted by name; no password needed.
        Files that are not keystores are skipped (and logged)."""
        cache = self._cached_addresses()
        infos: list[WalletInfo] = []
        for name, path in self._iter_files():
            try:
                data = self._read(path)
            except WalletError as exc:
                log.debug("skipping %s: %s", path, exc)
                continue
            infos.append(self._info(name, path, data, cache))
        return infos

    def info(self, name: str) -> WalletInfo:
        path = self._existing(name)
        return self._info(name, path, self._read(path), self._cached_addresses())

    def address(self, name: str) -> str:
        info = self.info(name)
        if info.address is None:
            raise WalletError(
                f"the keystore of wallet {name!r} ({info.path}) does not record its address (a Foundry "
                "keystore): unlock it once (any command that asks for its password), or re-import it "
                "with `xborder wallet import --password-file ...`"
            )
        return info.address

    # -- unlocking ---------------------------------------------------------------------------
    def load(self, name: str, password: str) -> LocalAccount:
        """Decrypt wallet `name`; WalletError if the password is wrong."""
        path = self._existing(name)
        data = self._read(path)
        try:
            key = Account.decrypt(data, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(
                    f"wrong password for wallet {name!r} ({path}): check the password source "
                    "(prompt, XBORDER_PASSWORD* variable or password file)"
                ) from None
            raise WalletError(f"cannot decrypt wallet {name!r} ({path}): {exc}") from None
        account: LocalAccount = Account.from_key(key)
        recorded = _checksum(data.get("address"))
        if recorded is not None and recorded != account.address:
            raise WalletError(
                f"keystore {path} says address {recorded} but its key belongs to {account.address}: "
                "the file was edited; re-import the key"
            )
        if recorded is None:
            self._remember_address(name, account.address)
        log.info("unlocked wallet %r (%s)", name, account.address)
        return account

    # -- writing -----------------------------------------------------------------------------
    def _encrypt(self, private_key: bytes | str, password: str) -> dict[str, Any]:
        key = private_key if isinstance(private_key, bytes) else HexStr(private_key)
        if not password:
            raise WalletError("refusing to encrypt a wallet with an empty password: give a password")
        if self.scrypt_n is None:
            return dict(Account.encrypt(key, password))
        return dict(Account.encrypt(key, password, kdf="scrypt", iterations=self.scrypt_n))

    def _store(self, name: str, data: dict[str, Any], overwrite: bool) -> WalletInfo:
        validate_name(name)
        self.ensure_dir()
        path = self.directory / name
        if not overwrite and self.exists(name):
            raise WalletError(
                f"wallet {name!r} already exists ({self.path(name)}): choose another name or pass "
                "--force (overwrite=True) to replace it"
            )
        _write_private(path, json.dumps(data).encode(), overwrite=overwrite)
        info = WalletInfo(name=name, address=_checksum(data.get("address")), path=path)
        log.info("stored wallet %r (%s) in %s", name, info.address, path)
        return info

    def new(self, name: str, password: str, *, overwrite: bool = False) -> WalletInfo:
        """Create a wallet with a fresh random key."""
        validate_name(name)
        account = Account.create()
        return self._store(name, self._encrypt(account.key, password), overwrite)

    def import_key(self, name: str, private_key: bytes | str, password: str, *,
                   overwrite: bool = False) -> WalletInfo:
        """Encrypt an existing private key (32 bytes or hex) under `name`."""
        validate_name(name)
        try:
            Account.from_key(private_key)
        except (ValueError, TypeError):
            raise WalletError(
                f"cannot import wallet {name!r}: the private key is not 32 bytes of hex"
            ) from None
        return self._store(name, self._encrypt(private_key, password), overwrite)

    def import_file(self, name: str, source: Path, password: str | None = None, *,
                    overwrite: bool = False) -> WalletInfo:
        """Copy an existing keystore file (cast, geth, MetaMask export...) in as `name`.

        With `password`, the file must decrypt with it, and its address is recorded in the copy;
        without, it is copied as is (and checked the first time it is unlocked)."""
        validate_name(name)
        data = self._read(Path(source))
        if password is not None:
            try:
                key = Account.decrypt(data, password)
            except ValueError:
                raise WalletError(
                    f"wrong password for keystore {source}: it does not decrypt; check the password source"
                ) from None
            address = Account.from_key(key).address
            recorded = _checksum(data.get("address"))
            if recorded is not None and recorded != address:
                raise WalletError(f"keystore {source} says address {recorded} but its key is {address}")
            data["address"] = address[2:].lower()
        elif _checksum(data.get("address")) is None:
            geth = _GETH_NAME.match(Path(source).name)
            if geth:
                data["address"] = geth.group(1).lower()
        return self._store(name, data, overwrite)

    def delete(self, name: str) -> None:
        path = self._existing(name)
        path.unlink()
        log.info("deleted wallet %r (%s)", name, path)
