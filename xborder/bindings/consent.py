"""EIP-712 consents and proofs of ledger v2 (docs/contracts.md, "Consents"), and the calldata of the
ledger's hot calls, encoded straight from the domain types (web3's contract encoder was a tenth of
the demo's client time for ~15,000 drawdowns, repayments and confirmations).

- `LoanConsent` (domain "xborder LoanLedger", "2"): the borrower's signature for
  `recordLoanWithConsent`, naming the institution that may submit it (the creditor or one of its
  agents: the creditor's own consent is its submission), with an unordered single-use nonce
  (Permit2-style bitmap, 256 nonces a word), the borrower's registry signature epoch and a deadline.
- `ExtensionConsent`: the borrower's signature for `extendMaturityWithConsent`.
- `WalletBinding` (domain "xborder InstitutionRegistry", "2"): a wallet's proof that it agrees to be
  bound to an institution (`registerInstitution`, `addWallet`, `setAdminWallet`).

The field lists are the ones `tests/contracts/model.py` signs with (and the contracts' typehashes);
`tests/python/test_consent.py` holds these digests to the contracts' own `consentDigest`,
`extensionConsentDigest` and `walletBindingDigest` views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from faster_eth_abi import encode as abi_encode
from web3 import Web3

from xborder.chain.signer import sign_digest
from xborder.domain.loans import LoanRequest
from xborder.domain.money import currency_bytes

LEDGER_DOMAIN = "xborder LoanLedger"
REGISTRY_DOMAIN = "xborder InstitutionRegistry"
DOMAIN_VERSION = "2"
#: v1 name kept for callers that only need the ledger's.
DOMAIN_NAME = LEDGER_DOMAIN
DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
DOMAIN_FIELDS = (("name", "string"), ("version", "string"), ("chainId", "uint256"), ("verifyingContract", "address"))

CONSENT_FIELDS = (("submitter", "uint32"), ("borrower", "uint32"), ("creditor", "uint32"), ("currency", "bytes3"),
                  ("principal", "uint64"), ("valueDate", "uint32"), ("maturityDate", "uint32"),
                  ("financingType", "uint8"), ("documentHash", "bytes32"), ("termsHash", "bytes32"),
                  ("drawAmount", "uint64"), ("nonce", "uint64"), ("epoch", "uint16"), ("deadline", "uint64"))
EXTENSION_FIELDS = (("submitter", "uint32"), ("loanId", "uint64"), ("newMaturityDate", "uint32"), ("nonce", "uint64"),
                    ("epoch", "uint16"), ("deadline", "uint64"))
BINDING_FIELDS = (("identifier", "bytes20"), ("wallet", "address"), ("nonce", "uint64"), ("deadline", "uint64"))


def _typehash(primary: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    return bytes(keccak((primary + "(" + ",".join(f"{t} {n}" for n, t in fields) + ")").encode()))


CONSENT_TYPEHASH = _typehash("LoanConsent", CONSENT_FIELDS)
EXTENSION_TYPEHASH = _typehash("ExtensionConsent", EXTENSION_FIELDS)
BINDING_TYPEHASH = _typehash("WalletBinding", BINDING_FIELDS)

#: Consent nonces per bitmap word (`invalidateConsentNonces(wordPos, mask)`).
NONCES_PER_WORD = 256
UINT64_MAX = 2**64 - 1


# ---------------------------------------------------------------------------- signed values

@dataclass(frozen=True)
class ConsentSignature:
    """ILoanLedger.ConsentSignature: the borrower's signature and the fields it signed besides the loan."""

    submitter: int
    nonce: int
    epoch: int
    deadline: int
    signature: bytes

    ABI_TYPE = "(uint32,uint64,uint16,uint64,bytes)"

    def as_abi(self) -> tuple[int, int, int, int, bytes]:
        return (self.submitter, self.nonce, self.epoch, self.deadline, self.signature)

    def to_json(self) -> dict[str, Any]:
        return {"submitter": self.submitter, "nonce": self.nonce, "epoch": self.epoch, "deadline": self.deadline,
                "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentSignature:
        return cls(int(data["submitter"]), int(data["nonce"]), int(data["epoch"]), int(data["deadline"]),
                   bytes.fromhex(str(data["signature"]).removeprefix("0x")))


@dataclass(frozen=True)
class WalletProof:
    """IInstitutionRegistry.WalletProof: the wallet's `WalletBinding` signature."""

    deadline: int
    signature: bytes

    ABI_TYPE = "(uint64,bytes)"

    def as_abi(self) -> tuple[int, bytes]:
        return (self.deadline, self.signature)


#: What `setAdminWallet` takes when the new admin already is a wallet of the institution.
NO_PROOF = WalletProof(0, b"")


# ---------------------------------------------------------------------------- digests

def domain_separator(chain_id: int, contract: str, name: str = LEDGER_DOMAIN) -> bytes:
    """The EIP-712 domain separator of `contract` ("xborder LoanLedger" or "xborder InstitutionRegistry", "2")."""
    return bytes(keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [DOMAIN_TYPEHASH, keccak(name.encode()), keccak(DOMAIN_VERSION.encode()), chain_id,
         Web3.to_checksum_address(contract)])))


def _digest(separator: bytes, typehash: bytes, fields: tuple[tuple[str, str], ...], values: list[Any]) -> bytes:
    struct_hash = keccak(abi_encode(["bytes32", *(t for _, t in fields)], [typehash, *values]))
    return bytes(keccak(b"\x19\x01" + separator + struct_hash))


def _consent_values(request: LoanRequest, draw_amount: int, submitter: int, nonce: int, epoch: int,
                    deadline: int) -> list[Any]:
    return [submitter, *request.as_abi(), draw_amount, nonce, epoch, deadline]


def consent_digest(request: LoanRequest, draw_amount: int, submitter: int, nonce: int, epoch: int, deadline: int,
                   *, chain_id: int, ledger: str, separator: bytes | None = None) -> bytes:
    """The EIP-712 digest of `LoanConsent` (the ledger's `consentDigest`)."""
    sep = separator if separator is not None else domain_separator(chain_id, ledger)
    return _digest(sep, CONSENT_TYPEHASH, CONSENT_FIELDS,
                   _consent_values(request, draw_amount, submitter, nonce, epoch, deadline))


def extension_digest(submitter: int, loan_id: int, new_maturity: int, nonce: int, epoch: int, deadline: int, *,
                     chain_id: int, ledger: str, separator: bytes | None = None) -> bytes:
    """The EIP-712 digest of `ExtensionConsent` (the ledger's `extensionConsentDigest`)."""
    sep = separator if separator is not None else domain_separator(chain_id, ledger)
    return _digest(sep, EXTENSION_TYPEHASH, EXTENSION_FIELDS, [submitter, loan_id, new_maturity, nonce, epoch, deadline])


def binding_digest(identifier: bytes, wallet: str, nonce: int, deadline: int, *, chain_id: int, registry: str,
                   separator: bytes | None = None) -> bytes:
    """The EIP-712 digest of `WalletBinding` (the registry's `walletBindingDigest`)."""
    sep = separator if separator is not None else domain_separator(chain_id, registry, REGISTRY_DOMAIN)
    return _digest(sep, BINDING_TYPEHASH, BINDING_FIELDS,
                   [identifier.ljust(20, b"\0"), Web3.to_checksum_address(wallet), nonce, deadline])


def _typed(primary: str, fields: tuple[tuple[str, str], ...], values: list[Any], name: str, chain_id: int,
           contract: str) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": [{"name": n, "type": t} for n, t in DOMAIN_FIELDS],
                  primary: [{"name": n, "type": t} for n, t in fields]},
        "primaryType": primary,
        "domain": {"name": name, "version": DOMAIN_VERSION, "chainId": chain_id,
                   "verifyingContract": Web3.to_checksum_address(contract)},
        "message": dict(zip((n for n, _ in fields), values, strict=True)),
    }


def consent_typed_data(request: LoanRequest, draw_amount: int, submitter: int, nonce: int, epoch: int, deadline: int,
                       *, chain_id: int, ledger: str) -> dict[str, Any]:
    """The full EIP-712 `LoanConsent` message (for wallets that sign typed data themselves,
    e.g. eth_signTypedData_v4)."""
    values = _consent_values(request, draw_amount, submitter, nonce, epoch, deadline)
    values[3] = currency_bytes(request.currency)
    return _typed("LoanConsent", CONSENT_FIELDS, values, LEDGER_DOMAIN, chain_id, ledger)


def extension_typed_data(submitter: int, loan_id: int, new_maturity: int, nonce: int, epoch: int, deadline: int, *,
                         chain_id: int, ledger: str) -> dict[str, Any]:
    return _typed("ExtensionConsent", EXTENSION_FIELDS, [submitter, loan_id, new_maturity, nonce, epoch, deadline],
                  LEDGER_DOMAIN, chain_id, ledger)


def binding_typed_data(identifier: bytes, wallet: str, nonce: int, deadline: int, *, chain_id: int,
                       registry: str) -> dict[str, Any]:
    return _typed("WalletBinding", BINDING_FIELDS,
                  [identifier.ljust(20, b"\0"), Web3.to_checksum_address(wallet), nonce, deadline],
                  REGISTRY_DOMAIN, chain_id, registry)


# ---------------------------------------------------------------------------- signing

def sign_consent(borrower_account: LocalAccount, request: LoanRequest, draw_amount: int, *, submitter: int,
                 nonce: int, epoch: int, deadline: int, chain_id: int, ledger: str,
                 separator: bytes | None = None) -> ConsentSignature:
    """A borrower wallet's `LoanConsent` naming `submitter` (the creditor or its agent): the
    `ConsentSignature` `recordLoanWithConsent` takes. `epoch` = the borrower's registry
    `signatureEpoch`; `nonce` unused (see `nonce_position`)."""
    digest = consent_digest(request, draw_amount, submitter, nonce, epoch, deadline, chain_id=chain_id,
                            ledger=ledger, separator=separator)
    return ConsentSignature(submitter, nonce, epoch, deadline, sign_digest(bytes(borrower_account.key), digest))


def sign_extension(borrower_account: LocalAccount, loan_id: int, new_maturity: int, *, submitter: int, nonce: int,
                   epoch: int, deadline: int, chain_id: int, ledger: str,
                   separator: bytes | None = None) -> ConsentSignature:
    """A borrower wallet's `ExtensionConsent` for `extendMaturityWithConsent`, naming `submitter`."""
    digest = extension_digest(submitter, loan_id, new_maturity, nonce, epoch, deadline, chain_id=chain_id,
                              ledger=ledger, separator=separator)
    return ConsentSignature(submitter, nonce, epoch, deadline, sign_digest(bytes(borrower_account.key), digest))


def sign_wallet_proof(wallet: LocalAccount, identifier: bytes, *, nonce: int, deadline: int, chain_id: int,
                      registry: str, separator: bytes | None = None) -> WalletProof:
    """`wallet`'s proof that it agrees to be bound to the institution `identifier` (bytes20);
    `nonce` = the registry's `bindingNonce(wallet)`."""
    digest = binding_digest(identifier, wallet.address, nonce, deadline, chain_id=chain_id, registry=registry,
                            separator=separator)
    return WalletProof(deadline, sign_digest(bytes(wallet.key), digest))


# ---------------------------------------------------------------------------- the nonce bitmap

def nonce_position(nonce: int) -> tuple[int, int]:
    """(wordPos, bit) of a consent nonce in the borrower's bitmap."""
    if not 0 <= nonce <= UINT64_MAX:
        raise ValueError(f"consent nonce {nonce} is not a uint64")
    return nonce // NONCES_PER_WORD, nonce % NONCES_PER_WORD


def invalidation_masks(nonces: Iterable[int]) -> dict[int, int]:
    """wordPos -> mask voiding every nonce in `nonces` (one `invalidateConsentNonces` call per word)."""
    masks: dict[int, int] = {}
    for nonce in nonces:
        word, bit = nonce_position(nonce)
        masks[word] = masks.get(word, 0) | 1 << bit
    return masks


# ---------------------------------------------------------------------------- calldata

def selector(signature: str) -> bytes:
    return bytes(keccak(signature.encode()))[:4]


REQUEST = LoanRequest.abi_type()
SEL_RECORD = selector(f"recordLoan({REQUEST},bytes)")
SEL_RECORD_CONSENT = selector(f"recordLoanWithConsent({REQUEST},bytes,uint64,{ConsentSignature.ABI_TYPE})")


def record_calldata(request: LoanRequest, terms: bytes) -> bytes:
    return SEL_RECORD + abi_encode([REQUEST, "bytes"], [request.as_abi(), terms])


def record_with_consent_calldata(request: LoanRequest, terms: bytes, draw: int, consent: ConsentSignature) -> bytes:
    return SEL_RECORD_CONSENT + abi_encode([REQUEST, "bytes", "uint64", ConsentSignature.ABI_TYPE],
                                           [request.as_abi(), terms, draw, consent.as_abi()])


def ledger_call(signature: str, *args: int) -> bytes:
    """Calldata of a ledger function with integer arguments, e.g. ledger_call("drawdown(uint64,uint64)", id, 100)."""
    types = signature[signature.index("(") + 1:-1].split(",") if not signature.endswith("()") else []
    return selector(signature) + abi_encode(types, list(args))
