"""Turn a revert into a sentence: custom errors decoded from every contract's ABI, values in
human units, institutions by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from xborder.domain.dates import day_text
from xborder.domain.enums import InstitutionKind, InstitutionStatus, LoanStatus, Parameter
from xborder.domain.loans import short_hash
from xborder.domain.money import currency_text, format_amount

InstitutionNamer = Callable[[int], str]

ROLE_NAMES = {"0x" + "00" * 32: "DEFAULT_ADMIN_ROLE"} | {
    "0x" + keccak(r.encode()).hex(): r for r in ("REGULATOR_ROLE", "PAUSER_ROLE")}

_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: dict[str, Any]
    message: str


def _canonical_type(inp: dict[str, Any]) -> str:
    if inp["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in inp["components"])
        return f"({inner}){inp['type'][5:]}"
    return str(inp["type"])


class ErrorDecoder:
    """Knows every custom error of the given ABIs (plus Solidity's Error and Panic)."""

    def __init__(self, abis: list[list[dict[str, Any]]], namer: InstitutionNamer | None = None) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_canonical_type(i) for i in item["inputs"]]
                selector = keccak(f"{item['name']}({','.join(types)})".encode())[:4]
                self._errors[selector] = (item["name"], [i["name"] for i in item["inputs"]], types)
        self._errors[bytes.fromhex("08c379a0")] = ("Error", ["reason"], ["string"])
        self._errors[bytes.fromhex("4e487b71")] = ("Panic", ["code"], ["uint256"])
        self.namer: InstitutionNamer = namer or (lambda i: f"institution #{i}")

    def decode(self, data: bytes | str | None) -> DecodedError | None:
        raw = _as_bytes(data)
        if raw is None or len(raw) < 4:
            return None
        entry = self._errors.get(raw[:4])
        if entry is None:
            return DecodedError("Unknown", {"data": "0x" + raw.hex()},
                                f"the contract refused the call with unknown error data 0x{raw.hex()}")
        name, names, types = entry
        values = abi_decode(types, raw[4:]) if types else ()
        args = {name: to_checksum_address(value) if kind == "address" else value
                for name, kind, value in zip(names, types, values, strict=True)}
        return DecodedError(name, args, self.describe(name, args))

    def describe(self, name: str, a: dict[str, Any]) -> str:
        n = self.namer
        templates: dict[str, Callable[[], str]] = {
            "BorrowingLimitExceeded": lambda: (
                f"{n(a['borrower'])} would reach {format_amount(a['balanceAfter'], 'CNY')} of "
                f"risk-weighted balance, above its limit of {format_amount(a['limit'], 'CNY')}"),
            "DocumentAlreadyBacksLoan": lambda: (
                f"document {short_hash(a['documentHash'])} already backs live loan {a['loanId']}: one document "
                "can back only one live loan"),
            "InstitutionNotActive": lambda: (
                f"{n(a['institutionId'])} is {InstitutionStatus.label_of(a['status'])}: its wallets "
                "can write nothing"),
            "UnknownInstitution": lambda: f"no institution with id {a['institutionId']} is registered",
            "UnauthorizedWallet": lambda: (
                f"wallet {a['wallet']} "
                + (f"of {n(a['walletInstitution'])}" if a['walletInstitution'] else "(no institution)")
                + " is not allowed to do this"),
            "InvalidIdentifier": lambda: (
                f"identifier {_text(a['identifier'])!r} is neither a valid LEI (20 characters 0-9A-Z with "
                "valid check digits) nor a unified social credit code (18 characters)"),
            "InvalidJurisdiction": lambda: (
                f"jurisdiction {_text(a['jurisdiction'])!r} is not an ISO 3166 alpha-2 code"),
            "IdentifierTaken": lambda: (
                f"identifier {_text(a['identifier'])} is already registered to {n(a['institutionId'])}"),
            "WalletAlreadyRegistered": lambda: (
                f"wallet {a['wallet']} already belongs to {n(a['institutionId'])}"),
            "WalletNotRegistered": lambda: (
                f"wallet {a['wallet']} is not a wallet of {n(a['institutionId'])}"),
            "CannotRemoveAdminWallet": lambda: (
                f"wallet {a['wallet']} is the admin wallet of {n(a['institutionId'])}: set another admin first"),
            "ZeroAddress": lambda: "the zero address is not a wallet",
            "InvalidStatusTransition": lambda: (
                f"{n(a['institutionId'])} cannot go from {InstitutionStatus.label_of(a['from'])} "
                f"to {InstitutionStatus.label_of(a['to'])}"),
            "ParameterOutOfRange": lambda: (
                f"{Parameter.name_of(a['parameter'])} "
                f"cannot be {a['value']}"),
            "UnknownCurrency": lambda: (
                f"no reference rate is published for currency {currency_text(a['currency'])!r}: "
                "the regulator sets one with `xborder policy fx set`"),
            "InvalidCurrency": lambda: f"{currency_text(a['currency'])!r} is not a valid currency code",
            "UnknownFinancingType": lambda: (
                f"financing type {a['typeId']} is not in the regulator's financing-type table"),
            "LengthMismatch": lambda: f"{a['currencies']} currencies but {a['rates']} rates",
            "InvalidBorrowerKind": lambda: (
                f"{n(a['borrower'])} is a {InstitutionKind.label_of(a['kind'])} and cannot borrow"),
            "InvalidCreditor": lambda: f"{n(a['creditor'])} cannot be a creditor",
            "InvalidDates": lambda: (
                f"maturity date {day_text(a['maturityDate'])} must be after value date {day_text(a['valueDate'])}"),
            "InvalidExtension": lambda: (
                f"loan {a['loanId']}: new maturity {day_text(a['newMaturityDate'])} must be after the current "
                f"maturity {day_text(a['maturityDate'])}"),
            "DrawdownExceedsAvailable": lambda: (
                f"loan {a['loanId']}: drawdown of {format_amount(a['amount'])} exceeds the undrawn "
                f"{format_amount(a['available'])}"),
            "RepaymentExceedsOutstanding": lambda: (
                f"loan {a['loanId']}: repayment of {format_amount(a['amount'])} exceeds the outstanding "
                f"{format_amount(a['outstanding'])}"),
            "InvalidLoanStatus": lambda: (
                f"loan {a['loanId']} is {LoanStatus.label_of(a['status'])}, which does not allow this"),
            "LoanAlreadyDrawn": lambda: (
                f"loan {a['loanId']} has already drawn {format_amount(a['drawn'])} and cannot be cancelled"),
            "OutstandingNotZero": lambda: (
                f"loan {a['loanId']} still has {format_amount(a['outstanding'])} outstanding"),
            "SignatureExpired": lambda: (
                f"the borrower's consent expired at {day_text(a['deadline'])} (chain time {day_text(a['timestamp'])})"),
            "InvalidBorrowerSignature": lambda: (
                f"the consent was signed by {a['signer']}, which is not a wallet of {n(a['borrower'])}"),
            "ZeroAmount": lambda: "the amount must be greater than zero",
            "ZeroDocumentHash": lambda: "the document hash must not be zero",
            "AccessControlUnauthorizedAccount": lambda: (
                f"wallet {a['account']} lacks the role {ROLE_NAMES.get('0x' + a['neededRole'].hex(), '0x' + a['neededRole'].hex())}"),
            "EnforcedPause": lambda: "the system is paused by the regulator: no writes are accepted",
            "ExpectedPause": lambda: "the system is not paused",
            "Error": lambda: f"reverted: {a['reason']}",
            "Panic": lambda: f"the contract panicked (code {a['code']:#x})",
        }
        render = templates.get(name)
        if render is None:
            return f"{name}(" + ", ".join(f"{k}={_plain(v)}" for k, v in a.items()) + ")"
        return render()


def _as_bytes(data: object) -> bytes | None:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        match = _HEX.search(data)
        if match:
            text = match.group(0)[2:]
            return bytes.fromhex(text if len(text) % 2 == 0 else text[:-1])
    return None


def _text(value: bytes) -> str:
    return value.rstrip(b"\0").decode("ascii", "replace")


def _plain(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
