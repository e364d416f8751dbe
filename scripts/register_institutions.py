"""`brownie run scripts/register_institutions.py [--network NAME]`: apply a roster with the
onboarding service (the same code as `xborder institution import`).

ROSTER: the roster file (default examples/roster.csv). Every row is validated first; only a
roster without problems is applied; identifiers already registered are skipped. The signer is
the regulator: on a local development chain the development account (when it is the
deployment's regulator), elsewhere the Brownie account named by REGULATOR_ACCOUNT. On a
development chain (fresh on every `brownie run`) the contracts are deployed first (idempotent)
and the admin wallets get gas money (FUND=0 to skip).
"""

from __future__ import annotations

import os
from pathlib import Path

from scripts import deploy as deploy_script
from scripts.deploy import brownie_signer, plain_web3
from xborder.bindings.client import XborderClient
from xborder.config import Settings
from xborder.services import funding, onboarding
from xborder.wallets.keystore import Keystore


def main() -> None:
    settings = Settings.from_env()
    roster = Path(os.environ.get("ROSTER") or settings.project_root / "examples" / "roster.csv")
    try:
        entries = onboarding.read_roster(roster, Keystore(settings.keystores))
    except onboarding.RosterInvalid as exc:
        for p in exc.problems:
            print(f"{p.where}\t{p.field}\t{p.value}\t{p.message}\tallowed: {p.allowed}")
        raise SystemExit(f"roster {roster}: {len(exc.problems)} problem(s); nothing registered") from None
    w3 = plain_web3()
    if funding.is_dev_chain(w3):
        deploy_script.main()  # idempotent: Brownie's development chain is fresh on every run
    client = XborderClient.load(w3, settings.deployments)
    # Each admin wallet proves it agrees to be bound: the roster's admin_proof column, or (DEV-ONLY,
    # on a development chain) the development account with that address signs its own proof.
    planned = onboarding.plan(client, entries, roster, onboarding.dev_prover(client))
    regulator = brownie_signer("REGULATOR_ACCOUNT")

    report = onboarding.apply(client, regulator, planned)
    for entry, institution_id in report.skipped:
        print(f"already registered #{institution_id} {entry.name}")
    for entry, institution_id in report.registered:
        print(f"registered #{institution_id} {entry.name}")
    if funding.is_dev_chain(w3) and os.environ.get("FUND", "1") != "0":
        funding.fund(w3, funding.dev_funder(), [p.entry.admin for p in planned])
    print(f"roster {roster}: registered {len(report.registered)}, skipped {len(report.skipped)} already registered")
