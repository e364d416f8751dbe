"""The v2 contracts on a real node, driven directly (web3 contract objects, anvil's unlocked dev
accounts as the institutions' admin wallets): every ledger action the index must follow, with
the wallet proofs and borrower consents signed by `xborder.bindings.consent` (the one EIP-712
definition). Used by the index tests (`test_contracts.py`, `test_v2_events.py`) and the API's book
(`tests/python/api/world.py`).

Depends only on the contracts, the deploy service and the signing helpers: not on the loan
services, so the read side is tested against what the chain really emits.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from xborder.bindings.consent import sign_consent, sign_extension, sign_wallet_proof
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.config import PROJECT_ROOT, Settings
from xborder.domain.identifiers import identifier_bytes, lei_with_check, uscc_with_check
from xborder.domain.loans import LoanRequest
from xborder.index.status import deployment_contracts
from xborder.services.deploy import deploy

Account.enable_unaudited_hdwallet_features()

DAY = 86_400
M = 100  # minor units per unit
USD_RATE, EUR_RATE, JPY_RATE = 710_000_000, 780_000_000, 4_700_000
RATES = {"USD": USD_RATE, "EUR": EUR_RATE, "JPY": JPY_RATE}
_nonces = itertools.count(1_000)


def dev_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def document(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


class Refused(Exception):
    """The contract refused the call (the revert's message is the exception's)."""


@dataclass
class Book:
    """The deployed v2 contracts, the regulator (dev account 0) and each institution's admin wallet."""

    w3: Web3
    settings: Settings
    contracts: dict[str, Any]
    regulator: LocalAccount
    wallets: dict[int, LocalAccount] = field(default_factory=dict)
    _next_account: int = 1

    @classmethod
    def deploy(cls, rpc_url: str, folder: Path, database_url: str | None = None) -> Book:
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
        deployments = folder / "deployments"
        regulator = dev_account(0)
        deploy(w3, regulator, regulator.address, deployments, PROJECT_ROOT)
        settings = Settings(project_root=PROJECT_ROOT, data_dir=folder / ".xborder", deployments_dir=deployments,
                            rpc_url=rpc_url, database_url=database_url)
        contracts = {c.name: w3.eth.contract(address=Web3.to_checksum_address(c.address), abi=c.abi)
                     for c in deployment_contracts(deployments, int(w3.eth.chain_id))}
        return cls(w3, settings, contracts, regulator)

    @classmethod
    def attach(cls, w3: Web3, settings: Settings) -> Book:
        """The contracts of `settings`' deployment manifest (deployed by the regulator, dev account 0)."""
        contracts = {c.name: w3.eth.contract(address=Web3.to_checksum_address(c.address), abi=c.abi)
                     for c in deployment_contracts(settings.deployments, int(w3.eth.chain_id))}
        return cls(w3, settings, contracts, dev_account(0))

    # ------------------------------------------------------------------ plumbing

    @property
    def registry(self) -> Any:
        return self.contracts["InstitutionRegistry"]

    @property
    def policy(self) -> Any:
        return self.contracts["MacroPrudentialPolicy"]

    @property
    def ledger(self) -> Any:
        return self.contracts["LoanLedger"]

    def send(self, sender: LocalAccount | int, call: Any) -> dict[str, Any]:
        """Send `call` from `sender` (an account, or an institution id: its admin wallet); raise Refused."""
        account = self.wallets[sender] if isinstance(sender, int) else sender
        try:
            tx = call.transact({"from": account.address})
        except (ContractLogicError, ValueError) as exc:
            raise Refused(str(exc)) from None
        receipt: dict[str, Any] = dict(self.w3.eth.wait_for_transaction_receipt(tx))
        if receipt["status"] != 1:
            raise Refused(f"transaction {tx.hex()} failed")
        return receipt

    def attempt(self, sender: LocalAccount | int, call: Any) -> bool:
        """`send`, False when the contract refuses (a valid outcome of a random workload)."""
        try:
            self.send(sender, call)
            return True
        except Refused:
            return False

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, days: float) -> None:
        self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(days * DAY)])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    # ------------------------------------------------------------------ registry and policy

    def register(self, name: str, kind: int, capital: int, country: str = "CN") -> int:
        """Onboard an institution whose admin is the next dev account (with its wallet proof)."""
        admin = dev_account(self._next_account)
        self._next_account += 1
        n = self._next_account
        ident = identifier_bytes(lei_with_check(f"5493{n:014d}") if kind != 3 else uscc_with_check(f"9111{n:013d}"))
        registry = self.registry.functions
        proof = sign_wallet_proof(admin, ident, nonce=int(registry.bindingNonce(admin.address).call()),
                                  deadline=self.now() + 3600, chain_id=self.chain_id, registry=self.registry.address)
        self.send(self.regulator, registry.registerInstitution(kind, ident, country.encode(), capital, name,
                                                               admin.address, proof.as_abi()))
        iid = int(registry.institutionOf(admin.address).call())
        self.wallets[iid] = admin
        return iid

    def set_rates(self, rates: dict[str, int] = RATES) -> None:
        self.send(self.regulator, self.policy.functions.setReferenceRates([c.encode() for c in rates],
                                                                          list(rates.values())))

    def set_parameter(self, parameter: int, value: int) -> None:
        self.send(self.regulator, self.policy.functions.setParameter(parameter, value))

    def set_capital(self, institution: int, capital: int) -> None:
        self.send(self.regulator, self.registry.functions.setCapitalBase(institution, capital))

    def revoke_signatures(self, institution: int) -> None:
        self.send(institution, self.registry.functions.revokeSignatures(institution))

    # ------------------------------------------------------------------ loans

    def request(self, borrower: int, creditor: int, currency: str, principal: int, days: int,
                doc: str, financing_type: int = 1) -> LoanRequest:
        now = self.now()
        return LoanRequest(borrower, creditor, currency, principal, now, now + days * DAY, financing_type,
                           document(doc), document("terms " + doc))

    def _loan_id(self, receipt: dict[str, Any]) -> int:
        events = self.ledger.events.LoanRecorded().process_receipt(receipt, errors=DISCARD)
        return int(events[0]["args"]["loanId"])

    def record(self, sender: int, request: LoanRequest) -> int:
        """recordLoan by `sender` (the borrower, the creditor or its agent): Recorded, one side consented."""
        return self._loan_id(self.send(sender, self.ledger.functions.recordLoan(request.as_abi(), b"terms")))

    def record_cosigned(self, submitter: int, request: LoanRequest, draw: int = 0) -> int:
        """recordLoanWithConsent: the borrower's admin signs a LoanConsent naming `submitter` (the
        creditor or its agent), which submits it: Active at once, drawing `draw`."""
        epoch = int(self.registry.functions.signatureEpoch(request.borrower).call())
        consent = sign_consent(self.wallets[request.borrower], request, draw, submitter=submitter,
                               nonce=next(_nonces), epoch=epoch, deadline=self.now() + 3600, chain_id=self.chain_id,
                               ledger=self.ledger.address)
        return self._loan_id(self.send(submitter, self.ledger.functions.recordLoanWithConsent(
            request.as_abi(), b"terms", draw, consent.as_abi())))

    def confirm(self, sender: int, loan_id: int) -> None:
        self.send(sender, self.ledger.functions.confirmLoan(loan_id))

    def draw(self, sender: int, loan_id: int, amount: int) -> None:
        self.send(sender, self.ledger.functions.drawdown(loan_id, amount))

    def repay(self, sender: int, loan_id: int, amount: int) -> None:
        self.send(sender, self.ledger.functions.repay(loan_id, amount))

    def extend(self, sender: int, loan_id: int, new_maturity: int, *, with_consent: bool = False) -> None:
        if not with_consent:
            self.send(sender, self.ledger.functions.extendMaturity(loan_id, new_maturity))
            return
        borrower = loan_id >> 32
        epoch = int(self.registry.functions.signatureEpoch(borrower).call())
        consent = sign_extension(self.wallets[borrower], loan_id, new_maturity, submitter=sender, nonce=next(_nonces),
                                 epoch=epoch, deadline=self.now() + 3600, chain_id=self.chain_id,
                                 ledger=self.ledger.address)
        self.send(sender, self.ledger.functions.extendMaturityWithConsent(loan_id, new_maturity, consent.as_abi()))

    def cancel(self, sender: int, loan_id: int) -> None:
        self.send(sender, self.ledger.functions.cancelLoan(loan_id))

    def close(self, sender: int, loan_id: int) -> None:
        self.send(sender, self.ledger.functions.closeLoan(loan_id))

    def default(self, sender: int, loan_id: int) -> None:
        self.send(sender, self.ledger.functions.declareDefault(loan_id))

    def write_off(self, loan_id: int, reason: int = 6) -> None:
        self.send(self.regulator, self.ledger.functions.writeOff(loan_id, reason))

    def expire(self, loan_id: int, reason: int = 2, sender: LocalAccount | int | None = None) -> None:
        self.send(sender if sender is not None else self.regulator, self.ledger.functions.expireLoan(loan_id, reason))

    def release(self, doc: str, reason: int = 2) -> None:
        self.send(self.regulator, self.ledger.functions.releaseDocument(document(doc), reason))

    def freeze(self, institution: int, reason: int = 3) -> None:
        self.send(self.regulator, self.ledger.functions.freezeDrawdowns(institution, reason))

    def unfreeze(self, institution: int, reason: int = 5) -> None:
        self.send(self.regulator, self.ledger.functions.unfreezeDrawdowns(institution, reason))

    def appoint(self, principal: int, agent: int) -> None:
        self.send(principal, self.ledger.functions.appointAgent(agent))

    def dismiss(self, principal: int, agent: int) -> None:
        self.send(principal, self.ledger.functions.dismissAgent(agent))

    def invalidate_nonces(self, borrower: int, word_pos: int, mask: int) -> None:
        self.send(borrower, self.ledger.functions.invalidateConsentNonces(word_pos, mask))

    def loan(self, loan_id: int) -> dict[str, Any]:
        """getLoan as a dict (ILoanLedger.Loan field names) plus the counted `loanContribution`."""
        names = ("borrower", "creditor", "recorder", "currency", "financingType", "status", "borrowerConsented",
                 "creditorConsented", "shortTerm", "valueDate", "maturityDate", "confirmBy", "principal", "drawn",
                 "outstanding", "contribution")
        values = self.ledger.functions.getLoan(loan_id).call()
        out = dict(zip(names, values, strict=True))
        out["counted"] = int(self.ledger.functions.loanContribution(loan_id).call())
        return out
