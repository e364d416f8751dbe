"""Onboarding on chain: the regulator registers the institutions of a validated roster
(`xborder.services.roster`) as one batch through the engine (already registered identifiers are
skipped, so re-running or resuming registers nothing twice); views of institutions; status and
wallet changes; signature epochs.

Ledger v2 binds a wallet only with the wallet's own proof of key possession (an EIP-712
`WalletBinding` signature, `xborder.bindings.consent.sign_wallet_proof`): registering an
institution needs its admin wallet's proof, adding a wallet or making it the admin needs that
wallet's. A proof comes with the roster (`admin_proof`) or from a `Prover` that holds the key
(a keystore or demo wallet) and signs it at the wallet's current binding nonce."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from xborder.bindings.batch import DONE, Outcome, Tx
from xborder.bindings.client import XborderClient, decode_logs
from xborder.bindings.consent import NO_PROOF, WalletProof
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.domain.enums import InstitutionKind, InstitutionStatus
from xborder.domain.identifiers import identifier_bytes, identifier_text
from xborder.domain.money import format_amount
from xborder.errors import TransactionRejected, ValidationError
from xborder.services.funding import DEV_CHAIN_IDS
from xborder.services.roster import (
    KINDS_ALLOWED,
    Entry,
    Kind,
    Problem,
    RosterInvalid,
    entry_from_fields,
    format_wallet_proof,
    parse_address,
    parse_capital,
    parse_identifier,
    parse_kind,
    parse_name,
    parse_wallet_proof,
    read_roster,
    resolve_wallet,
    validate_rows,
)
from xborder.wallets.demo import DemoWallets

log = logging.getLogger(__name__)

#: Gas of registerInstitution with the admin's proof, above the measured 170,527 (docs/contracts.md):
#: anvil fills a block by declared gas.
REGISTER_GAS = 240_000
#: How long a proof signed here stays valid (seconds of chain time).
PROOF_VALID_FOR = 3600

#: Signs `entry`'s admin wallet proof (None when it holds no key for that wallet).
Prover = Callable[[Entry], WalletProof | None]

__all__ = ["KINDS_ALLOWED", "NO_PROOF", "PROOF_VALID_FOR", "REGISTER_GAS", "Entry", "ImportReport", "InstitutionView",
           "Kind", "Planned", "Problem", "Prover", "RosterInvalid", "account_prover", "add_wallet", "apply",
           "change_status", "dev_prover", "dev_signer", "entry_from_fields", "format_wallet_proof", "list_institutions", "parse_address",
           "parse_capital", "parse_identifier", "parse_kind", "parse_name", "parse_wallet_proof", "plan",
           "prove_wallet", "read_roster", "register", "registered_names", "remove_wallet", "resolve_institution",
           "resolve_wallet", "revoke_signatures", "set_admin_wallet", "show", "validate_rows"]


# ---------------------------------------------------------------------------- on chain


@dataclass(frozen=True)
class Planned:
    entry: Entry
    existing_id: int  # 0: to register
    #: The admin wallet's proof for a registration (None when already registered).
    proof: WalletProof | None = None


@dataclass
class ImportReport:
    registered: list[tuple[Entry, int]] = field(default_factory=list)
    skipped: list[tuple[Entry, int]] = field(default_factory=list)


def prove_wallet(client: XborderClient, wallet: LocalAccount, identifier: str,
                 valid_for: int = PROOF_VALID_FOR) -> WalletProof:
    """`wallet`'s proof that it agrees to be bound to the institution `identifier` (LEI / USCC), at its
    current binding nonce, valid for `valid_for` seconds of chain time."""
    return client.wallet_proof(wallet, identifier_bytes(identifier), valid_for=valid_for)


def account_prover(client: XborderClient, accounts: Iterable[LocalAccount],
                   valid_for: int = PROOF_VALID_FOR) -> Prover:
    """A Prover signing with whichever of `accounts` is the entry's admin wallet."""
    by_address: dict[str, LocalAccount] = {str(Web3.to_checksum_address(a.address)): a for a in accounts}

    def prove(entry: Entry) -> WalletProof | None:
        account = by_address.get(entry.admin)
        return None if account is None else prove_wallet(client, account, entry.identifier, valid_for)

    return prove


#: How many accounts of the public development mnemonic `dev_signer` knows.
DEV_ACCOUNTS = 64
_DEV: dict[str, LocalAccount] = {}


def dev_signer(client: XborderClient, address: str) -> LocalAccount | None:
    """DEV-ONLY: on a local dev chain (31337 / 1337), the account of the public development mnemonic
    (m/44'/60'/0'/0/0..63) with this address, which may sign its own binding proof (the example
    roster's admins); None elsewhere."""
    if client.chain_id not in DEV_CHAIN_IDS:
        return None
    if not _DEV:
        wallets = DemoWallets(mnemonic=DEV_MNEMONIC, name_prefix="dev-")
        _DEV.update({str(a.address): a for a in wallets.accounts(DEV_ACCOUNTS)})
    return _DEV.get(str(Web3.to_checksum_address(address)))


def dev_prover(client: XborderClient, valid_for: int = PROOF_VALID_FOR) -> Prover:
    """DEV-ONLY: a Prover for admin wallets that are development accounts on a dev chain."""

    def prove(entry: Entry) -> WalletProof | None:
        account = dev_signer(client, entry.admin)
        return None if account is None else prove_wallet(client, account, entry.identifier, valid_for)

    return prove


def plan(client: XborderClient, entries: Sequence[Entry], path: Path | None = None,
         prover: Prover | None = None) -> list[Planned]:
    """Check the entries against the chain: already registered identifiers are skipped; an admin
    wallet that already belongs to another institution, or with neither a proof in the roster nor a
    key the `prover` holds, is a problem (RosterInvalid, every problem listed)."""
    registry = client.registry.functions
    planned: list[Planned] = []
    problems: list[Problem] = []
    now = client.now()
    for entry in entries:
        existing = int(registry.institutionByIdentifier(identifier_bytes(entry.identifier)).call())
        proof = None
        if existing == 0:
            owner = int(registry.institutionOf(entry.admin).call())
            if owner != 0:
                problems.append(Problem(entry.where, "admin_wallet", entry.admin_given,
                                        f"wallet {entry.admin} already belongs to {client.institution_name(owner)}",
                                        "a wallet not yet registered to any institution"))
            proof = entry.admin_proof or (prover(entry) if prover is not None else None)
            problem = _proof_problem(entry, proof, now)
            if problem is not None:
                problems.append(problem)
        planned.append(Planned(entry, existing, proof))
    if problems:
        raise RosterInvalid(path or Path("(roster)"), problems)
    return planned


def _proof_problem(entry: Entry, proof: WalletProof | None, now: int) -> Problem | None:
    allowed = ("an admin_proof column (`xborder wallet prove`), or an admin_wallet from the keystore whose key "
               "signs the proof")
    if proof is None:
        return Problem(entry.where, "admin_wallet", entry.admin_given,
                       f"no proof that wallet {entry.admin} agrees to be bound to {entry.identifier}: a wallet is "
                       "bound only with its own signature", allowed)
    if proof.deadline < now:
        return Problem(entry.where, "admin_proof", format_wallet_proof(proof)[:24] + "…",
                       f"the proof expired at {proof.deadline} (chain time {now}): sign a new one", allowed)
    return None


def _register_call(client: XborderClient, entry: Entry, proof: WalletProof) -> ContractFunction:
    return client.registry.functions.registerInstitution(
        int(entry.kind), identifier_bytes(entry.identifier), entry.jurisdiction.encode("ascii"),
        entry.capital_base, entry.name, entry.admin, proof.as_abi())


def _registration(client: XborderClient, signer: LocalAccount, entry: Entry, proof: WalletProof) -> Tx:
    return client.tx(signer, _register_call(client, entry, proof), f"registering {entry.name}", gas=REGISTER_GAS)


def _need_proof(entry: Entry, proof: WalletProof | None) -> WalletProof:
    if proof is None:
        raise ValidationError(f"admin_wallet: no proof that wallet {entry.admin} agrees to be bound to "
                              f"{entry.identifier} (a wallet is bound only with its own signature)",
                              field="admin_wallet", value=entry.admin_given,
                              allowed="a proof from `xborder wallet prove`, or a keystore wallet that signs it")
    return proof


def _registered_id(client: XborderClient, outcome: Outcome, entry: Entry) -> int:
    events = decode_logs(client.registry, "InstitutionRegistered", outcome.logs)
    institution_id = int(events[0]["institutionId"])
    client.remember_names({institution_id: entry.name})
    log.info("registered %s as #%d", entry.describe(), institution_id)
    return institution_id


def register(client: XborderClient, signer: LocalAccount, entry: Entry, proof: WalletProof | None = None) -> int:
    """Register one institution (signed by the regulator) with its admin wallet's proof (`proof`,
    else the entry's); returns its id."""
    outcome = client.transact(signer, _register_call(client, entry, _need_proof(entry, proof or entry.admin_proof)),
                              f"registering {entry.name}")
    return _registered_id(client, outcome, entry)


def apply(client: XborderClient, signer: LocalAccount, planned: Sequence[Planned],
          progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Register every planned entry not yet on chain, as one batch (identifiers re-checked right
    before, as another run may have registered some meanwhile), each with its planned proof."""
    report = ImportReport()
    todo: list[Planned] = []
    registry = client.registry.functions
    for item in planned:
        existing = item.existing_id or int(registry.institutionByIdentifier(identifier_bytes(item.entry.identifier)).call())
        if existing:
            report.skipped.append((item.entry, existing))
        else:
            todo.append(item)
    batch = client.batch([_registration(client, signer, p.entry, _need_proof(p.entry, p.proof or p.entry.admin_proof))
                          for p in todo])
    batch.run(progress)
    for entry, outcome in zip((p.entry for p in todo), batch.outcomes, strict=True):
        if outcome.status != DONE:
            raise TransactionRejected(f"registering {entry.name} refused: {outcome.reason}", error_name=outcome.error)
        report.registered.append((entry, _registered_id(client, outcome, entry)))
    return report


# ---------------------------------------------------------------------------- views and admin


@dataclass(frozen=True)
class InstitutionView:
    id: int
    name: str
    kind: str
    status: str
    capital_base: int
    admin: str
    identifier: str
    jurisdiction: str
    wallet_count: int
    signature_epoch: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "status": self.status,
                "capital_base": format_amount(self.capital_base), "capital_base_minor": self.capital_base,
                "admin": self.admin, "identifier": self.identifier, "jurisdiction": self.jurisdiction,
                "wallet_count": self.wallet_count, "signature_epoch": self.signature_epoch}


def registered_names(client: XborderClient) -> dict[int, str]:
    """Every institution's name, from the InstitutionRegistered events (one log query)."""
    logs = client.registry.events.InstitutionRegistered.get_logs(from_block=client.deployment.start_block)
    return {int(e["args"]["institutionId"]): str(e["args"]["name"]) for e in logs}


def _view(client: XborderClient, institution_id: int, names: dict[int, str]) -> InstitutionView:
    raw = client.registry.functions.getInstitution(institution_id).call()
    _id, kind, status, capital, admin, identifier, jurisdiction, wallets, epoch = raw
    return InstitutionView(
        id=int(_id), name=names.get(int(_id), f"institution #{_id}"),
        kind=InstitutionKind(int(kind)).slug if int(kind) in InstitutionKind._value2member_map_ else str(kind),
        status=InstitutionStatus.label_of(int(status)), capital_base=int(capital),
        admin=Web3.to_checksum_address(admin), identifier=identifier_text(identifier),
        jurisdiction=bytes(jurisdiction).decode("ascii", "replace"), wallet_count=int(wallets),
        signature_epoch=int(epoch))


def list_institutions(client: XborderClient) -> list[InstitutionView]:
    count = int(client.registry.functions.institutionCount().call())
    names = registered_names(client) if count else {}
    return [_view(client, i, names) for i in range(1, count + 1)]


def resolve_institution(client: XborderClient, ref: str) -> int:
    """An institution id from '7', '#7', an LEI or a USCC."""
    text = str(ref).strip().lstrip("#")
    allowed = "an institution id (see `xborder institution list`), an LEI or a unified social credit code"
    if text.isdigit():
        institution_id = int(text)
        count = int(client.registry.functions.institutionCount().call())
        if not 1 <= institution_id <= count:
            raise ValidationError(f"institution: no institution #{institution_id} (ids 1..{count} are registered)",
                                  field="institution", value=ref, allowed=allowed)
        return institution_id
    identifier = parse_identifier(text, "institution")
    found = int(client.registry.functions.institutionByIdentifier(identifier_bytes(identifier)).call())
    if not found:
        raise ValidationError(f"institution: no institution is registered under {identifier}",
                              field="institution", value=ref, allowed=allowed)
    return found


def show(client: XborderClient, institution_id: int) -> dict[str, Any]:
    """The record, its current wallets (from events) and, for borrowers, the limit and balance."""
    names = registered_names(client)
    view = _view(client, institution_id, names)
    start = client.deployment.start_block
    events = client.registry.events
    changes: list[tuple[int, int, str, bool]] = []
    for e in events.WalletAdded.get_logs(from_block=start, argument_filters={"institutionId": institution_id}):
        changes.append((int(e["blockNumber"]), int(e["logIndex"]), str(e["args"]["wallet"]), True))
    for e in events.WalletRemoved.get_logs(from_block=start, argument_filters={"institutionId": institution_id}):
        changes.append((int(e["blockNumber"]), int(e["logIndex"]), str(e["args"]["wallet"]), False))
    wallets: dict[str, None] = {}
    for _b, _i, wallet, added in sorted(changes):
        if added:
            wallets[Web3.to_checksum_address(wallet)] = None
        else:
            wallets.pop(Web3.to_checksum_address(wallet), None)
    data = view.to_json()
    data["wallets"] = list(wallets)
    if view.kind in {kind.slug for kind in InstitutionKind if kind.can_borrow}:
        try:
            exposure = client.exposure(institution_id)
            data["risk_weighted_balance"] = format_amount(exposure["risk_weighted_balance"])
            data["borrowing_limit"] = format_amount(exposure["limit"])
            data["headroom"] = format_amount(exposure["headroom"])
        except Exception as exc:  # the ledger's views are a nicety here
            log.debug("no exposure for #%d: %s", institution_id, exc)
    return data


_STATUS_CALLS = {"suspend": "suspendInstitution", "reinstate": "reinstateInstitution",
                 "revoke": "revokeInstitution"}


def change_status(client: XborderClient, signer: LocalAccount, institution_id: int, action: str) -> str:
    """suspend / reinstate / revoke (regulator); returns the new status label."""
    function = getattr(client.registry.functions, _STATUS_CALLS[action])
    client.transact(signer, function(institution_id), f"{action} {client.institution_name(institution_id)}")
    return InstitutionStatus.label_of(client.core(institution_id).status)


def add_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str,
               proof: WalletProof) -> None:
    """Authorise `wallet` for the institution (signed by the regulator or the institution's admin),
    with the wallet's own proof (`prove_wallet`)."""
    client.transact(signer, client.registry.functions.addWallet(institution_id, wallet, proof.as_abi()),
                    f"adding wallet {wallet} to {client.institution_name(institution_id)}")


def remove_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str) -> None:
    """Remove a wallet (not the admin); the institution's signature epoch moves (its consents die)."""
    client.transact(signer, client.registry.functions.removeWallet(institution_id, wallet),
                    f"removing wallet {wallet} from {client.institution_name(institution_id)}")


def set_admin_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, new_admin: str,
                     proof: WalletProof | None = None) -> None:
    """Make `new_admin` the admin wallet (key rotation): `proof` is needed when it is not yet a wallet
    of the institution. The signature epoch moves."""
    client.transact(signer, client.registry.functions.setAdminWallet(institution_id, new_admin,
                                                                     (proof or NO_PROOF).as_abi()),
                    f"making {new_admin} the admin wallet of {client.institution_name(institution_id)}")


def revoke_signatures(client: XborderClient, signer: LocalAccount, institution_id: int) -> int:
    """Void every consent the institution's wallets signed and not yet seen used (its admin wallet or
    the regulator): moves its signature epoch; returns the new epoch."""
    client.transact(signer, client.registry.functions.revokeSignatures(institution_id),
                    f"revoking every outstanding signature of {client.institution_name(institution_id)}")
    return client.signature_epoch(institution_id)
