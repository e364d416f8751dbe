"""Click parameter types: command-line input is parsed and validated once, at the edge, by the
domain's own parsers. A bad value raises the domain's ValidationError, so every command says it
the same way (`xborder: error: --principal: '1e3' is written with an exponent ...`, exit 2).

The field name in messages is the option (`--value-date`) or, for an argument, its name in words
(`loan id`, `amount`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from xborder.bindings.consent import WalletProof
from xborder.domain.dates import parse_date
from xborder.domain.enums import ReasonCode
from xborder.domain.loans import document_hash, parse_loan_id
from xborder.domain.money import normalise_currency, parse_amount
from xborder.errors import ValidationError
from xborder.services.roster import parse_wallet_proof


def field_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option) and param.opts:
        return str(max(param.opts, key=len))
    if param is None:
        return "value"
    if isinstance(param, click.Argument) and param.metavar:
        return param.metavar.lower()
    return (param.name or "value").replace("_", " ")


@dataclass(frozen=True)
class Amount:
    """An amount as typed, already valid for a two-decimal currency; `for_currency` applies the
    currency's own minor units (JPY: whole yen) once the currency is known."""

    text: str
    minor: int
    field: str

    def for_currency(self, currency: str) -> int:
        return parse_amount(self.text, self.field, currency=currency, allow_zero=self.minor == 0)


class AmountType(click.ParamType[Amount, Any]):
    """A positive amount ('1,250,000.50'); when the command has a --currency, in its minor units."""

    name = "amount"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Amount:
        if isinstance(value, Amount):
            return value
        field = field_name(param)
        currency = ctx.params.get("currency") if ctx is not None else None
        minor = parse_amount(value, field, currency=currency if isinstance(currency, str) else None,
                             allow_zero=self.allow_zero)
        return Amount(str(value), minor, field)


class CurrencyType(click.ParamType[str, Any]):
    """An ISO 4217 code under the one normalisation rule ('usd ' -> 'USD'). Declare it eager so the
    amounts of the same command see it."""

    name = "currency"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return normalise_currency(value, field_name(param))


class DateType(click.ParamType[int, Any]):
    """A UTC date 'YYYY-MM-DD' (or with a time) -> unix seconds."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return value if isinstance(value, int) else parse_date(value, field_name(param))


class LoanIdType(click.ParamType[int, Any]):
    """'4294967297', '1:1' (BORROWER:N) or '0x100000001'."""

    name = "loan_id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return value if isinstance(value, int) else parse_loan_id(value, field_name(param))


class InstitutionType(click.ParamType[str, Any]):
    """An institution reference: an id ('7', '#7'), an LEI or a USCC (resolved against the registry
    by the service; here only its form is checked)."""

    name = "institution"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lstrip("#")
        allowed = "an institution id, an LEI (20 characters) or a unified social credit code (18 characters)"
        if text.isdigit() or (18 <= len(text) <= 20 and text.isalnum()):
            return text.upper()
        raise ValidationError(f"{field_name(param)}: {value!r} is not an institution ({allowed})",
                              field=field_name(param), value=value, allowed=allowed)


class ReasonType(click.ParamType[ReasonCode, Any]):
    """A regulator's reason: a ReasonCode name ('suspected-fraud') or its number ('3')."""

    name = "reason"
    ALLOWED = ", ".join(f"{r.slug} ({r.value})" for r in ReasonCode)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> ReasonCode:
        if isinstance(value, ReasonCode):
            return value
        text = str(value).strip().lower().replace("_", "-").replace(" ", "-")
        if text.isdigit() and int(text) in ReasonCode._value2member_map_:
            return ReasonCode(int(text))
        for reason in ReasonCode:
            if reason.slug == text:
                return reason
        raise ValidationError(f"{field_name(param)}: {value!r} is not a reason code (one of {self.ALLOWED})",
                              field=field_name(param), value=value, allowed=self.ALLOWED)


class NonceType(click.ParamType[int, Any]):
    """A consent nonce: a whole number 0 .. 2^64-1."""

    name = "nonce"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        allowed = "a consent nonce: a whole number 0 .. 18446744073709551615"
        if not text.isdigit() or int(text) >= 2**64:
            raise ValidationError(f"{field_name(param)}: {value!r} is not a consent nonce ({allowed})",
                                  field=field_name(param), value=value, allowed=allowed)
        return int(text)


class WalletProofType(click.ParamType[WalletProof, Any]):
    """A wallet's binding proof as `xborder wallet prove` prints it: DEADLINE:0xSIGNATURE."""

    name = "proof"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> WalletProof:
        if isinstance(value, WalletProof):
            return value
        proof = parse_wallet_proof(value, field_name(param))
        if proof is None:
            raise ValidationError(f"{field_name(param)}: empty (DEADLINE:0xSIGNATURE from `xborder wallet prove`)",
                                  field=field_name(param), value=value, allowed="DEADLINE:0xSIGNATURE")
        return proof


class DocumentType(click.ParamType[bytes, Any]):
    """A document id or file name (hashed with keccak256) or a 0x 32-byte hash."""

    name = "document"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        return value if isinstance(value, bytes) else document_hash(value, field_name(param))


AMOUNT = AmountType()
AMOUNT_OR_ZERO = AmountType(allow_zero=True)
CURRENCY = CurrencyType()
DATE = DateType()
LOAN_ID = LoanIdType()
INSTITUTION = InstitutionType()
REASON = ReasonType()
NONCE = NonceType()
WALLET_PROOF = WalletProofType()
DOCUMENT = DocumentType()


__all__ = ["AMOUNT", "AMOUNT_OR_ZERO", "CURRENCY", "DATE", "DOCUMENT", "INSTITUTION", "LOAN_ID", "NONCE", "REASON",
           "WALLET_PROOF", "Amount"]
