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

Every keystore is checked before it is used, imported or listed (`check_keystore`, in
`xborder.wallets.keystore_format`); a problem is reported naming the field (`KeystoreFormatError`,
exit 6); `list()` shows an unreadable file with its reason instead of hiding it.

Foundry keystores carry no ``address`` field; xborder records the address in its own copy on
import, and in ``.addresses.json`` (a cache, never secret) the first time such a file is unlocked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

from xborder.config import Settings
from xborder.errors import WalletError
from xborder.files import write_atomically
from xborder.wallets.keystore_format import KeystoreFormatError, check_keystore, recorded_address

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
    #: Why the file cannot be used (not JSON, not a v3 keystore, a bad field); None if it can.
    problem: str | None = None


def validate_name(name: str) -> str:
    """Return `name` if it is a usable wallet name, else raise WalletError saying what is allowed."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith(".json"):
        raise WalletError(
            f"invalid wallet name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (no '/', no leading '.', no '.json' suffix)"
        )
    return name


def write_private(path: Path, content: bytes, *, overwrite: bool) -> None:
    """Create `path` with mode 0600 atomically; refuse to replace it unless `overwrite`."""
    try:
        write_atomically(path, content, overwrite=overwrite)
    except FileExistsError:
        raise WalletError(
            f"a wallet file already exists at {path}: choose another name, or replace it "
            "explicitly (--force / overwrite=True)"
        ) from None


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
        """The keystore in `path`, checked (KeystoreFormatError naming the field if unusable)."""
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise KeystoreFormatError(path, f"cannot be read ({exc.strerror or exc})") from None
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeystoreFormatError(path, f"not JSON ({exc}): a Web3 Secret Storage v3 keystore is a "
                                            "JSON file") from None
        except RecursionError:
            raise KeystoreFormatError(path, "not JSON (nested too deeply)") from None
        problem = check_keystore(data)
        if problem is not None:
            raise KeystoreFormatError(path, problem)
        return dict(data)

    def _decrypt(self, data: dict[str, Any], password: str, path: Path, wrong_password: str) -> LocalAccount:
        """The account; WalletError `wrong_password` if the MAC does not match."""
        try:
            key = bytes(Account.decrypt(data, password))
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(wrong_password) from None
            raise KeystoreFormatError(path, f"cannot be decrypted ({exc})") from None
        except (KeyError, TypeError, AttributeError) as exc:  # check_keystore should have said why
            raise KeystoreFormatError(path, f"cannot be decrypted ({type(exc).__name__}: {exc})") from None
        try:
            account: LocalAccount = Account.from_key(key)
        except ValueError:
            raise KeystoreFormatError(
                path, "the password is right (the MAC matches) but the key decrypts to an invalid private "
                      "key: crypto.cipherparams.iv was changed (the MAC does not cover it); restore the file "
                      "from a backup") from None
        return account

    @staticmethod
    def _check_address(path: Path, data: dict[str, Any], address: str) -> None:
        recorded = recorded_address(data.get("address"))
        if recorded is not None and recorded != address:
            raise KeystoreFormatError(
                path, f"the password is right (the MAC matches) but the key decrypts to {address}, not to "
                      f"the recorded address {recorded}: crypto.cipherparams.iv was changed (the MAC does "
                      "not cover it) or the address was edited; restore the file from a backup")

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
            write_private(self.directory / ADDRESS_CACHE, json.dumps(cache, indent=1).encode(), overwrite=True)
        except OSError as exc:  # a cache: never fatal
            log.debug("could not update %s: %s", ADDRESS_CACHE, exc)

    def _info(self, name: str, path: Path, data: dict[str, Any], cache: dict[str, str]) -> WalletInfo:
        address = recorded_address(data.get("address"))
        if address is None:
            geth = _GETH_NAME.match(path.name)
            address = recorded_address(geth.group(1)) if geth else recorded_address(cache.get(name))
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
        A file that cannot be used is listed too, with its `problem`."""
        cache = self._cached_addresses()
        infos: list[WalletInfo] = []
        for name, path in self._iter_files():
            try:
                data = self._read(path)
            except KeystoreFormatError as exc:
                geth = _GETH_NAME.match(path.name)
                infos.append(WalletInfo(name=name, address=recorded_address(geth.group(1)) if geth else None,
                                        path=path, problem=exc.problem))
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
        account = self._decrypt(data, password, path,
                                f"wrong password for wallet {name!r} ({path}): check the password source "
                                "(prompt, XBORDER_PASSWORD* variable or password file)")
        self._check_address(path, data, account.address)
        recorded = recorded_address(data.get("address"))
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
        write_private(path, json.dumps(data).encode(), overwrite=overwrite)
        info = WalletInfo(name=name, address=recorded_address(data.get("address")), path=path)
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
            address = self._decrypt(data, password, Path(source),
                                    f"wrong password for keystore {source}: it does not decrypt; check the "
                                    "password source").address
            self._check_address(Path(source), data, address)
            data["address"] = address[2:].lower()
        elif recorded_address(data.get("address")) is None:
            geth = _GETH_NAME.match(Path(source).name)
            if geth:
                data["address"] = geth.group(1).lower()
        return self._store(name, data, overwrite)

    def delete(self, name: str) -> None:
        path = self._existing(name)
        path.unlink()
        log.info("deleted wallet %r (%s)", name, path)
