"""Turn a revert into a sentence: every custom error of the v2 contracts (and OpenZeppelin's)
decoded from the contracts' ABIs, each sentence naming its values in human units, institutions by
name. `tests/python/test_reverts.py` holds that every error in the ABIs has a sentence here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from xborder.domain.dates import format_date
from xborder.domain.enums import ConsentSide, InstitutionKind, InstitutionStatus, LoanStatus, Parameter
from xborder.domain.loans import loan_label, short_hash
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
        render = _TEMPLATES.get(name)
        if render is None:
            return f"{name}(" + ", ".join(f"{k}={_plain(v)}" for k, v in a.items()) + ")"
        return render(a, self.namer)


Template = Callable[[dict[str, Any], InstitutionNamer], str]


def _wallet_of(a: dict[str, Any], n: InstitutionNamer) -> str:
    owner = f"of {n(a['walletInstitution'])}" if a["walletInstitution"] else "(no institution)"
    return f"wallet {a['wallet']} {owner}"


def _loan(loan_id: int) -> str:
    return f"loan {loan_label(loan_id)}"


def _cny(amount: int) -> str:
    return format_amount(amount, "CNY")


def _term(short: bool) -> str:
    return "short-term" if short else "long-term"


_REGISTRY: dict[str, Template] = {
    "InstitutionNotActive": lambda a, n: (
        f"{n(a['institutionId'])} is {InstitutionStatus.label_of(a['status'])}: its wallets can write nothing"),
    "UnknownInstitution": lambda a, n: f"no institution with id {a['institutionId']} is registered",
    "UnauthorizedWallet": lambda a, n: f"{_wallet_of(a, n)} is not allowed to do this",
    "InvalidIdentifier": lambda a, n: (
        f"identifier {_text(a['identifier'])!r} is neither a valid LEI (20 characters 0-9A-Z with valid check "
        "digits) nor a valid unified social credit code (18 characters with a valid check character)"),
    "InvalidJurisdiction": lambda a, n: f"jurisdiction {_text(a['jurisdiction'])!r} is not an ISO 3166 alpha-2 code",
    "IdentifierTaken": lambda a, n: f"identifier {_text(a['identifier'])} is already registered to {n(a['institutionId'])}",
    "WalletAlreadyRegistered": lambda a, n: f"wallet {a['wallet']} already belongs to {n(a['institutionId'])}",
    "WalletNotRegistered": lambda a, n: f"wallet {a['wallet']} is not a wallet of {n(a['institutionId'])}",
    "CannotRemoveAdminWallet": lambda a, n: (
        f"wallet {a['wallet']} is the admin wallet of {n(a['institutionId'])}: set another admin first"),
    "ZeroAddress": lambda a, n: "the zero address is not a wallet (nor an admin, registry or policy)",
    "InvalidStatusTransition": lambda a, n: (
        f"{n(a['institutionId'])} cannot go from {InstitutionStatus.label_of(a['from'])} "
        f"to {InstitutionStatus.label_of(a['to'])}"),
    "InvalidEncryptionKey": lambda a, n: "the encryption public key must not be zero",
    "UnknownEncryptionKey": lambda a, n: (
        f"{n(a['institutionId']) if a['institutionId'] else 'the regulator'} has no encryption key version "
        f"{a['version']} (latest {a['latest']})"),
    "InvalidWalletProof": lambda a, n: (
        f"the proof for binding wallet {a['wallet']} was signed by {a['signer']}, not by the wallet itself: "
        "a wallet is bound only with its own signature"),
    "SignatureExpired": lambda a, n: (
        f"the signature expired at {_moment(a['deadline'])} (chain time {_moment(a['timestamp'])}): sign again"),
}

_POLICY: dict[str, Template] = {
    "ParameterOutOfRange": lambda a, n: (
        f"{Parameter.name_of(a['parameter'])} cannot be {a['value']}"
        + (f" (allowed {Parameter(a['parameter']).minimum}..{Parameter(a['parameter']).maximum}"
           f" {Parameter(a['parameter']).unit})" if a['parameter'] in Parameter._value2member_map_ else "")),
    "UnknownCurrency": lambda a, n: (
        f"no reference rate is published for currency {currency_text(a['currency'])!r}: "
        "the regulator sets one with `xborder policy fx set`"),
    "InvalidCurrency": lambda a, n: f"{currency_text(a['currency'])!r} is not a valid currency code",
    "UnknownFinancingType": lambda a, n: f"financing type {a['typeId']} is not in the regulator's financing-type table",
    "LengthMismatch": lambda a, n: f"{a['currencies']} currencies but {a['rates']} rates",
    "ValueDateOutOfRange": lambda a, n: (
        f"value date {_moment(a['valueDate'])} is outside the window the regulator allows today: "
        f"{_moment(a['earliest'])} to {_moment(a['latest'])}"),
    "MaturityDateOutOfRange": lambda a, n: (
        f"maturity date {_moment(a['maturityDate'])} is outside {_moment(a['earliest'])} to "
        f"{_moment(a['latest'])} (after today and the value date, at most the maximum term after the value date)"),
}

_LEDGER: dict[str, Template] = {
    "BorrowingLimitExceeded": lambda a, n: (
        f"{n(a['borrower'])} would reach {_cny(a['balanceAfter'])} of risk-weighted balance, above its limit of "
        f"{_cny(a['limit'])}"),
    "DocumentAlreadyBacksLoan": lambda a, n: (
        f"document {short_hash(a['documentHash'])} already backs live {_loan(a['loanId'])}: one document can back "
        "only one live loan"),
    "DocumentNotClaimed": lambda a, n: f"document {short_hash(a['documentHash'])} backs no live loan: nothing to release",
    "InvalidBorrowerKind": lambda a, n: (
        f"{n(a['borrower'])} is a {InstitutionKind.label_of(a['kind'])} and cannot borrow"),
    "InvalidCreditor": lambda a, n: (
        f"{n(a['creditor'])} cannot be the creditor: it is the borrower itself or an observer"),
    "InvalidAgent": lambda a, n: (
        f"{n(a['agent'])} cannot be an agent of {n(a['principal'])}: an agent is another institution that is a "
        "bank (domestic bank or foreign bank branch)"),
    "AgentAlreadyAppointed": lambda a, n: f"{n(a['agent'])} already is an agent of {n(a['principal'])}",
    "NotAnAgent": lambda a, n: f"{n(a['agent'])} is not an agent of {n(a['principal'])}",
    "InvalidExtension": lambda a, n: (
        f"{_loan(a['loanId'])}: new maturity {_moment(a['newMaturityDate'])} must be after the current maturity "
        f"{_moment(a['maturityDate'])}"),
    "BorrowerConsentRequired": lambda a, n: (
        f"{_loan(a['loanId'])}: the extension turns it from {_term(a['shortTermBefore'])} to "
        f"{_term(a['shortTermAfter'])}, which needs the borrower's signed extension consent"),
    "DrawdownExceedsAvailable": lambda a, n: (
        f"{_loan(a['loanId'])}: drawdown of {format_amount(a['amount'])} exceeds the undrawn "
        f"{format_amount(a['available'])}"),
    "RepaymentExceedsOutstanding": lambda a, n: (
        f"{_loan(a['loanId'])}: repayment of {format_amount(a['amount'])} exceeds the outstanding "
        f"{format_amount(a['outstanding'])}"),
    "InvalidLoanStatus": lambda a, n: (
        f"{_loan(a['loanId'])} does not exist" if a["status"] == LoanStatus.NONE else
        f"{_loan(a['loanId'])} is {LoanStatus.label_of(a['status'])}, which does not allow this"),
    "LoanAlreadyDrawn": lambda a, n: (
        f"{_loan(a['loanId'])} has already drawn {format_amount(a['drawn'])} and cannot be cancelled"),
    "OutstandingNotZero": lambda a, n: f"{_loan(a['loanId'])} still has {format_amount(a['outstanding'])} outstanding",
    "NothingOutstanding": lambda a, n: f"{_loan(a['loanId'])} has nothing outstanding: there is no default to declare",
    "LoanMatured": lambda a, n: (
        f"{_loan(a['loanId'])} matured on {_moment(a['maturityDate'])}: no drawdown after the maturity date"),
    "ConfirmationWindowClosed": lambda a, n: (
        f"{_loan(a['loanId'])} was not consented by {_moment(a['confirmBy'])}: it can only expire now"),
    "ConfirmationWindowOpen": lambda a, n: (
        f"{_loan(a['loanId'])} may be consented until {_moment(a['confirmBy'])}: until then only the regulator "
        "may expire it"),
    "AlreadyConsented": lambda a, n: (
        f"the {ConsentSide.label_of(a['side'])} side already consented to {_loan(a['loanId'])}: the other side "
        "confirms it"),
    "BorrowerFrozen": lambda a, n: f"the regulator froze the drawdowns of {n(a['borrower'])}",
    "FreezeUnchanged": lambda a, n: (
        f"the drawdowns of {n(a['institution'])} already are {'frozen' if a['frozen'] else 'not frozen'}"),
    "ContributionOverflow": lambda a, n: (
        f"{_loan(a['loanId'])}: its contribution would be {_cny(a['contribution'])}, more than a loan can hold"),
    "InvalidBorrowerSignature": lambda a, n: (
        f"the consent was signed by {a['signer']}, which is not a wallet of {n(a['borrower'])}"),
    "ConsentSubmitterMismatch": lambda a, n: (
        f"the borrower's consent names {n(a['named'])} as the one who may submit it, but {n(a['caller'])} sent it"),
    "ConsentNonceUsed": lambda a, n: (
        f"consent nonce {a['nonce']} of {n(a['borrower'])} is already used or was revoked: the borrower signs "
        "a new consent"),
    "ConsentRevoked": lambda a, n: (
        f"the consent was signed at {n(a['borrower'])}'s signature epoch {a['signedEpoch']}, which was revoked "
        f"(the epoch is {a['currentEpoch']} now): the borrower signs again"),
    "ZeroAmount": lambda a, n: "the amount must be greater than zero",
    "ZeroDocumentHash": lambda a, n: "the document hash must not be zero",
    "EmptyEnvelope": lambda a, n: f"{_loan(a['loanId'])}: the terms envelope must not be empty",
}

_OPENZEPPELIN: dict[str, Template] = {
    "AccessControlUnauthorizedAccount": lambda a, n: (
        f"wallet {a['account']} lacks the role {_role(a['neededRole'])}"),
    "AccessControlBadConfirmation": lambda a, n: "a role can only be renounced by its own holder",
    "EnforcedPause": lambda a, n: "the system is paused by the regulator: no writes are accepted",
    "ExpectedPause": lambda a, n: "the system is not paused",
    "ECDSAInvalidSignature": lambda a, n: "the signature is not a valid ECDSA signature",
    "ECDSAInvalidSignatureLength": lambda a, n: f"the signature is {a['length']} bytes long (65 or 64 expected)",
    "ECDSAInvalidSignatureS": lambda a, n: "the signature's s value is in the upper half (malleable)",
    "Error": lambda a, n: f"reverted: {a['reason']}",
    "Panic": lambda a, n: f"the contract panicked (code {a['code']:#x})",
}

_TEMPLATES: dict[str, Template] = _REGISTRY | _POLICY | _LEDGER | _OPENZEPPELIN


def _role(role: bytes) -> str:
    key = "0x" + role.hex()
    return ROLE_NAMES.get(key, key)


def _moment(seconds: int) -> str:
    return format_date(int(seconds)) if 0 <= int(seconds) < 2**32 else str(seconds)


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
