"""The v2 loan and institution verbs through the CLI against a real anvil: an off-line borrower
consent recorded by the submitter it names (and by nobody else), record then confirm, extension
with the borrower's consent, default and the regulator's write-off, expiry, document release,
freeze, agents, consent revocation (one nonce or the whole epoch), admin rotation with a proof."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import LIGHT_SCRYPT, PASSWORD, Run, xborder
from loan_setup import BANK_A, BANK_B, BORROWER_X, HK_CREDITOR, World, build_world, dev_account

from xborder.chain import start_anvil
from xborder.domain.dates import DAY, format_date
from xborder.wallets.keystore import Keystore

WALLETS = {"regulator": 0, "bank-a": 1, "bank-b": 2, "borrower-x": 3, "hk": 5, "x-second": 9, "spare": 8}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("loan-cli")
    with start_anvil(log_path=root / "anvil.log") as node:
        w = build_world(node.rpc_url, root / "deployments")
        keystore = Keystore(root / "keystores", scrypt_n=LIGHT_SCRYPT)
        for name, index in WALLETS.items():
            keystore.import_key(name, bytes(dev_account(index).key), PASSWORD)
        env = {"XBORDER_RPC_URL": node.rpc_url, "XBORDER_DEPLOYMENTS_DIR": str(root / "deployments"),
               "XBORDER_DATA_DIR": str(root / ".xborder"), "XBORDER_KEYSTORE_DIR": str(root / "keystores"),
               "XBORDER_PASSWORD": PASSWORD}
        yield w, root, env


def ok(r: Run) -> Run:
    assert r.code == 0, f"exit {r.code}\nstdout:\n{r.out}\nstderr:\n{r.err}"
    return r


def refused(r: Run, fragment: str, code: int = 7) -> None:
    assert r.code == code and fragment in r.err, f"exit {r.code}\nstderr:\n{r.err}"


def request_args(w: World, doc: str, *, creditor: int = BANK_A, days: int = 200, principal: str = "1,000,000.00") -> list[str]:
    today = w.client.now() // DAY * DAY
    return ["--borrower", str(BORROWER_X), "--creditor", str(creditor), "--currency", "USD", "--principal", principal,
            "--value-date", format_date(today), "--maturity-date", format_date(today + days * DAY), "--document", doc,
            "--interest-rate", "4.5", "--allow-plaintext"]


def test_offline_consent_is_recorded_only_by_its_submitter(world: tuple[World, Path, dict[str, str]]) -> None:
    w, root, env = world

    def x(*args: str) -> Run:
        return xborder(*args, env=env)

    path = root / "consent.json"
    args = [a for a in request_args(w, "CLI-CONSENT", creditor=HK_CREDITOR) if a != "--allow-plaintext"]
    signed = ok(x("loan", "consent", *args, "--draw", "250,000.00", "--submitter", str(HK_CREDITOR),
                  "--out", str(path), "--wallet", "x-second", "--json")).json()
    assert signed["consent"]["submitter"] == HK_CREDITOR and json.loads(path.read_text())["draw"] == 250_000_00
    refused(x("loan", "record-consent", str(path), "--wallet", "bank-a", "--allow-plaintext"),
            "the borrower's consent names HK-CREDITOR (#5) as the one who may submit it, but BANK-A (#1) sent it")
    loan = ok(x("loan", "record-consent", str(path), "--wallet", "hk", "--allow-plaintext", "--json")).json()
    assert loan["status"] == "Active"
    shown = ok(x("loan", "show", loan["loan"].split(" ")[0], "--json")).json()
    assert (shown["drawn"], shown["terms"]) == (250_000_00, {"interest_rate": "4.5"})
    refused(x("loan", "record-consent", str(path), "--wallet", "hk", "--allow-plaintext"),
            f"consent nonce {signed['consent']['nonce']} of BORROWER-X (#3) is already used")
    tampered = json.loads(path.read_text())
    tampered["request"]["principal"] += 1
    (root / "tampered.json").write_text(json.dumps(tampered))
    refused(x("loan", "record-consent", str(root / "tampered.json"), "--wallet", "hk", "--allow-plaintext"),
            "which is not a wallet of BORROWER-X (#3)")


def test_lifecycle_verbs_and_the_regulators_controls(world: tuple[World, Path, dict[str, str]]) -> None:
    w, _root, env = world

    def x(*args: str) -> Run:
        return xborder(*args, env=env)

    recorded = ok(x("loan", "record", *request_args(w, "CLI-LIFE"), "--wallet", "borrower-x", "--json")).json()
    loan = recorded["loan"].split(" ")[0]
    assert recorded["status"] == "Recorded"
    refused(x("loan", "confirm", loan, "--wallet", "x-second"), "the borrower side already consented")
    assert ok(x("loan", "confirm", loan, "--wallet", "bank-a", "--json")).json()["status"] == "Active"
    ok(x("loan", "draw", loan, "400,000.00", "--wallet", "borrower-x"))
    later = format_date(w.client.now() // DAY * DAY + 500 * DAY)
    refused(x("loan", "extend", loan, later, "--wallet", "bank-a"), "which needs the borrower's signed extension")
    ok(x("loan", "extend", loan, later, "--borrower-wallet", "borrower-x", "--wallet", "bank-a"))
    assert ok(x("loan", "show", loan, "--json")).json()["short_term"] is False
    assert ok(x("loan", "default", loan, "--wallet", "bank-a", "--json")).json()["status"] == "Defaulted"
    refused(x("loan", "write-off", loan, "--wallet", "bank-a"), "lacks the role REGULATOR_ROLE")
    before = w.service.exposure(BORROWER_X).balance
    written = ok(x("loan", "write-off", loan, "--reason", "write-off-approved", "--wallet", "regulator", "--json"))
    assert written.json()["status"] == "WrittenOff" and w.service.exposure(BORROWER_X).balance < before

    stale = ok(x("loan", "record", *request_args(w, "CLI-STALE"), "--wallet", "bank-a", "--json")).json()["loan"]
    stale_id = stale.split(" ")[0]
    refused(x("loan", "expire", stale_id, "--wallet", "bank-b"), "until then only the regulator may expire it")
    assert ok(x("loan", "expire", stale_id, "--reason", "3", "--wallet", "regulator", "--json")).json()["status"] == \
        "Expired"

    held = ok(x("loan", "record", *request_args(w, "CLI-HELD"), "--borrower-wallet", "borrower-x", "--wallet",
                "bank-a", "--json")).json()["loan"].split(" ")[0]
    ok(x("loan", "release-document", "CLI-HELD", "--wallet", "regulator"))
    refused(x("loan", "release-document", "CLI-HELD", "--wallet", "regulator"), "backs no live loan")
    ok(x("institution", "freeze", str(BORROWER_X), "--wallet", "regulator"))
    refused(x("loan", "draw", held, "1.00", "--wallet", "borrower-x"), "the regulator froze the drawdowns of BORROWER-X")
    ok(x("institution", "unfreeze", str(BORROWER_X), "--wallet", "regulator"))
    ok(x("loan", "draw", held, "1.00", "--wallet", "borrower-x"))


def test_agents_consent_revocation_and_admin_rotation(world: tuple[World, Path, dict[str, str]]) -> None:
    w, root, env = world

    def x(*args: str) -> Run:
        return xborder(*args, env=env)

    ok(x("institution", "appoint-agent", str(BANK_B), "--wallet", "hk"))
    agent_loan = ok(x("loan", "record", *request_args(w, "CLI-AGENT", creditor=HK_CREDITOR), "--borrower-wallet",
                      "borrower-x", "--wallet", "bank-b", "--json")).json()["loan"].split(" ")[0]
    ok(x("loan", "draw", agent_loan, "1.00", "--wallet", "bank-b"))
    ok(x("institution", "dismiss-agent", str(BANK_B), "--wallet", "hk"))
    refused(x("loan", "draw", agent_loan, "1.00", "--wallet", "bank-b"), "of BANK-B (#2) is not allowed to do this")

    path = root / "revoked.json"
    nonce = ok(x("loan", "consent", *[a for a in request_args(w, "CLI-REVOKED") if a != "--allow-plaintext"],
                 "--submitter", str(BANK_A), "--out", str(path), "--wallet", "borrower-x", "--json")).json()[
        "consent"]["nonce"]
    ok(x("loan", "revoke-consent", str(nonce), "--wallet", "x-second"))
    refused(x("loan", "record-consent", str(path), "--wallet", "bank-a", "--allow-plaintext"), "already used or was revoked")
    path = root / "epoch.json"
    ok(x("loan", "consent", *[a for a in request_args(w, "CLI-EPOCH") if a != "--allow-plaintext"],
         "--submitter", str(BANK_A), "--out", str(path), "--wallet", "borrower-x"))
    epoch = ok(x("institution", "revoke-signatures", str(BORROWER_X), "--wallet", "borrower-x", "--json")).json()
    refused(x("loan", "record-consent", str(path), "--wallet", "bank-a", "--allow-plaintext"),
            f"which was revoked (the epoch is {epoch['signature_epoch']} now)")

    proof = ok(x("wallet", "prove", "spare", "--identifier", "91030000MA00000003")).out.strip()
    ok(x("institution", "set-admin", str(BORROWER_X), dev_account(8).address, "--proof", proof, "--wallet",
         "borrower-x"))
    assert w.client.core(BORROWER_X).admin == dev_account(8).address
    refused(x("institution", "add-wallet", str(BORROWER_X), dev_account(20).address, "--proof", proof,
              "--wallet", "spare"), "was signed by")  # a proof binds one wallet, once
