"""Where a wallet password comes from: a prompt, an environment variable or a file.

Never from a command-line value (it would show in `ps` and shell history) and never logged.
The CLI builds one `PasswordSource` from its options and calls `resolve(wallet_name)`.

Environment lookup (kind ENV): with `env_var` set, that variable only; otherwise
`XBORDER_PASSWORD_<NAME>` (the wallet name upper-cased, every character other than A-Z/0-9
replaced by `_`) and then `XBORDER_PASSWORD`.
"""

from __future__ import annotations

import enum
import getpass
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xborder.errors import WalletError

DEFAULT_ENV_VAR = "XBORDER_PASSWORD"


class PasswordKind(enum.StrEnum):
    PROMPT = "prompt"
    ENV = "env"
    FILE = "file"


def wallet_env_var(wallet: str) -> str:
    """`XBORDER_PASSWORD_<NAME>` for a wallet name."""
    return f"{DEFAULT_ENV_VAR}_{re.sub(r'[^A-Z0-9]', '_', wallet.upper())}"


def read_password_file(path: Path) -> str:
    """The file's content minus one trailing newline (`\\n` or `\\r\\n`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WalletError(f"cannot read password file {path}: {exc.strerror or exc}") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise WalletError(f"password file {path} is empty: write the password on its first line")
    return text


@dataclass(frozen=True)
class PasswordSource:
    """One way to get a password; see the module docstring."""

    kind: PasswordKind = PasswordKind.PROMPT
    #: ENV: the variable to read; None = per-wallet variable, then XBORDER_PASSWORD.
    env_var: str | None = None
    #: FILE: the password file.
    file: Path | None = None
    #: ENV lookups read this mapping; None means os.environ at resolve time.
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    #: PROMPT: the prompt function (getpass.getpass; tests pass their own).
    prompt: Callable[[str], str] = field(default=getpass.getpass, repr=False, compare=False)

    @classmethod
    def from_options(cls, *, password_file: Path | None = None, password_env: str | None = None,
                     use_env: bool = False) -> PasswordSource:
        """What the CLI calls: `--password-file` wins, then `--password-env VAR`, then the
        default variables if `use_env` (or if one of them is set), else an interactive prompt."""
        if password_file is not None:
            return cls(PasswordKind.FILE, file=Path(password_file))
        if password_env is not None:
            return cls(PasswordKind.ENV, env_var=password_env)
        if use_env:
            return cls(PasswordKind.ENV)
        return cls(PasswordKind.PROMPT)

    def describe(self) -> str:
        if self.kind is PasswordKind.FILE:
            return f"password file {self.file}"
        if self.kind is PasswordKind.ENV:
            return f"environment variable {self.env_var or DEFAULT_ENV_VAR + '[_<NAME>]'}"
        return "interactive prompt"

    def resolve(self, wallet: str, *, confirm: bool = False) -> str:
        """The password for `wallet`. `confirm` (new wallets) asks twice when prompting."""
        if self.kind is PasswordKind.FILE:
            if self.file is None:
                raise WalletError("password source 'file' needs a file path (--password-file PATH)")
            return read_password_file(self.file)
        if self.kind is PasswordKind.ENV:
            env = os.environ if self.environ is None else self.environ
            names = [self.env_var] if self.env_var else [wallet_env_var(wallet), DEFAULT_ENV_VAR]
            for var in names:
                value = env.get(var)
                if value:
                    return value
            raise WalletError(
                f"no password for wallet {wallet!r}: set {' or '.join(names)} in the environment, "
                "or use --password-file / the interactive prompt"
            )
        try:
            first = self.prompt(f"Password for wallet '{wallet}': ")
            if not first:
                raise WalletError(f"empty password for wallet {wallet!r}: type a password")
            if confirm and self.prompt(f"Repeat password for wallet '{wallet}': ") != first:
                raise WalletError(f"the two passwords for wallet {wallet!r} differ: try again")
        except EOFError:
            raise WalletError(
                f"no terminal to ask the password of wallet {wallet!r}: use --password-file or "
                f"{DEFAULT_ENV_VAR}"
            ) from None
        return first
