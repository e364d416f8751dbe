"""Onboarding service: identifiers, roster validation (every problem at once), idempotent import,
wallets and status changes, funding; against a real anvil."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Chain, deployed_chain
from loan_setup import dev_account
from web3 import Web3

from xborder.chain import LocalNode, start_anvil
from xborder.config import PROJECT_ROOT
from xborder.domain.identifiers import identifier_bytes, identifier_text, lei_with_check, uscc_with_check
from xborder.errors import TransactionRejected, ValidationError
from xborder.services import funding, onboarding
from xborder.services.onboarding import Kind, RosterInvalid

ROSTER = PROJECT_ROOT / "examples" / "roster.csv"
#: The example roster's admin wallets: m/44'/60'/0'/0/10..21 of the public development mnemonic.
ADMINS = [dev_account(i) for i in range(10, 22)]
HEADER = "kind,name,identifier,jurisdiction,capital_base,admin_wallet\n"
ADDR = "0x1111111111111111111111111111111111111111"


@pytest.fixture
def chain(anvil: LocalNode, tmp_path: Path) -> Chain:
    return deployed_chain(anvil.rpc_url, tmp_path)


# -- identifiers ------------------------------------------------------------------------------

@pytest.mark.parametrize("lei", ["529900RHEINHANDEL726", "549300STRAITSCAP0122", "2138007ZXQ1MERIDSH03",
                                 "5493001KJTIIGC8Y1R12"])
def test_valid_leis(lei: str) -> None:
    assert onboarding.parse_identifier(lei.lower()) == lei
    assert identifier_bytes(lei) == lei.encode()


def test_lei_check_digits_are_computed_and_checked() -> None:
    assert lei_with_check("5493001KJTIIGC8Y1R") == "5493001KJTIIGC8Y1R12"  # a real LEI
    with pytest.raises(ValidationError, match="wrong LEI check digits '13'.*would be '12'"):
        onboarding.parse_identifier("5493001KJTIIGC8Y1R13")
    with pytest.raises(ValidationError, match="not allowed in an LEI"):
        onboarding.parse_identifier("5493001KJTIIGC8Y1R-2")
    with pytest.raises(ValidationError, match="19 characters long"):
        onboarding.parse_identifier("5493001KJTIIGC8Y1R1")


def test_uscc() -> None:
    assert uscc_with_check("91350100M000100Y4") == "91350100M000100Y43"  # GB 32100 example
    ident = onboarding.parse_identifier("91100000100005101J")
    assert identifier_bytes(ident) == b"91100000100005101J\0\0"
    assert identifier_text(identifier_bytes(ident)) == ident
    with pytest.raises(ValidationError, match="not allowed in a unified social credit code: 'I'"):
        onboarding.parse_identifier("91100000100005101I")
    with pytest.raises(ValidationError, match="wrong USCC check character 'K' .*would be 'J'"):
        onboarding.parse_identifier("91100000100005101K")


def test_kinds_and_fields() -> None:
    assert onboarding.parse_kind("Domestic Bank") is Kind.DOMESTIC_BANK
    assert onboarding.parse_kind("NonBankFinancialInstitution") is Kind.NON_BANK_FINANCIAL_INSTITUTION
    assert onboarding.parse_kind("5") is Kind.OBSERVER
    with pytest.raises(ValidationError, match="not an institution kind.*domestic-bank"):
        onboarding.parse_kind("hedge-fund")
    assert onboarding.parse_capital("1,000.50", Kind.ENTERPRISE) == 100050
    assert onboarding.parse_capital("0", Kind.FOREIGN_CREDITOR) == 0
    with pytest.raises(ValidationError, match="greater than zero"):
        onboarding.parse_capital("0", Kind.ENTERPRISE)
    with pytest.raises(ValidationError, match="checksum"):
        onboarding.parse_address("0x71bE63f3384f5fb98995898A86B02Fb2426c5789")
    assert onboarding.parse_address(ADDR.upper().replace("0X", "0x")) == Web3.to_checksum_address(ADDR)


# -- rosters ----------------------------------------------------------------------------------

def test_example_rosters_are_valid_and_equal() -> None:
    csv_entries = onboarding.read_roster(ROSTER, None)
    yaml_entries = onboarding.read_roster(ROSTER.with_suffix(".yaml"), None)
    assert len(csv_entries) == 12
    strip = [(e.kind, e.name, e.identifier, e.jurisdiction, e.capital_base, e.admin) for e in csv_entries]
    assert strip == [(e.kind, e.name, e.identifier, e.jurisdiction, e.capital_base, e.admin) for e in yaml_entries]
    kinds = {e.kind for e in csv_entries}
    assert kinds == set(Kind)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    roster = tmp_path / "bad.csv"
    roster.write_text(HEADER
                      + f"bank,Good Bank,5493001KJTIIGC8Y1R12,CN,100,{ADDR}\n"
                      + "hedge-fund,,5493001KJTIIGC8Y1R13,CHN,-5,0x12\n"
                      + f"enterprise,Dup Corp,5493001KJTIIGC8Y1R12,CN,10,{ADDR}\n"
                      + "enterprise,Ghost Co,91100000100005101J,CN,10,no-such-wallet\n")
    with pytest.raises(RosterInvalid) as info:
        onboarding.read_roster(roster, None)
    got = {(p.where, p.field) for p in info.value.problems}
    assert got == {("line 3", "kind"), ("line 3", "name"), ("line 3", "identifier"), ("line 3", "jurisdiction"),
                   ("line 3", "capital_base"), ("line 3", "admin_wallet"), ("line 4", "identifier"),
                   ("line 4", "admin_wallet"), ("line 5", "admin_wallet")}
    dup = next(p for p in info.value.problems if p.where == "line 4" and p.field == "identifier")
    assert "also on line 2" in dup.message
    assert info.value.exit_code == 2


def test_missing_columns_and_bad_encoding(tmp_path: Path) -> None:
    roster = tmp_path / "cols.csv"
    roster.write_text("kind,name,identifier\nbank,X,5493001KJTIIGC8Y1R12\n")
    with pytest.raises(RosterInvalid) as info:
        onboarding.read_roster(roster, None)
    assert {p.field for p in info.value.problems} == {"jurisdiction", "capital_base", "admin_wallet"}
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + f"bank,Caf\xe9 Bank,5493001KJTIIGC8Y1R12,CN,1,{ADDR}\n".encode("latin-1"))
    with pytest.raises(RosterInvalid, match="line 2.*not UTF-8"):
        onboarding.read_roster(latin, None)


# -- on chain ---------------------------------------------------------------------------------

def plan(chain: Chain, entries: list[onboarding.Entry]) -> list[onboarding.Planned]:
    return onboarding.plan(chain.client, entries, prover=onboarding.account_prover(chain.client, ADMINS))


def test_import_is_idempotent_and_resumes(chain: Chain) -> None:
    entries = onboarding.read_roster(ROSTER, None)
    first = onboarding.apply(chain.client, chain.regulator, plan(chain, entries[:5]))
    assert [i for _, i in first.registered] == [1, 2, 3, 4, 5]
    # the whole roster again: the first five are skipped, the rest registered ("resume")
    second = onboarding.apply(chain.client, chain.regulator, plan(chain, entries))
    assert [i for _, i in second.skipped] == [1, 2, 3, 4, 5]
    assert [i for _, i in second.registered] == list(range(6, 13))
    third = onboarding.apply(chain.client, chain.regulator, plan(chain, entries))
    assert not third.registered and len(third.skipped) == 12
    views = onboarding.list_institutions(chain.client)
    assert [(v.id, v.name, v.identifier) for v in views] == [
        (i + 1, e.name, e.identifier) for i, e in enumerate(entries)]
    assert views[1].kind == "domestic-bank" and views[1].capital_base == entries[1].capital_base
    shown = onboarding.show(chain.client, 2)
    assert shown["wallets"] == [entries[1].admin] and shown["borrowing_limit"] == "2,590,000,000,000.00"


def test_admin_wallet_taken_on_chain_is_a_problem_before_any_write(chain: Chain, tmp_path: Path) -> None:
    entries = onboarding.read_roster(ROSTER, None)
    onboarding.apply(chain.client, chain.regulator, plan(chain, entries[:1]))
    roster = tmp_path / "taken.csv"
    roster.write_text(HEADER + f"enterprise,New Co,91330200144073517R,CN,10,{entries[0].admin}\n")
    block = chain.w3.eth.block_number
    with pytest.raises(RosterInvalid, match="already belongs to SAFE"):
        onboarding.plan(chain.client, onboarding.read_roster(roster, None), roster, onboarding.account_prover(
            chain.client, ADMINS))
    assert chain.w3.eth.block_number == block


def test_a_wallet_is_bound_only_with_its_own_proof(chain: Chain, tmp_path: Path) -> None:
    """Issue #10 item 6: nobody binds an address whose key it does not hold, the regulator included."""
    entries = onboarding.read_roster(ROSTER, None)[:2]
    with pytest.raises(RosterInvalid, match="no proof that wallet .* agrees to be bound"):
        onboarding.plan(chain.client, entries)
    victim = dev_account(30)
    squat = onboarding.Entry(**{**entries[1].__dict__, "admin": victim.address,
                                "admin_proof": onboarding.prove_wallet(chain.client, ADMINS[1], entries[1].identifier)})
    with pytest.raises(TransactionRejected, match=f"the proof for binding wallet {victim.address} was signed by "
                                                  "0x[0-9a-fA-F]{40}, not by the wallet itself") as refused:
        onboarding.register(chain.client, chain.regulator, squat)
    assert refused.value.error_name == "InvalidWalletProof"
    proof = onboarding.prove_wallet(chain.client, victim, entries[1].identifier)
    text = onboarding.format_wallet_proof(proof)
    roster = tmp_path / "proofs.csv"
    roster.write_text(HEADER.strip() + ",admin_proof\n" + f"{entries[1].kind.slug},Proved Bank,{entries[1].identifier},"
                      f"CN,100,{victim.address},{text}\n")
    institution = onboarding.register(chain.client, chain.regulator, onboarding.read_roster(roster, None)[0])
    assert chain.client.institution_of(victim.address) == institution
    with pytest.raises(TransactionRejected, match="was signed by"):  # one proof binds once (its nonce is used)
        onboarding.add_wallet(chain.client, chain.regulator, institution, dev_account(31).address, proof)


def test_status_and_wallets(chain: Chain) -> None:
    entries = onboarding.read_roster(ROSTER, None)
    onboarding.apply(chain.client, chain.regulator, plan(chain, entries[:3]))
    assert onboarding.change_status(chain.client, chain.regulator, 2, "suspend") == "suspended"
    with pytest.raises(TransactionRejected, match="cannot go from suspended to suspended"):
        onboarding.change_status(chain.client, chain.regulator, 2, "suspend")
    assert onboarding.change_status(chain.client, chain.regulator, 2, "reinstate") == "active"
    extra = dev_account(40)
    onboarding.add_wallet(chain.client, chain.regulator, 2, extra.address,
                          onboarding.prove_wallet(chain.client, extra, entries[1].identifier))
    assert chain.client.institution_of(extra.address) == 2
    with pytest.raises(TransactionRejected, match="admin wallet of Bank of Zhonghua"):
        onboarding.remove_wallet(chain.client, chain.regulator, 2, entries[1].admin)
    epoch = chain.client.signature_epoch(2)
    onboarding.remove_wallet(chain.client, chain.regulator, 2, extra.address)
    assert chain.client.institution_of(extra.address) == 0
    assert chain.client.signature_epoch(2) == epoch + 1  # its consents die with the removal
    assert onboarding.revoke_signatures(chain.client, chain.regulator, 2) == epoch + 2
    onboarding.set_admin_wallet(chain.client, chain.regulator, 2, extra.address,
                                onboarding.prove_wallet(chain.client, extra, entries[1].identifier))
    assert onboarding.show(chain.client, 2)["admin"] == extra.address
    onboarding.set_admin_wallet(chain.client, chain.regulator, 2, entries[1].admin)  # already a wallet: no proof
    onboarding.remove_wallet(chain.client, chain.regulator, 2, extra.address)
    assert onboarding.show(chain.client, 2)["wallets"] == [entries[1].admin]
    assert onboarding.change_status(chain.client, chain.regulator, 3, "revoke") == "revoked"
    assert onboarding.resolve_institution(chain.client, entries[2].identifier) == 3
    with pytest.raises(ValidationError, match="no institution #99"):
        onboarding.resolve_institution(chain.client, "99")


def test_funding_tops_up_once(chain: Chain) -> None:
    target = Web3.to_checksum_address("0x" + "ab" * 20)
    funder = funding.choose_funder(chain.w3, None)
    first = funding.fund(chain.w3, funder, [target, target.lower()], 10**17)
    assert [(f.address, f.sent) for f in first] == [(target, 10**17)]
    again = funding.fund(chain.w3, funder, [target], 10**17)
    assert again[0].sent == 0 and chain.w3.eth.get_balance(target) == 10**17
    with pytest.raises(ValidationError, match="more than 18 decimals"):
        funding.parse_ether("0.0000000000000000001")


@pytest.fixture
def foreign_anvil(tmp_path: Path) -> Iterator[LocalNode]:
    with start_anvil(chain_id=4242, log_path=tmp_path / "a.log") as node:
        yield node


def test_no_dev_funder_on_other_chains(foreign_anvil: LocalNode) -> None:
    w3 = Web3(Web3.HTTPProvider(foreign_anvil.rpc_url))
    with pytest.raises(ValidationError, match="chain 4242 is not a local development chain.*--funder"):
        funding.choose_funder(w3, None)
