"""Typed access to the three deployed contracts, with reverts decoded into sentences.

`XborderClient` is what services use: views return plain Python values (`call`), writes are `Tx`s
for the batch engine (`tx`), and `transact` sends one write as a batch of one (dry run first, so a
refusal surfaces as a decoded sentence before anything is sent). Calldata comes from web3's public
`Contract.encode_abi`, on a contract object cached per function ABI (see `calldata`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.datastructures import AttributeDict

from xborder.bindings.batch import Batch, Outcome, Tx, one
from xborder.bindings.consent import (
    LEDGER_DOMAIN,
    REGISTRY_DOMAIN,
    WalletProof,
    domain_separator,
    ledger_call,
    sign_wallet_proof,
)
from xborder.bindings.deployment import CONTRACT_NAMES, Deployment, load_deployment
from xborder.bindings.reverts import ErrorDecoder
from xborder.chain.rpc import Rpc
from xborder.chain.sender import SenderPool
from xborder.domain.limits import headroom
from xborder.domain.loans import InstitutionCore, Position
from xborder.errors import DeploymentNotFound

log = logging.getLogger(__name__)


#: The web3 that encoders are built on: encoding needs no node (addresses are hex, never ENS names).
_OFFLINE = Web3()


@lru_cache(maxsize=1024)
def _encoder(element: str) -> type[Contract]:
    """A web3 contract class over one function's ABI element (given as canonical JSON).

    Built once per function: building a contract over a whole ABI costs milliseconds (web3 makes a
    function object per entry), and `encode_abi` on it validates every entry again on each call; a
    contract over the one element validates one. Keyed by the element's content, so the ABIs that
    every client loads afresh from the manifest share their encoders, and the cache stays bounded by
    the number of distinct functions. The address plays no part in calldata.
    """
    return _OFFLINE.eth.contract(abi=[json.loads(element)])


def calldata(fn: ContractFunction) -> bytes:
    """The calldata of a bound contract function (web3's public `encode_abi`, cached encoder)."""
    encoder = _encoder(json.dumps(fn.abi, sort_keys=True))
    encoded = encoder.encode_abi(fn.abi_element_identifier, args=fn.args, kwargs=fn.kwargs)
    return bytes.fromhex(encoded[2:])


def decode_logs(contract: Contract, event: str, logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `args` of every `event` of `contract` among raw JSON-RPC `logs` (a receipt's)."""
    kind = getattr(contract.events, event)()
    topic = "0x" + event_abi_to_log_topic(kind.abi).hex()
    out = []
    for entry in logs:
        if Web3.to_checksum_address(entry["address"]) != contract.address or not entry.get("topics"):
            continue
        if str(entry["topics"][0]).lower() != topic:
            continue
        formatted = AttributeDict({
            "address": Web3.to_checksum_address(entry["address"]),
            "topics": [HexBytes(t) for t in entry["topics"]], "data": HexBytes(entry["data"]),
            "logIndex": int(entry.get("logIndex", "0x0"), 16),
            "transactionIndex": int(entry.get("transactionIndex", "0x0"), 16),
            "transactionHash": HexBytes(entry["transactionHash"]), "blockHash": HexBytes(entry["blockHash"]),
            "blockNumber": int(entry["blockNumber"], 16)})
        out.append(dict(kind.process_log(formatted)["args"]))
    return out


@dataclass
class XborderClient:
    w3: Web3
    deployment: Deployment
    deployments_dir: Path
    _names: dict[int, str] = field(default_factory=dict, repr=False)
    #: The wallets' senders, shared by every batch this client makes.
    pool: SenderPool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.pool = self.pool or SenderPool(self.w3)
        self.rpc = Rpc(self.w3)

    @classmethod
    def load(cls, w3: Web3, deployments_dir: Path) -> XborderClient:
        deployment = load_deployment(deployments_dir, Rpc(w3).chain_id())
        if not deployment.extra.get("complete", True):
            raise DeploymentNotFound(
                f"the deployment on chain {deployment.chain_id} is incomplete "
                f"({', '.join(deployment.contracts)} only): run `xborder deploy` again to finish it")
        client = cls(w3, deployment, deployments_dir)
        codes = client.rpc.results([("eth_getCode", [deployment.address(n), "latest"]) for n in CONTRACT_NAMES],
                                   context="reading the contracts' code")
        for name, code in zip(CONTRACT_NAMES, codes, strict=True):
            if str(code) in ("0x", "", "None"):
                raise DeploymentNotFound(
                    f"the manifest {deployments_dir}/{deployment.chain_id}.json names {name} at "
                    f"{deployment.address(name)}, but this chain has no code there (a fresh chain?): run "
                    "`xborder deploy` again")
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
        return ErrorDecoder([self.deployment.abi(n, self.deployments_dir) for n in CONTRACT_NAMES],
                            namer=self.institution_name)

    # ------------------------------------------------------------------ names
    def institution_name(self, institution_id: int) -> str:
        """The registered name of an institution (from its InstitutionRegistered event)."""
        if institution_id in self._names:
            return self._names[institution_id]
        name = f"institution #{institution_id}"
        try:
            logs = self.registry.events.InstitutionRegistered.get_logs(
                from_block=self.deployment.start_block, argument_filters={"institutionId": institution_id})
            if logs:
                name = f"{logs[0]['args']['name']} (#{institution_id})"
        except Exception as exc:  # a name is a nicety; never hide the real error behind it
            log.debug("could not look up the name of institution %s: %s", institution_id, exc)
        self._names[institution_id] = name
        return name

    def remember_names(self, names: dict[int, str]) -> None:
        self._names.update({i: f"{n} (#{i})" for i, n in names.items()})

    # ------------------------------------------------------------------ writes
    def tx(self, account: LocalAccount, fn: ContractFunction, label: str = "", *, gas: int | None = None,
           priority: int = 0) -> Tx:
        """A planned write of `fn` from `account` for the batch engine."""
        return Tx(account, str(fn.address), calldata(fn), gas, 0, label, priority)

    def batch(self, txs: Sequence[Tx], **options: Any) -> Batch:
        return Batch(self.w3, self.decoder, txs, pool=self.pool, **options)

    def transact(self, account: LocalAccount, fn: ContractFunction, action: str, timeout: float = 120.0) -> Outcome:
        """Send one write (a batch of one): dry run first, TransactionRejected with the decoded
        contract error on refusal, the landed outcome (tx hash, block, gas, logs) otherwise."""
        return one(self.w3, self.decoder, self.tx(account, fn, action), action, timeout=timeout)

    # ------------------------------------------------------------------ views
    def institution_of(self, wallet: str) -> int:
        return int(self.registry.functions.institutionOf(Web3.to_checksum_address(wallet)).call())

    def core(self, institution_id: int) -> InstitutionCore:
        """The institution's core word: kind, status, capital base, admin, signature epoch."""
        return InstitutionCore.from_word(int(self.registry.functions.institutionCore(institution_id).call()))

    def identifier(self, institution_id: int) -> bytes:
        """The institution's bytes20 identifier (LEI, or USCC + two zero bytes)."""
        return bytes(self.registry.functions.getInstitution(institution_id).call()[5])

    def signature_epoch(self, institution_id: int) -> int:
        return int(self.registry.functions.signatureEpoch(institution_id).call())

    def binding_nonce(self, wallet: str) -> int:
        return int(self.registry.functions.bindingNonce(Web3.to_checksum_address(wallet)).call())

    def consent_nonce_used(self, borrower: int, nonce: int) -> bool:
        return bool(self.ledger.functions.consentNonceUsed(borrower, nonce).call())

    def unused_consent_nonces(self, borrower: int, count: int, *, start: int | None = None,
                              skip: Collection[int] = ()) -> list[int]:
        """`count` consent nonces of `borrower` that the ledger has not seen used or voided, lowest
        first from `start` (default: the borrower's loan count, so a borrower's consents stay in few
        256-nonce bitmap words), leaving out `skip` (nonces already handed out, not yet used)."""
        starts = None if start is None else {borrower: start}
        return self.unused_consent_nonces_of({borrower: count}, starts=starts, skip=skip)[borrower]

    def unused_consent_nonces_of(self, wanted: Mapping[int, int], *, starts: Mapping[int, int] | None = None,
                                 skip: Collection[int] = ()) -> dict[int, list[int]]:
        """`unused_consent_nonces` for many borrowers (borrower -> how many) at once: every
        borrower's bitmap reads share JSON-RPC batches (one borrower after another cost a position
        call and a batch each: 16 s of a 2,000-loan preflight)."""
        if starts is None:
            ordered = sorted(wanted)
            answers = self.rpc.results([("eth_call", [{"to": self.ledger.address, "data": "0x" + ledger_call(
                "borrowerPosition(uint32)", b).hex()}, "latest"]) for b in ordered], context="reading loan counts")
            starts = {b: Position.decode(bytes.fromhex(str(a)[2:])).loan_count for b, a in zip(ordered, answers,
                                                                                               strict=True)}
        first = {b: starts[b] for b in wanted}
        found: dict[int, list[int]] = {b: [] for b in wanted}
        first_round = True
        while pending := [b for b in sorted(wanted) if len(found[b]) < wanted[b]]:
            candidates = []
            for b in pending:
                # From the loan count on, nonces are almost always unused (a consent uses one, and
                # moves the count past it): ask exactly the shortfall first, then wider windows. A
                # floor of 32 from the start cost 9,472 calls for the 2,000 loans of 296 borrowers.
                shortfall = wanted[b] - len(found[b])
                window = shortfall if first_round else max(shortfall * 2, 32)
                candidates += [(b, n) for n in range(first[b], first[b] + window) if n not in skip]
                first[b] += window
            answers = self.rpc.batch([("eth_call", [{"to": self.ledger.address, "data": "0x" + ledger_call(
                "consentNonceUsed(uint32,uint64)", b, n).hex()}, "latest"]) for b, n in candidates])
            for (b, n), a in zip(candidates, answers, strict=True):
                if len(found[b]) < wanted[b] and int(str(a.get("result") or "0x1"), 16) == 0:
                    found[b].append(n)
            first_round = False
        return found

    def is_agent(self, principal: int, agent: int) -> bool:
        return bool(self.ledger.functions.isAgent(principal, agent).call())

    def now(self) -> int:
        """The latest block's timestamp (what the contracts compare dates and deadlines with)."""
        return self.rpc.chain_time()

    @property
    def chain_id(self) -> int:
        return int(self.deployment.chain_id)

    @cached_property
    def ledger_separator(self) -> bytes:
        return domain_separator(self.chain_id, str(self.ledger.address), LEDGER_DOMAIN)

    @cached_property
    def registry_separator(self) -> bytes:
        return domain_separator(self.chain_id, str(self.registry.address), REGISTRY_DOMAIN)

    def wallet_proof(self, wallet: LocalAccount, identifier: bytes, *, valid_for: int = 3600,
                     nonce: int | None = None) -> WalletProof:
        """`wallet`'s `WalletBinding` proof for the institution `identifier` at its current binding nonce."""
        return sign_wallet_proof(wallet, identifier, nonce=self.binding_nonce(wallet.address) if nonce is None else nonce,
                                 deadline=self.now() + valid_for, chain_id=self.chain_id,
                                 registry=str(self.registry.address), separator=self.registry_separator)

    def position(self, borrower: int) -> Position:
        return Position.from_abi(self.ledger.functions.borrowerPosition(borrower).call())

    def exposure(self, borrower: int) -> dict[str, int]:
        balance = self.position(borrower).balance
        limit = int(self.ledger.functions.borrowingLimit(borrower).call())
        return {"borrower": borrower, "risk_weighted_balance": balance, "limit": limit,
                "headroom": headroom(limit, balance)}
