"""Turn a revert into a sentence: every custom error of the v2 contracts (and OpenZeppelin's)
decoded from the contracts' ABIs, each sentence naming its values in human units, institutions by
name. `tests/python/test_reverts.py` holds that every error in the ABIs has a sentence here."""

from __future__ import annotations

import re
import string
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
        if isinstance(render, str):
            return _Sentence(self.namer).vformat(render, (), a)
        return render(a, self.namer)


#: A sentence that needs more than its fields rendered one by one (a choice, or two fields at once).
Template = Callable[[dict[str, Any], InstitutionNamer], str]

#: How a field is written in a sentence: `{loanId:loan}` is `_FIELDS["loan"](value, namer)`; a spec
#: that is not here is Python's own (`{code:#x}`), no spec is `str(value)`.
_FIELDS: dict[str, Callable[[Any, InstitutionNamer], str]] = {
    "inst": lambda v, n: n(v),
    "loan": lambda v, n: f"loan {loan_label(v)}",
    "amount": lambda v, n: format_amount(v),
    "cny": lambda v, n: format_amount(v, "CNY"),
    "date": lambda v, n: _moment(v),
    "hash": lambda v, n: short_hash(v),
    "text": lambda v, n: _text(v),
    "quoted_text": lambda v, n: repr(_text(v)),
    "quoted_currency": lambda v, n: repr(currency_text(v)),
    "term": lambda v, n: "short-term" if v else "long-term",
    "status": lambda v, n: InstitutionStatus.label_of(v),
    "kind": lambda v, n: InstitutionKind.label_of(v),
    "side": lambda v, n: ConsentSide.label_of(v),
    "role": lambda v, n: _role(v),
}


class _Sentence(string.Formatter):
    """Fills a sentence of the tables below from an error's decoded arguments."""

    def __init__(self, namer: InstitutionNamer) -> None:
        self.namer = namer

    def format_field(self, value: Any, format_spec: str) -> str:
        render = _FIELDS.get(format_spec)
        return render(value, self.namer) if render else format(value, format_spec)


def _wallet_of(a: dict[str, Any], n: InstitutionNamer) -> str:
    owner = f"of {n(a['walletInstitution'])}" if a["walletInstitution"] else "(no institution)"
    return f"wallet {a['wallet']} {owner}"


def _parameter_out_of_range(a: dict[str, Any], n: InstitutionNamer) -> str:
    sentence = f"{Parameter.name_of(a['parameter'])} cannot be {a['value']}"
    if a["parameter"] not in Parameter._value2member_map_:
        return sentence
    parameter = Parameter(a["parameter"])
    return sentence + f" (allowed {parameter.minimum}..{parameter.maximum} {parameter.unit})"


_REGISTRY: dict[str, str | Template] = {
    "InstitutionNotActive": "{institutionId:inst} is {status:status}: its wallets can write nothing",
    "UnknownInstitution": "no institution with id {institutionId} is registered",
    "UnauthorizedWallet": lambda a, n: f"{_wallet_of(a, n)} is not allowed to do this",
    "InvalidIdentifier": (
        "identifier {identifier:quoted_text} is neither a valid LEI (20 characters 0-9A-Z with valid check "
        "digits) nor a valid unified social credit code (18 characters with a valid check character)"),
    "InvalidJurisdiction": "jurisdiction {jurisdiction:quoted_text} is not an ISO 3166 alpha-2 code",
    "IdentifierTaken": "identifier {identifier:text} is already registered to {institutionId:inst}",
    "WalletAlreadyRegistered": "wallet {wallet} already belongs to {institutionId:inst}",
    "WalletNotRegistered": "wallet {wallet} is not a wallet of {institutionId:inst}",
    "CannotRemoveAdminWallet": "wallet {wallet} is the admin wallet of {institutionId:inst}: set another admin first",
    "ZeroAddress": "the zero address is not a wallet (nor an admin, registry or policy)",
    "InvalidStatusTransition": "{institutionId:inst} cannot go from {from:status} to {to:status}",
    "InvalidEncryptionKey": "the encryption public key must not be zero",
    "UnknownEncryptionKey": lambda a, n: (
        f"{n(a['institutionId']) if a['institutionId'] else 'the regulator'} has no encryption key version "
        f"{a['version']} (latest {a['latest']})"),
    "InvalidWalletProof": (
        "the proof for binding wallet {wallet} was signed by {signer}, not by the wallet itself: "
        "a wallet is bound only with its own signature"),
    "SignatureExpired": "the signature expired at {deadline:date} (chain time {timestamp:date}): sign again",
}

_POLICY: dict[str, str | Template] = {
    "ParameterOutOfRange": _parameter_out_of_range,
    "UnknownCurrency": (
        "no reference rate is published for currency {currency:quoted_currency}: "
        "the regulator sets one with `xborder policy fx set`"),
    "InvalidCurrency": "{currency:quoted_currency} is not a valid currency code",
    "UnknownFinancingType": "financing type {typeId} is not in the regulator's financing-type table",
    "LengthMismatch": "{currencies} currencies but {rates} rates",
    "ValueDateOutOfRange": (
        "value date {valueDate:date} is outside the window the regulator allows today: "
        "{earliest:date} to {latest:date}"),
    "MaturityDateOutOfRange": (
        "maturity date {maturityDate:date} is outside {earliest:date} to {latest:date} "
        "(after today and the value date, at most the maximum term after the value date)"),
}

_LEDGER: dict[str, str | Template] = {
    "BorrowingLimitExceeded": (
        "{borrower:inst} would reach {balanceAfter:cny} of risk-weighted balance, above its limit of {limit:cny}"),
    "DocumentAlreadyBacksLoan": (
        "document {documentHash:hash} already backs live {loanId:loan}: one document can back only one live loan"),
    "DocumentNotClaimed": "document {documentHash:hash} backs no live loan: nothing to release",
    "InvalidBorrowerKind": "{borrower:inst} is a {kind:kind} and cannot borrow",
    "InvalidCreditor": "{creditor:inst} cannot be the creditor: it is the borrower itself or an observer",
    "InvalidAgent": (
        "{agent:inst} cannot be an agent of {principal:inst}: an agent is another institution that is a "
        "bank (domestic bank or foreign bank branch)"),
    "AgentAlreadyAppointed": "{agent:inst} already is an agent of {principal:inst}",
    "NotAnAgent": "{agent:inst} is not an agent of {principal:inst}",
    "InvalidExtension": (
        "{loanId:loan}: new maturity {newMaturityDate:date} must be after the current maturity {maturityDate:date}"),
    "BorrowerConsentRequired": (
        "{loanId:loan}: the extension turns it from {shortTermBefore:term} to {shortTermAfter:term}, which needs "
        "the borrower's signed extension consent"),
    "DrawdownExceedsAvailable": "{loanId:loan}: drawdown of {amount:amount} exceeds the undrawn {available:amount}",
    "RepaymentExceedsOutstanding": (
        "{loanId:loan}: repayment of {amount:amount} exceeds the outstanding {outstanding:amount}"),
    "InvalidLoanStatus": lambda a, n: (
        f"loan {loan_label(a['loanId'])} does not exist" if a["status"] == LoanStatus.NONE else
        f"loan {loan_label(a['loanId'])} is {LoanStatus.label_of(a['status'])}, which does not allow this"),
    "LoanAlreadyDrawn": "{loanId:loan} has already drawn {drawn:amount} and cannot be cancelled",
    "OutstandingNotZero": "{loanId:loan} still has {outstanding:amount} outstanding",
    "NothingOutstanding": "{loanId:loan} has nothing outstanding: there is no default to declare",
    "LoanMatured": "{loanId:loan} matured on {maturityDate:date}: no drawdown after the maturity date",
    "ConfirmationWindowClosed": "{loanId:loan} was not consented by {confirmBy:date}: it can only expire now",
    "ConfirmationWindowOpen": (
        "{loanId:loan} may be consented until {confirmBy:date}: until then only the regulator may expire it"),
    "AlreadyConsented": (
        "the {side:side} side already consented to {loanId:loan}: the other side confirms it"),
    "BorrowerFrozen": "the regulator froze the drawdowns of {borrower:inst}",
    "FreezeUnchanged": lambda a, n: (
        f"the drawdowns of {n(a['institution'])} already are {'frozen' if a['frozen'] else 'not frozen'}"),
    "ContributionOverflow": (
        "{loanId:loan}: its contribution would be {contribution:cny}, more than a loan can hold"),
    "InvalidBorrowerSignature": "the consent was signed by {signer}, which is not a wallet of {borrower:inst}",
    "ConsentSubmitterMismatch": (
        "the borrower's consent names {named:inst} as the one who may submit it, but {caller:inst} sent it"),
    "ConsentNonceUsed": (
        "consent nonce {nonce} of {borrower:inst} is already used or was revoked: the borrower signs a new consent"),
    "ConsentRevoked": (
        "the consent was signed at {borrower:inst}'s signature epoch {signedEpoch}, which was revoked "
        "(the epoch is {currentEpoch} now): the borrower signs again"),
    "ZeroAmount": "the amount must be greater than zero",
    "ZeroDocumentHash": "the document hash must not be zero",
    "EmptyEnvelope": "{loanId:loan}: the terms envelope must not be empty",
}

_OPENZEPPELIN: dict[str, str | Template] = {
    "AccessControlUnauthorizedAccount": "wallet {account} lacks the role {neededRole:role}",
    "AccessControlBadConfirmation": "a role can only be renounced by its own holder",
    "EnforcedPause": "the system is paused by the regulator: no writes are accepted",
    "ExpectedPause": "the system is not paused",
    "ECDSAInvalidSignature": "the signature is not a valid ECDSA signature",
    "ECDSAInvalidSignatureLength": "the signature is {length} bytes long (65 or 64 expected)",
    "ECDSAInvalidSignatureS": "the signature's s value is in the upper half (malleable)",
    "Error": "reverted: {reason}",
    "Panic": "the contract panicked (code {code:#x})",
}

#: Every error's sentence: a `str.format` pattern over its argument names (see `_FIELDS`), or a
#: `Template` where the sentence depends on a value.
_TEMPLATES: dict[str, str | Template] = _REGISTRY | _POLICY | _LEDGER | _OPENZEPPELIN


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
