"""The borrower's EIP-712 `LoanConsent` for `recordLoanWithConsent` (domain "xborder LoanLedger" "1"),
and the calldata of the ledger's hot calls, encoded straight from the domain types (web3's contract
encoder was a tenth of the demo's client time for ~15,000 drawdowns, repayments and confirmations)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.chain.signer import sign_digest
from xborder.domain.loans import LoanRequest
from xborder.domain.money import currency_bytes

DOMAIN_NAME = "xborder LoanLedger"
DOMAIN_VERSION = "1"
DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
CONSENT_FIELDS = (("borrower", "uint32"), ("creditor", "uint32"), ("currency", "bytes3"), ("principal", "uint64"),
                  ("valueDate", "uint32"), ("maturityDate", "uint32"), ("financingType", "uint8"),
                  ("documentHash", "bytes32"), ("termsHash", "bytes32"), ("drawAmount", "uint64"),
                  ("nonce", "uint32"), ("deadline", "uint64"))
CONSENT_TYPEHASH = keccak(("LoanConsent(" + ",".join(f"{t} {n}" for n, t in CONSENT_FIELDS) + ")").encode())


def selector(signature: str) -> bytes:
    return bytes(keccak(signature.encode()))[:4]


REQUEST = LoanRequest.abi_type()
SEL_RECORD = selector(f"recordLoan({REQUEST},bytes)")
SEL_RECORD_CONSENT = selector(f"recordLoanWithConsent({REQUEST},bytes,uint64,uint64,bytes)")


def record_calldata(request: LoanRequest, terms: bytes) -> bytes:
    return SEL_RECORD + abi_encode([REQUEST, "bytes"], [request.as_abi(), terms])


def record_with_consent_calldata(request: LoanRequest, terms: bytes, draw: int, deadline: int,
                                 signature: bytes) -> bytes:
    return SEL_RECORD_CONSENT + abi_encode([REQUEST, "bytes", "uint64", "uint64", "bytes"],
                                           [request.as_abi(), terms, draw, deadline, signature])


def ledger_call(signature: str, *args: int) -> bytes:
    """Calldata of a ledger function with integer arguments, e.g. ledger_call("drawdown(uint64,uint64)", id, 100)."""
    types = signature[signature.index("(") + 1:-1].split(",") if not signature.endswith("()") else []
    return selector(signature) + abi_encode(types, list(args))


def domain_separator(chain_id: int, ledger: str) -> bytes:
    return bytes(keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [DOMAIN_TYPEHASH, keccak(DOMAIN_NAME.encode()), keccak(DOMAIN_VERSION.encode()), chain_id,
         Web3.to_checksum_address(ledger)])))


def consent_digest(request: LoanRequest, draw_amount: int, nonce: int, deadline: int, *,
                   chain_id: int, ledger: str, separator: bytes | None = None) -> bytes:
    """The EIP-712 digest of `LoanConsent` (same as `ledger.consentDigest`)."""
    struct_hash = keccak(abi_encode(["bytes32", *(t for _, t in CONSENT_FIELDS)],
                                    [CONSENT_TYPEHASH, *request.as_abi(), draw_amount, nonce, deadline]))
    sep = separator if separator is not None else domain_separator(chain_id, ledger)
    return bytes(keccak(b"\x19\x01" + sep + struct_hash))


def consent_typed_data(request: LoanRequest, draw_amount: int, nonce: int, deadline: int, *,
                       chain_id: int, ledger: str) -> dict[str, Any]:
    """The full EIP-712 message (for wallets that sign typed data themselves, e.g. eth_signTypedData_v4)."""
    values = [*request.as_abi()[:2], currency_bytes(request.currency), *request.as_abi()[3:], draw_amount, nonce,
              deadline]
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "LoanConsent": [{"name": n, "type": t} for n, t in CONSENT_FIELDS],
        },
        "primaryType": "LoanConsent",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                   "verifyingContract": Web3.to_checksum_address(ledger)},
        "message": dict(zip((n for n, _ in CONSENT_FIELDS), values, strict=True)),
    }


def sign_consent(borrower_account: LocalAccount, request: LoanRequest, draw_amount: int, nonce: int,
                 deadline: int, *, chain_id: int, ledger: str, separator: bytes | None = None) -> bytes:
    """The borrower's off-line EIP-712 `LoanConsent` signature for `recordLoanWithConsent`.
    `nonce` is `borrowerPosition(borrower).nonce`; `deadline` unix seconds."""
    return sign_digest(bytes(borrower_account.key), consent_digest(
        request, draw_amount, nonce, deadline, chain_id=chain_id, ledger=ledger, separator=separator))
