"""Confidential terms through the CLI on a real anvil: `institution set-key` (refused twice without
--rotate), `institution keys`, `loan record` (refused while a party has no key, unless
--allow-plaintext), `loan show --keys-wallet` (a party reads, a third bank does not), `loan reshare`
after a rotation, and `index run --keys-wallet`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Chain, Run, deployed_chain

from xborder.chain import LocalNode, start_anvil
from xborder.domain.dates import DAY, format_date
from xborder.index import open_database
from xborder.services import envelope as env
from xborder.services.loans import LoanService

INSTITUTIONS = [("bank", 0, "91010000MA00000021"), ("ent", 3, "91030000MA0000022B"), ("bank-c", 0, "91010000MA00000236")]
BANK, ENT, BANK_C = 1, 2, 3


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with start_anvil(log_path=tmp_path / "anvil.log") as node:
        yield _setup(node, tmp_path)


def _setup(node: LocalNode, tmp_path: Path) -> Chain:
    chain = deployed_chain(node.rpc_url, tmp_path)
    c = chain.client
    for name, kind, ident in INSTITUTIONS:
        admin, identifier = chain.wallet(name), ident.encode().ljust(20, b"\0")
        c.transact(chain.regulator, c.registry.functions.registerInstitution(
            kind, identifier, b"CN", 10**12, name.upper(), admin.address, c.wallet_proof(admin, identifier).as_abi()),
            f"register {name}")
    c.transact(chain.regulator, c.policy.functions.setReferenceRate(b"USD", 710_000_000), "rate")
    return chain


def ok(r: Run) -> Run:
    assert r.code == 0, f"exit {r.code}\nstdout:\n{r.out}\nstderr:\n{r.err}"
    return r


def record(chain: Chain, doc: str, *extra: str) -> Run:
    today = chain.client.now() // DAY * DAY
    return chain.run("loan", "record", "--borrower", str(ENT), "--creditor", str(BANK), "--currency", "USD",
                     "--principal", "1,000,000.00", "--value-date", format_date(today),
                     "--maturity-date", format_date(today + 365 * DAY),
                     "--document", doc, "--interest-rate", "4.35", "--purpose", "working capital",
                     "--wallet", "bank", "--json", *extra)


def test_cli_confidential_terms(chain: Chain, tmp_path: Path) -> None:
    assert ok(chain.run("institution", "set-key", "0", "--wallet", "regulator", "--json")).json()["version"] == 1
    assert ok(chain.run("institution", "set-key", str(BANK), "--wallet", "bank", "--json")).json()["version"] == 1
    # the enterprise has no key yet: refused, nothing sent; --allow-plaintext publishes in clear
    refused = record(chain, "DOC-0")
    assert refused.code == 2 and "institution 2 registered no encryption key" in refused.err
    assert "set-key" in refused.err and "--allow-plaintext" in refused.err
    clear = ok(record(chain, "DOC-CLEAR", "--allow-plaintext")).json()["loan_id"]
    service = LoanService(chain.client)
    assert service.show(clear).terms == {"interest_rate": "4.35", "purpose": "working capital"}

    ok(chain.run("institution", "set-key", str(ENT), "--wallet", "ent"))
    ok(chain.run("institution", "set-key", str(BANK_C), "--wallet", "bank-c"))
    loan = ok(record(chain, "DOC-1")).json()["loan_id"]
    emitted = service.recorded_event(loan)
    assert emitted is not None and env.is_envelope(emitted.terms)
    assert env.parse(emitted.terms).key_ids == [(ENT, 1), (BANK, 1), (0, 1)]

    shown = ok(chain.run("loan", "show", str(loan), "--keys-wallet", "ent", "--json")).json()
    assert shown["terms"] == {"interest_rate": "4.35", "purpose": "working capital"} and shown["terms_verified"]
    third = ok(chain.run("loan", "show", str(loan), "--keys-wallet", "bank-c", "--json")).json()
    assert third["terms"] is None and third["terms_readable"] is False
    human = ok(chain.run("loan", "show", str(loan)))
    assert "encrypted: not readable" in human.out and "4.35" not in human.out

    # rotation: refused without --rotate; the old key stays in the ring
    again = chain.run("institution", "set-key", str(BANK), "--wallet", "bank")
    assert again.code == 2 and "--rotate" in again.err
    assert ok(chain.run("institution", "set-key", str(BANK), "--wallet", "bank", "--rotate", "--json")).json()[
        "version"] == 2
    history = ok(chain.run("institution", "keys", str(BANK), "--json")).json()
    assert [k["version"] for k in history] == [1, 2] and history[0]["public_key"] != history[1]["public_key"]
    assert ok(chain.run("loan", "show", str(loan), "--keys-wallet", "bank", "--json")).json()["terms_verified"]
    # the borrower re-shares with the bank's new key; a third bank cannot
    denied = chain.run("loan", "reshare", str(loan), "--to", str(BANK), "--wallet", "bank-c")
    assert denied.code == 2 and "none of your keys" in denied.err
    ok(chain.run("loan", "reshare", str(loan), "--to", str(BANK), "--wallet", "ent"))
    shared = service.shared_envelopes(loan)
    assert len(shared) == 1 and env.parse(shared[0]).key_ids == [(BANK, 2)]

    # the regulator's index reads both loans; the third bank's reads neither
    for ring, expected in (("regulator", {clear, loan}), ("bank-c", {clear})):
        url = f"sqlite:///{tmp_path / (ring + '.db')}"
        ok(chain.run("index", "run", "--keys-wallet", ring, "--json", XBORDER_DATABASE_URL=url))
        with open_database(url) as db:
            assert {int(r[0]) for r in db.query("SELECT loan_id FROM loan_terms_current")} == expected
