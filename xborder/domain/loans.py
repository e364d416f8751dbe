"""Loans in the contracts' own shapes: ids, document hashes, the request, the stored loan and the
borrower's position, with their ABI encoders and decoders.

Loan ids are `(borrower << 32) | n`, the n-th loan of a borrower (uint64 on chain), with one parser
for every face (CLI arguments, CSV imports, HTTP paths): decimal, 0x hex, or the label `BORROWER:N`.

Each struct is a dataclass whose fields carry their Solidity type (`abi_fields`); the ABI type
string, the encoder and the decoder are derived from those fields, and
`tests/python/test_domain.py` holds them equal to the compiled ABI of `ILoanLedger`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, cast

from eth_hash.auto import keccak
from faster_eth_abi import decode as abi_decode  # compiled eth_abi: same bytes, ~4x faster
from faster_eth_abi import encode as abi_encode

from xborder.domain.dates import format_date
from xborder.domain.enums import LoanStatus
from xborder.domain.money import currency_bytes, currency_text, format_amount
from xborder.errors import ValidationError

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
LOAN_ID_ALLOWED = "a loan id (decimal, 0x hex, or BORROWER:N)"
#: The shapes `parse_loan_id` accepts, as a regular expression (the HTTP API's OpenAPI pattern).
#: Values that match it can still be out of range (above uint64 or a 0 part): `parse_loan_id` says so.
LOAN_ID_PATTERN = r"^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20}|[0-9]{1,10}:[0-9]{1,10})$"
DOCUMENT_ALLOWED = "a document id or file name, or a 0x 32-byte hash"
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


# ---------------------------------------------------------------------------- ids and hashes

def parse_loan_id(value: object, field: str = "loan id") -> int:
    """'4294967297', '1:1' (BORROWER:N) or '0x100000001' -> the loan id (borrower << 32 | n)."""
    text = str(value if value is not None else "").strip()
    try:
        if ":" in text:
            borrower, n = (int(p) for p in text.split(":", 1))
            if not (0 < borrower <= UINT32_MAX and 0 < n <= UINT32_MAX):
                raise ValueError(text)
            return borrower << 32 | n
        loan_id = int(text, 0)
    except ValueError:
        raise ValidationError(f"{field}: {text!r} is not a loan id ({LOAN_ID_ALLOWED})", field=field, value=text,
                              allowed=LOAN_ID_ALLOWED) from None
    if not 0 < loan_id <= UINT64_MAX:
        raise ValidationError(f"{field}: {text!r} is out of range ({LOAN_ID_ALLOWED})", field=field, value=text,
                              allowed=LOAN_ID_ALLOWED)
    return loan_id


def loan_label(loan_id: int) -> str:
    """4294967297 -> '4294967297 (1:1)'."""
    return f"{loan_id} ({loan_id >> 32}:{loan_id & UINT32_MAX})"


def borrower_of(loan_id: int) -> int:
    return loan_id >> 32


def document_hash(value: object, field: str = "document") -> bytes:
    """A 0x-prefixed 32-byte hash as is; any other text (a document id or file name) -> keccak256(text)."""
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValidationError(f"{field}: empty ({DOCUMENT_ALLOWED})", field=field, value=text,
                              allowed=DOCUMENT_ALLOWED)
    if text.lower().startswith("0x") and len(text) > 2 and all(c in "0123456789abcdefABCDEF" for c in text[2:]):
        if not _HASH.match(text) or int(text, 16) == 0:
            raise ValidationError(f"{field}: {text!r} is not a non-zero 32-byte hash (0x + 64 hex digits)",
                                  field=field, value=text, allowed="0x + 64 hex digits, not all zero")
        return bytes.fromhex(text[2:])
    return bytes(keccak(text.encode("utf-8")))


def short_hash(value: bytes) -> str:
    return "0x" + value.hex()[:12] + "…"


# ---------------------------------------------------------------------------- ABI structs

def abi(solidity_type: str, **kwargs: Any) -> Any:
    """A dataclass field with its Solidity type."""
    return field(metadata={"abi": solidity_type}, **kwargs)


class AbiStruct:
    """Mixin: a dataclass whose fields carry `abi(...)` types, in the struct's order."""

    _BYTES3: ClassVar[tuple[str, ...]] = ("currency",)

    @classmethod
    def abi_fields(cls) -> list[tuple[str, str]]:
        return [(f.name, str(f.metadata["abi"])) for f in dataclasses.fields(cast(Any, cls))
                if "abi" in f.metadata]

    @classmethod
    def abi_type(cls) -> str:
        return "(" + ",".join(t for _, t in cls.abi_fields()) + ")"

    def as_abi(self) -> tuple[Any, ...]:
        return tuple(currency_bytes(v) if n in self._BYTES3 else v
                     for n, v in ((n, getattr(self, n)) for n, _ in self.abi_fields()))

    @classmethod
    def from_abi(cls, values: tuple[Any, ...] | list[Any]) -> Self:
        names = [n for n, _ in cls.abi_fields()]
        args = {n: currency_text(v) if n in cls._BYTES3 else (bytes(v) if isinstance(v, bytes) else int(v))
                for n, v in zip(names, values, strict=True)}
        return cls(**args)

    def encode(self) -> bytes:
        return abi_encode([self.abi_type()], [self.as_abi()])

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls.from_abi(abi_decode([cls.abi_type()], data)[0])


@dataclass(frozen=True)
class LoanRequest(AbiStruct):
    """ILoanLedger.LoanRequest: amounts in the chain's 1/100 units, dates unix seconds."""

    borrower: int = abi("uint32")
    creditor: int = abi("uint32")
    currency: str = abi("bytes3")
    principal: int = abi("uint64")
    value_date: int = abi("uint32")
    maturity_date: int = abi("uint32")
    financing_type: int = abi("uint8")
    document_hash: bytes = abi("bytes32")
    terms_hash: bytes = abi("bytes32")

    def check(self) -> None:
        """The ledger's own data checks, locally (so the message names the field)."""
        if not 0 < self.principal <= UINT64_MAX:
            raise ValidationError(f"principal: {format_amount(self.principal)} must be greater than zero",
                                  field="principal", value=self.principal, allowed="a positive amount")
        if self.maturity_date <= self.value_date:
            raise ValidationError(
                f"maturity_date: {format_date(self.maturity_date)} is not after value_date "
                f"{format_date(self.value_date)}", field="maturity_date", value=format_date(self.maturity_date),
                allowed=f"a date after the value date {format_date(self.value_date)}")
        if len(self.document_hash) != 32 or not any(self.document_hash):
            raise ValidationError("document: the document hash must be 32 non-zero bytes", field="document",
                                  value="0x" + self.document_hash.hex(), allowed="a non-zero 32-byte hash")
        if len(self.terms_hash) != 32:
            raise ValidationError("terms_hash must be 32 bytes", field="terms_hash",
                                  value="0x" + self.terms_hash.hex(), allowed="32 bytes")


@dataclass(frozen=True)
class Loan(AbiStruct):
    """ILoanLedger.Loan as `getLoan` returns it."""

    borrower: int = abi("uint32")
    creditor: int = abi("uint32")
    recorder: int = abi("uint32")
    currency: str = abi("bytes3")
    financing_type: int = abi("uint8")
    status: int = abi("uint8")
    weight_bps: int = abi("uint32")
    value_date: int = abi("uint32")
    maturity_date: int = abi("uint32")
    principal: int = abi("uint64")
    drawn: int = abi("uint64")
    outstanding: int = abi("uint64")
    rate: int = abi("uint64")

    @property
    def loan_status(self) -> LoanStatus:
        return LoanStatus(self.status)


@dataclass(frozen=True)
class Position(AbiStruct):
    """ILoanLedger.BorrowerPosition."""

    balance: int = abi("uint128")
    loan_count: int = abi("uint32")
    nonce: int = abi("uint32")


@dataclass(frozen=True)
class InstitutionCore(AbiStruct):
    """IInstitutionRegistry.InstitutionCore."""

    kind: int = abi("uint8")
    status: int = abi("uint8")
    capital_base: int = abi("uint64")
    admin: str = abi("address")

    @classmethod
    def from_abi(cls, values: tuple[Any, ...] | list[Any]) -> Self:
        kind, status, capital, admin = values
        return cls(int(kind), int(status), int(capital), str(admin))


@dataclass(frozen=True)
class LoanRecorded:
    """The non-indexed data of ILoanLedger.LoanRecorded."""

    TYPES: ClassVar[list[str]] = ["uint32", "uint8", LoanRequest.abi_type(), "uint64", "uint32", "uint256", "bytes"]

    recorder: int
    status: int
    request: LoanRequest
    rate: int
    weight_bps: int
    borrower_balance: int
    terms: bytes

    @classmethod
    def decode(cls, data: bytes) -> LoanRecorded:
        recorder, status, request, rate, weight, balance, terms = abi_decode(cls.TYPES, data)
        return cls(int(recorder), int(status), LoanRequest.from_abi(request), int(rate), int(weight), int(balance),
                   bytes(terms))

    @staticmethod
    def signature() -> str:
        return "LoanRecorded(uint64,uint32,uint32," + ",".join(LoanRecorded.TYPES) + ")"

    @staticmethod
    def topic() -> str:
        return "0x" + keccak(LoanRecorded.signature().encode()).hex()
