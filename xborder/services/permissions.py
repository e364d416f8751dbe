"""Who may send transactions on a permissioned (Besu) network: the accounts allowlist, read from
the on-chain registry.

Only wallets of Active institutions are allowed (a Suspended or Revoked institution's wallets are
left out), plus the regulator named in the deployment manifest. The registry keeps no list of an
institution's wallets, so they come from its WalletAdded / WalletRemoved events, and each one is
confirmed with `institutionOf(wallet)` (the registry's own word) before it is listed. Run it again
whenever the registry changes (`xborder network allowlist`): the file is rewritten whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.services.onboarding import list_institutions

ACTIVE = "active"


@dataclass(frozen=True)
class Allowlist:
    accounts: list[str]  # sorted, checksummed
    by_institution: dict[int, list[str]]  # Active institutions only
    excluded: dict[int, str]  # institution id -> status, for institutions left out


def accounts_allowlist(client: XborderClient) -> Allowlist:
    institutions = {view.id: view for view in list_institutions(client)}
    start = client.deployment.start_block
    registry = client.registry
    candidates: dict[str, int] = {}
    for event in registry.events.WalletAdded.get_logs(from_block=start):
        candidates[Web3.to_checksum_address(event["args"]["wallet"])] = int(event["args"]["institutionId"])
    by_institution: dict[int, list[str]] = {}
    for wallet, institution in sorted(candidates.items()):
        view = institutions.get(institution)
        if view is None or view.status != ACTIVE:
            continue
        if int(registry.functions.institutionOf(wallet).call()) != institution:  # removed since
            continue
        by_institution.setdefault(institution, []).append(wallet)
    accounts = {w for ws in by_institution.values() for w in ws}
    accounts.add(Web3.to_checksum_address(client.deployment.regulator))
    excluded = {i: v.status for i, v in institutions.items() if v.status != ACTIVE}
    return Allowlist(sorted(accounts), by_institution, excluded)
