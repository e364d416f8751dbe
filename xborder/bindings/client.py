"""Typed access to the three deployed contracts, with reverts decoded into sentences.

`XborderClient` is what services use: views return plain Python values, writes are signed by
the acting institution's own wallet (a LocalAccount) and either confirmed (`transact`) or only
built (`build`) for batch sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError

from xborder.bindings.deployment import CONTRACT_NAMES, Deployment, load_deployment
from xborder.bindings.reverts import DecodedError, ErrorDecoder, revert_data_of
from xborder.bindings.units import format_amount
from xborder.errors import ChainError, DeploymentNotFound, InsufficientFunds, TransactionRejected

log = logging.getLogger(__name__)


def fee_fields(w3: Web3, tip_wei: int = 10**9) -> dict[str, int]:
    """EIP-1559 fees when the node has a base fee, legacy gas price otherwise."""
    latest = w3.eth.get_block("latest")
    base_fee = latest.get("baseFeePerGas")
    if base_fee is not None:
        return {"maxFeePerGas": 2 * int(base_fee) + tip_wei, "maxPriorityFeePerGas": tip_wei}
    return {"gasPrice": int(w3.eth.gas_price)}


@dataclass
class XborderClient:
    w3: Web3
    deployment: Deployment
    deployments_dir: Path
    _names: dict[int, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, w3: Web3, deployments_dir: Path) -> XborderClient:
        deployment = load_deployment(deployments_dir, w3.eth.chain_id)
        if not deployment.extra.get("complete", True):
            raise DeploymentNotFound(
                f"the deployment on chain {deployment.chain_id} is incomplete "
                f"({', '.join(deployment.contracts)} only): run `xborder deploy` again to finish it")
        client = cls(w3, deployment, deployments_dir)
        for name in CONTRACT_NAMES:
            address = deployment.address(name)
            if len(w3.eth.get_code(Web3.to_checksum_address(address))) == 0:
                raise DeploymentNotFound(
                    f"the manifest {deployments_dir}/{deployment.chain_id}.json names {name} at {address}, "
                    "but this chain has no code there (a fresh chain?): run `xborder deploy` again")
        return client

    # ------------------------------------------------------------------ contracts
    def _contract(self, name: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(self.deployment.address(name)),
                                    abi=self.deployment.abi(name, self.deployments_dir))

    @cached_property
    def registry(self) -> Contract:
        return self._contract("InstitutionRegistry")

    @cached_property
    def policy(self) -> Contract:
        return self._contract("MacroPrudentialPolicy")

    @cached_property
    def ledger(self) -> Contract:
        return self._contract("LoanLedger")

    @cached_property
    def decoder(self) -> ErrorDecoder:
        return ErrorDecoder([list(self.registry.abi), list(self.policy.abi), list(self.ledger.abi)],  # type: ignore[arg-type]
                            namer=self.institution_name)

    # ------------------------------------------------------------------ names
    def institution_name(self, institution_id: int) -> str:
        """The registered name of an institution (from its InstitutionRegistered event)."""
        if institution_id in self._names:
            return self._names[institution_id]
        name = f"institution #{institution_id}"
        try:
            logs = self.registry.events.InstitutionRegistered.get_logs(
                from_block=self.deployment.start_block,
                argument_filters={"institutionId": institution_id})
            if logs:
                name = f"{logs[0]['args']['name']} (#{institution_id})"
        except Exception as exc:  # a name is a nicety; never hide the real error behind it
            log.debug("could not look up the name of institution %s: %s", institution_id, exc)
        self._names[institution_id] = name
        return name

    def remember_names(self, names: dict[int, str]) -> None:
        self._names.update({i: f"{n} (#{i})" for i, n in names.items()})

    # ------------------------------------------------------------------ writes
    def decode_revert(self, exc: BaseException) -> DecodedError | None:
        return self.decoder.decode(revert_data_of(exc))

    def rejected(self, exc: BaseException, action: str) -> TransactionRejected:
        decoded = self.decode_revert(exc)
        if decoded is None:
            return TransactionRejected(f"{action} was refused: {exc}")
        return TransactionRejected(f"{action} refused: {decoded.message}", error_name=decoded.name,
                                   error_args=decoded.args)

    def build(self, account: LocalAccount, call: ContractFunction, *, nonce: int,
              gas: int, fees: dict[str, int]) -> dict[str, Any]:
        """An unsigned transaction for `call` from `account` (no node round trip)."""
        return {"to": call.address, "data": call._encode_transaction_data(), "from": account.address,
                "nonce": nonce, "gas": gas, "chainId": self.deployment.chain_id, "value": 0, **fees}

    def estimate(self, account: LocalAccount, call: ContractFunction, action: str) -> int:
        try:
            return int(call.estimate_gas({"from": account.address}))
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise self.rejected(exc, action) from None

    def transact(self, account: LocalAccount, call: ContractFunction, action: str,
                 timeout: float = 60.0) -> Any:
        """Sign with `account`, send, wait for the receipt; a refusal raises TransactionRejected
        with the decoded contract error before anything is sent (gas estimation runs the call)."""
        gas = self.estimate(account, call, action)
        balance = self.w3.eth.get_balance(account.address)
        fees = fee_fields(self.w3)
        price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
        if balance < gas * price:
            raise InsufficientFunds(
                f"{action}: wallet {account.address} holds {Web3.from_wei(balance, 'ether')} ETH, "
                f"needs up to {Web3.from_wei(gas * price, 'ether')} ETH for gas: fund it first")
        tx = self.build(account, call, nonce=self.w3.eth.get_transaction_count(account.address, "pending"),
                        gas=gas + gas // 5, fees=fees)
        signed = account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted:
            raise ChainError(f"{action}: no receipt after {timeout:.0f}s for {tx.get('nonce')}") from None
        except (Web3RPCError, ValueError) as exc:
            if "insufficient funds" in str(exc).lower():
                raise InsufficientFunds(f"{action}: wallet {account.address} cannot pay for gas: fund it") from None
            raise self.rejected(exc, action) from None
        if receipt["status"] != 1:
            try:  # replay to learn why it failed (state may have moved since the estimate)
                self.w3.eth.call({"to": tx["to"], "from": account.address, "data": tx["data"]},
                                 receipt["blockNumber"] - 1)
            except (ContractLogicError, Web3RPCError, ValueError) as exc:
                raise self.rejected(exc, action) from None
            raise TransactionRejected(f"{action} failed in block {receipt['blockNumber']}")
        return receipt

    # ------------------------------------------------------------------ views
    def institution_of(self, wallet: str) -> int:
        return int(self.registry.functions.institutionOf(Web3.to_checksum_address(wallet)).call())

    def exposure(self, borrower: int) -> dict[str, int]:
        balance = int(self.ledger.functions.riskWeightedBalance(borrower).call())
        limit = int(self.ledger.functions.borrowingLimit(borrower).call())
        return {"borrower": borrower, "risk_weighted_balance": balance, "limit": limit,
                "headroom": max(limit - balance, 0)}

    def describe_exposure(self, borrower: int) -> str:
        e = self.exposure(borrower)
        return (f"{self.institution_name(borrower)}: risk-weighted balance "
                f"{format_amount(e['risk_weighted_balance'], 'CNY')} of limit "
                f"{format_amount(e['limit'], 'CNY')}")
