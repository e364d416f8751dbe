"""One exception family for the whole package.

Every error a user can cause or meet says what went wrong and how to fix it. Each class also
subclasses the builtin it resembles, so callers that only know Python's exceptions still catch
the right thing.
"""

from __future__ import annotations


class XborderError(Exception):
    """Base class of every error xborder raises on purpose."""

    exit_code = 1


class ConfigurationError(XborderError, ValueError):
    """A setting, a file or a command-line value is not usable."""

    exit_code = 2


class ValidationError(XborderError, ValueError):
    """Input data (a roster row, a loan row, a CLI argument) breaks a rule.

    `field`, `value` and `allowed` say which field, which value and what is allowed.
    """

    exit_code = 2

    def __init__(
        self, message: str, *, field: str | None = None, value: object = None,
        allowed: str | None = None, row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = allowed
        self.row = row


class CompilationError(XborderError, RuntimeError):
    """The Solidity compiler refused the sources; the message names file and line."""

    exit_code = 3


class ChainError(XborderError, ConnectionError):
    """The node cannot be reached, started, or is not the chain we expected."""

    exit_code = 4


class ChainIdMismatch(ChainError):
    """The node at the URL answers with another chain id than the one expected."""


class DeploymentNotFound(XborderError, LookupError):
    """No deployment manifest (or no code at its addresses) for this chain."""

    exit_code = 5


class WalletError(XborderError, PermissionError):
    """A keystore is missing, unreadable, or the password is wrong."""

    exit_code = 6


class TransactionRejected(XborderError, RuntimeError):
    """The chain refused a transaction; the message is the decoded contract error."""

    exit_code = 7

    def __init__(self, message: str, *, error_name: str | None = None,
                 error_args: dict[str, object] | None = None, revert_data: bytes | None = None,
                 tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = error_args or {}
        #: Raw revert data (selector + ABI-encoded arguments) for the bindings to decode; None if
        #: the node did not return any.
        self.revert_data = revert_data
        #: Hash of the mined (and failed) transaction, if it got that far.
        self.tx_hash = tx_hash


class InsufficientFunds(TransactionRejected):
    """The sending wallet cannot pay for gas."""


class NonceConflict(TransactionRejected):
    """The node refused a transaction's nonce (another program sent from the same wallet)."""

