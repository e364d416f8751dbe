"""Onboarding on chain: the regulator registers the institutions of a validated roster
(`xborder.services.roster`) as one batch through the engine (already registered identifiers are
skipped, so re-running or resuming registers nothing twice); views of institutions; status and
wallet changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from xborder.bindings.batch import DONE, Outcome, Tx
from xborder.bindings.client import XborderClient, decode_logs
from xborder.domain.enums import InstitutionKind, InstitutionStatus
from xborder.domain.identifiers import identifier_bytes, identifier_text
from xborder.domain.money import format_amount
from xborder.errors import TransactionRejected, ValidationError
from xborder.services.roster import (
    KINDS_ALLOWED,
    Entry,
    Kind,
    Problem,
    RosterInvalid,
    entry_from_fields,
    parse_address,
    parse_capital,
    parse_identifier,
    parse_kind,
    parse_name,
    read_roster,
    resolve_wallet,
    validate_rows,
)

log = logging.getLogger(__name__)

#: Gas of registerInstitution, just above the measured use (docs/contracts.md): anvil fills a block
#: by declared gas.
REGISTER_GAS = 220_000

__all__ = ["KINDS_ALLOWED", "REGISTER_GAS", "Entry", "ImportReport", "InstitutionView", "Kind", "Planned", "Problem",
           "RosterInvalid", "add_wallet", "apply", "change_status", "entry_from_fields", "list_institutions",
           "parse_address", "parse_capital", "parse_identifier", "parse_kind", "parse_name", "plan", "read_roster",
           "register", "registered_names", "remove_wallet", "resolve_institution", "resolve_wallet", "show",
           "validate_rows"]


# ---------------------------------------------------------------------------- on chain


@dataclass(frozen=True)
class Planned:
    entry: Entry
    existing_id: int  # 0: to register


@dataclass
class ImportReport:
    registered: list[tuple[Entry, int]] = field(default_factory=list)
    skipped: list[tuple[Entry, int]] = field(default_factory=list)


def plan(client: XborderClient, entries: Sequence[Entry], path: Path | None = None) -> list[Planned]:
    """Check the entries against the chain: already registered identifiers are skipped; an admin
    wallet that already belongs to another institution is a problem (RosterInvalid)."""
    registry = client.registry.functions
    planned: list[Planned] = []
    problems: list[Problem] = []
    for entry in entries:
        existing = int(registry.institutionByIdentifier(identifier_bytes(entry.identifier)).call())
        if existing == 0:
            owner = int(registry.institutionOf(entry.admin).call())
            if owner != 0:
                problems.append(Problem(entry.where, "admin_wallet", entry.admin_given,
                                        f"wallet {entry.admin} already belongs to {client.institution_name(owner)}",
                                        "a wallet not yet registered to any institution"))
        planned.append(Planned(entry, existing))
    if problems:
        raise RosterInvalid(path or Path("(roster)"), problems)
    return planned


def _register_call(client: XborderClient, entry: Entry) -> ContractFunction:
    return client.registry.functions.registerInstitution(
        int(entry.kind), identifier_bytes(entry.identifier), entry.jurisdiction.encode("ascii"),
        entry.capital_base, entry.name, entry.admin)


def _registration(client: XborderClient, signer: LocalAccount, entry: Entry) -> Tx:
    return client.tx(signer, _register_call(client, entry), f"registering {entry.name}", gas=REGISTER_GAS)


def _registered_id(client: XborderClient, outcome: Outcome, entry: Entry) -> int:
    events = decode_logs(client.registry, "InstitutionRegistered", outcome.logs)
    institution_id = int(events[0]["institutionId"])
    client.remember_names({institution_id: entry.name})
    log.info("registered %s as #%d", entry.describe(), institution_id)
    return institution_id


def register(client: XborderClient, signer: LocalAccount, entry: Entry) -> int:
    """Register one institution (signed by the regulator); returns its id."""
    outcome = client.transact(signer, _register_call(client, entry), f"registering {entry.name}")
    return _registered_id(client, outcome, entry)


def apply(client: XborderClient, signer: LocalAccount, planned: Sequence[Planned],
          progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Register every planned entry not yet on chain, as one batch (identifiers re-checked right
    before, as another run may have registered some meanwhile)."""
    report = ImportReport()
    todo = []
    registry = client.registry.functions
    for item in planned:
        existing = item.existing_id or int(registry.institutionByIdentifier(identifier_bytes(item.entry.identifier)).call())
        if existing:
            report.skipped.append((item.entry, existing))
        else:
            todo.append(item.entry)
    batch = client.batch([_registration(client, signer, e) for e in todo])
    batch.run(progress)
    for entry, outcome in zip(todo, batch.outcomes, strict=True):
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

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "status": self.status,
                "capital_base": format_amount(self.capital_base), "capital_base_minor": self.capital_base,
                "admin": self.admin, "identifier": self.identifier, "jurisdiction": self.jurisdiction,
                "wallet_count": self.wallet_count}


def registered_names(client: XborderClient) -> dict[int, str]:
    """Every institution's name, from the InstitutionRegistered events (one log query)."""
    logs = client.registry.events.InstitutionRegistered.get_logs(from_block=client.deployment.start_block)
    return {int(e["args"]["institutionId"]): str(e["args"]["name"]) for e in logs}


def _view(client: XborderClient, institution_id: int, names: dict[int, str]) -> InstitutionView:
    raw = client.registry.functions.getInstitution(institution_id).call()
    _id, kind, status, capital, admin, identifier, jurisdiction, wallets = raw
    return InstitutionView(
        id=int(_id), name=names.get(int(_id), f"institution #{_id}"),
        kind=InstitutionKind(int(kind)).slug if int(kind) in InstitutionKind._value2member_map_ else str(kind),
        status=InstitutionStatus.label_of(int(status)), capital_base=int(capital),
        admin=Web3.to_checksum_address(admin), identifier=identifier_text(identifier),
        jurisdiction=bytes(jurisdiction).decode("ascii", "replace"), wallet_count=int(wallets))


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


def add_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str) -> None:
    """Authorise `wallet` for the institution (signed by the regulator or the institution's admin)."""
    client.transact(signer, client.registry.functions.addWallet(institution_id, wallet),
                    f"adding wallet {wallet} to {client.institution_name(institution_id)}")


def remove_wallet(client: XborderClient, signer: LocalAccount, institution_id: int, wallet: str) -> None:
    client.transact(signer, client.registry.functions.removeWallet(institution_id, wallet),
                    f"removing wallet {wallet} from {client.institution_name(institution_id)}")


