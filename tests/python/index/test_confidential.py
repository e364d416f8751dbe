"""Confidential loan terms end to end (issue #7), on anvil with the real contracts and a real index
database (SQLite and PostgreSQL): three banks, two enterprises and the regulator.

* a third bank's index (and `loan show` with its keys) cannot read another pair's terms;
* the parties and the regulator can;
* a tampered envelope and an envelope that does not open the commitment are FLAGGED;
* after a key rotation, loans sealed under the old key stay readable with the old key, a re-share
  (`shareTerms`) makes them readable with the new one; the rollback covers `loan_terms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from xborder.bindings.client import XborderClient
from xborder.chain import LocalNode
from xborder.chain.launcher import DEV_MNEMONIC
from xborder.config import PROJECT_ROOT, Settings
from xborder.domain.dates import DAY
from xborder.domain.loans import LoanRequest, document_hash
from xborder.errors import ValidationError, WalletError
from xborder.index import index_events, open_database
from xborder.index.projection import XborderProjection
from xborder.services import envelope as env
from xborder.services import terms as T
from xborder.services.confidential import (
    EncryptionKeys,
    MissingEncryptionKey,
    TermsSealer,
    register_derived_keys,
)
from xborder.services.deploy import deploy
from xborder.services.loan_batch import RECORDED, LoanBatch, LoanItem
from xborder.services.loans import LoanService
from xborder.wallets.encryption import KeyRing, KeyRingStore, derive_key, public_bytes

from .helpers import one_row

Account.enable_unaudited_hdwallet_features()

REGULATOR = 0
# name, kind, USCC, capital base (CNY minor units)
CAST = [("BANK-A", 0, "91010000MA0000011Y", 10**12), ("BANK-B", 0, "91010000MA00000122", 10**12),
        ("BANK-C", 1, "91010000MA00000135", 10**12), ("ENTERPRISE-1", 3, "91030000MA0000014G", 10**11),
        ("ENTERPRISE-2", 3, "91030000MA0000015K", 10**11)]
BANK_A, BANK_B, BANK_C, E1, E2 = range(1, 6)
TERMS_1 = T.LoanTerms(interest_rate="4.35", fees="0.25% upfront", purpose="working capital", external_ref="A-E1-1")
TERMS_2 = T.LoanTerms(interest_rate="6.1", purpose="capex", notes="secured on plant")


def dev_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass
class Cast:
    settings: Settings
    client: XborderClient
    service: LoanService
    keys: EncryptionKeys
    regulator: LocalAccount
    wallets: dict[int, LocalAccount]

    def ring(self, institution: int, *versions: int) -> KeyRing:
        """The DEMO-ONLY derived keys of `institution` (0 = the regulator)."""
        wallet = self.regulator if institution == REGULATOR else self.wallets[institution]
        return KeyRing.derived(bytes(wallet.key), institution, versions or (1,))

    def register_key(self, institution: int, version: int) -> None:
        wallet = self.regulator if institution == REGULATOR else self.wallets[institution]
        key = derive_key(bytes(wallet.key), institution, version)
        assert self.keys.register(wallet, institution, public_bytes(key)).version == version

    def today(self) -> int:
        """The chain's day (v2: value dates lie within a window of block time)."""
        return int(self.client.w3.eth.get_block("latest")["timestamp"]) // DAY * DAY

    def request(self, borrower: int, creditor: int, doc: str, sealed: T.SealedTerms, principal: int = 1_000_000_00
                ) -> LoanRequest:
        today = self.today()
        return LoanRequest(borrower, creditor, "USD", principal, today, today + 365 * DAY, 1, document_hash(doc),
                           sealed.terms_hash)


def build_cast(anvil: LocalNode, tmp_path: Path) -> Cast:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))
    settings = Settings(project_root=PROJECT_ROOT, data_dir=tmp_path / ".xborder", deployments_dir=tmp_path / "dep",
                        rpc_url=anvil.rpc_url)
    regulator = dev_account(0)
    deploy(w3, regulator, regulator.address, settings.deployments, PROJECT_ROOT)
    client = XborderClient.load(w3, settings.deployments)
    wallets = {}
    for i, (name, kind, ident, capital) in enumerate(CAST, start=1):
        wallets[i] = dev_account(i)
        identifier = ident.encode().ljust(20, b"\0")
        client.transact(regulator, client.registry.functions.registerInstitution(
            kind, identifier, b"CN", capital, name, wallets[i].address,
            client.wallet_proof(wallets[i], identifier).as_abi()), f"register {name}")
    client.transact(regulator, client.policy.functions.setReferenceRate(b"USD", 710_000_000), "rate")
    cast = Cast(settings, client, LoanService(client), EncryptionKeys(client), regulator, wallets)
    for institution in (REGULATOR, BANK_A, BANK_B, BANK_C, E1, E2):
        cast.register_key(institution, 1)
    return cast


def index_with(cast: Cast, db_url: str, ring: KeyRing | None) -> list[tuple[Any, ...]]:
    """Index the whole chain into a fresh `db_url` with `ring`; the loan_terms rows in chain order."""
    from dataclasses import replace

    settings = replace(cast.settings, database_url=db_url)
    index_events(settings, w3=cast.client.w3, decryption_keys=ring)
    with open_database(db_url) as db:
        return db.query("SELECT loan_id, source, encrypted, readable, commitment_ok, key_institution, key_version, "
                        "terms_json, interest_rate, error, block_number FROM loan_terms "
                        "ORDER BY block_number, log_index")


def current_terms(db_url: str) -> dict[int, tuple[str, str, int]]:
    with open_database(db_url) as db:
        return {int(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in db.query(
            "SELECT loan_id, interest_rate, source, key_institution FROM loan_terms_current")}


@pytest.fixture
def cast(anvil: LocalNode, tmp_path: Path) -> Cast:
    return build_cast(anvil, tmp_path)


def test_three_banks_two_enterprises_and_the_regulator(cast: Cast, db_url: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    s = cast.service
    sealer = TermsSealer(cast.client)
    # Loan 1: ENTERPRISE-1 borrows from BANK-A (co-signed), through the service.
    sealed1 = sealer.seal(T.seal(TERMS_1), document_hash=document_hash("DOC-1"), borrower=E1, creditor=BANK_A,
                          recorder=BANK_A)
    assert env.is_envelope(sealed1.data) and b"4.35" not in sealed1.data
    assert env.parse(sealed1.data).key_ids == [(E1, 1), (BANK_A, 1), (REGULATOR, 1)]  # recorder = creditor
    req1 = cast.request(E1, BANK_A, "DOC-1", sealed1)
    consent = s.sign_consent(cast.wallets[E1], req1, 0, submitter=BANK_A)
    loan1 = s.record_with_consent(cast.wallets[BANK_A], req1, sealed1, consent=consent).loan_id
    assert cast.client.ledger.functions.termsCommitment(loan1).call() == sealed1.terms_hash
    # Loan 2: ENTERPRISE-2 borrows from BANK-B, through the batch (LoanItem.build(sealer=...)).
    item = LoanItem.build(borrower=E2, creditor=BANK_B, currency="USD", principal=2_000_000_00,
                          value_date=cast.today(), maturity_date=cast.today() + 730 * DAY,
                          financing_type=1, document=document_hash("DOC-2"), terms=TERMS_2,
                          recorder=cast.wallets[BANK_B], sealer=sealer)
    batch = LoanBatch(cast.client, [item])
    batch.preflight()
    report = batch.submit()
    assert [o.status for o in report.outcomes] == [RECORDED], report.to_json()
    loan2 = report.outcomes[0].loan_id
    assert loan2 is not None

    # loan show: the parties and the regulator read, the third bank does not
    assert s.show(loan1, cast.ring(E1)).terms == TERMS_1.to_dict()
    assert s.show(loan1, cast.ring(BANK_A)).terms_verified is True
    assert s.show(loan2, cast.ring(REGULATOR)).terms == TERMS_2.to_dict()
    outsider = s.show(loan1, cast.ring(BANK_C))
    assert outsider.terms_readable is False and outsider.terms is None and outsider.terms_form == "encrypted"
    assert "not readable" in outsider.human()["terms"]
    assert s.show(loan2, cast.ring(BANK_A)).terms_readable is False

    # Loan 3: BANK-A records with an envelope whose plaintext does not open the terms hash.
    honest, other = T.seal(T.LoanTerms(interest_rate="3")), T.seal(T.LoanTerms(interest_rate="9.99"))
    req3 = cast.request(E1, BANK_A, "DOC-3", honest)
    lying = sealer.seal_plaintext(other.salt + other.encoding, document_hash=req3.document_hash,
                                  terms_hash=honest.terms_hash,
                                  recipients=cast.keys.recipients(sealer.recipient_ids(E1, BANK_A, BANK_A)))
    loan3 = s.record(cast.wallets[BANK_A], req3, lying).loan_id
    # A tampered re-share of loan 1 (one ciphertext byte flipped) by ENTERPRISE-1.
    tampered = bytearray(sealed1.data)
    tampered[-3] ^= 0x40
    s._send(cast.wallets[E1], cast.client.ledger.functions.shareTerms(loan1, bytes(tampered)), "tamper", loan1)
    flagged_block = int(cast.client.w3.eth.block_number)
    assert s.show(loan3, cast.ring(REGULATOR)).terms_verified is False

    # Rotation: BANK-A moves to key v2; loan 4 is sealed for v2.
    cast.register_key(BANK_A, 2)
    assert cast.keys.current(BANK_A, refresh=True)[1] == 2
    sealer2 = TermsSealer(cast.client)
    sealed4 = sealer2.seal(T.seal(T.LoanTerms(interest_rate="5.5")), document_hash=document_hash("DOC-4"),
                           borrower=E2, creditor=BANK_A, recorder=BANK_A)
    assert (BANK_A, 2) in env.parse(sealed4.data).key_ids
    loan4 = s.record(cast.wallets[BANK_A], cast.request(E2, BANK_A, "DOC-4", sealed4), sealed4).loan_id
    new_key_only = KeyRing({(BANK_A, 2): cast.ring(BANK_A, 2).keys[(BANK_A, 2)]})
    assert s.show(loan1, new_key_only).terms_readable is False  # sealed for v1 only
    assert s.show(loan1, cast.ring(BANK_A, 1, 2)).terms == TERMS_1.to_dict()  # old key kept: history readable
    # ENTERPRISE-1 (a party that can read) re-shares loan 1 with BANK-A's current key.
    with pytest.raises(ValidationError, match="none of your keys"):
        s.reshare(cast.wallets[BANK_C], loan1, cast.ring(BANK_C), [BANK_A])
    s.reshare(cast.wallets[E1], loan1, cast.ring(E1), [BANK_A])
    assert s.show(loan1, new_key_only).terms == TERMS_1.to_dict()

    # ------------------------------------------------------------------ the indexes
    def fresh(name: str) -> str:
        if db_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / (name + '.db')}"
        return str(request.getfixturevalue("pg_server").create_database())

    # third bank: every envelope it sees is unreadable; nothing is current
    bank_c = fresh("bank_c")
    rows = index_with(cast, bank_c, cast.ring(BANK_C))
    assert rows and all(r[2] == 1 and r[3] == 0 and r[7] is None for r in rows)
    assert current_terms(bank_c) == {}
    # no keys at all: the public part only (no loan_terms rows), the loans are all there
    public = fresh("public")
    assert index_with(cast, public, None) == []
    with open_database(public) as db:
        assert one_row(db, "SELECT COUNT(*) FROM loans")[0] == 4
    # the regulator reads everything, flags the lie and the tampering
    regulator = fresh("regulator")
    rows = index_with(cast, regulator, cast.ring(REGULATOR))
    by_loan: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_loan.setdefault(int(r[0]), []).append(r)
    assert current_terms(regulator) == {loan1: ("4.35", "LoanRecorded", REGULATOR),
                                        loan2: ("6.1", "LoanRecorded", REGULATOR),
                                        loan4: ("5.5", "LoanRecorded", REGULATOR)}
    lie = by_loan[loan3][0]
    assert lie[3] == 1 and lie[4] == 0 and "wrong commitment" in lie[9] and lie[7] is None
    tamper = next(r for r in by_loan[loan1] if r[1] == "TermsShared" and r[4] is not None)
    assert tamper[3] == 1 and tamper[4] == 0 and "authentication" in tamper[9]
    # BANK-A with both key versions: its own loans (1, 3 flagged, 4), not ENTERPRISE-2/BANK-B's loan 2
    bank_a = fresh("bank_a")
    index_with(cast, bank_a, cast.ring(BANK_A, 1, 2))
    assert set(current_terms(bank_a)) == {loan1, loan4}
    # BANK-A with only its new key: loan 4 directly, loan 1 through the re-share
    bank_a2 = fresh("bank_a2")
    index_with(cast, bank_a2, new_key_only)
    current = current_terms(bank_a2)
    assert current == {loan1: ("4.35", "TermsShared", BANK_A), loan4: ("5.5", "LoanRecorded", BANK_A)}
    # ENTERPRISE-2 reads loans 2 and 4 only
    e2 = fresh("e2")
    index_with(cast, e2, cast.ring(E2))
    assert set(current_terms(e2)) == {loan2, loan4}

    # rollback (what a reorg does) removes the loan_terms rows above the common ancestor
    with open_database(regulator) as db:
        with db.transaction():
            XborderProjection().rollback(db, flagged_block - 1)
        left = db.query("SELECT DISTINCT loan_id FROM loan_terms")
        assert {int(r[0]) for r in left} == {loan1, loan2, loan3}
        assert one_row(db, "SELECT COUNT(*) FROM loan_terms WHERE block_number > ?", (flagged_block - 1,))[0] == 0


def test_sealing_refuses_a_party_without_key(anvil: LocalNode, tmp_path: Path) -> None:
    cast = build_cast(anvil, tmp_path)
    wallet = dev_account(6)
    identifier = b"91030000MA00000016".ljust(20, b"\0")
    cast.client.transact(cast.regulator, cast.client.registry.functions.registerInstitution(
        3, identifier, b"CN", 10**10, "NO-KEY", wallet.address, cast.client.wallet_proof(wallet, identifier).as_abi()),
        "register")
    with pytest.raises(MissingEncryptionKey, match=r"institution 6 registered no encryption key.*set-key"):
        TermsSealer(cast.client).seal(T.seal(TERMS_1), document_hash=document_hash("D"), borrower=6,
                                      creditor=BANK_A, recorder=BANK_A)
    # what the demo / bench do: derived keys for whoever has none (existing keys are left alone)
    ring = register_derived_keys(cast.client, {6: wallet, BANK_A: cast.wallets[BANK_A]}, cast.regulator)
    assert cast.keys.current(6, refresh=True)[1] == 1 and cast.keys.current(BANK_A, refresh=True)[1] == 1
    sealed = TermsSealer(cast.client).seal(T.seal(TERMS_1), document_hash=document_hash("D"), borrower=6,
                                           creditor=BANK_A, recorder=BANK_A)
    opened = env.open_envelope(sealed.data, {(6, 1): ring.keys[(6, 1)]}, TermsSealer(cast.client).binding(
        document_hash("D"), sealed.terms_hash))
    assert opened.commitment_ok


def test_key_ring_file(tmp_path: Path) -> None:
    store = KeyRingStore(tmp_path / "keystores", scrypt_n=2**10)
    k1 = store.add_key("bank-a", "pw", BANK_A, 1)
    k2 = store.add_key("bank-a", "pw", BANK_A, 2)
    assert store.add_key("bank-a", "pw", BANK_A, 1) is not None  # existing version kept, not replaced
    ring = store.load("bank-a", "pw")
    assert sorted(ring) == [(BANK_A, 1), (BANK_A, 2)]
    assert public_bytes(ring.keys[(BANK_A, 1)]) == public_bytes(k1)
    assert public_bytes(ring.keys[(BANK_A, 2)]) == public_bytes(k2)
    path = store.path("bank-a")
    assert (path.stat().st_mode & 0o777) == 0o600 and (path.parent.stat().st_mode & 0o777) == 0o700
    assert k1.private_bytes_raw().hex() not in path.read_text()
    with pytest.raises(WalletError, match="wrong password"):
        store.load("bank-a", "nope")
    with pytest.raises(WalletError, match="set-key"):
        store.load("bank-b", "pw")


def test_envelope_binding_and_structure() -> None:
    keys = {i: derive_key(bytes([i + 1]) * 32, i, 1) for i in (0, 1, 2)}
    sealed = T.seal(TERMS_1)
    binding = env.Binding(31337, "0x" + "11" * 20, b"\x22" * 32, sealed.terms_hash)
    plain = sealed.salt + sealed.encoding
    data = env.seal(plain, [env.Recipient(i, 1, public_bytes(keys[i])) for i in (1, 2, 0)], binding)
    assert len(data) == env.envelope_size(3, len(plain))
    for i in (0, 1, 2):
        opened = env.open_envelope(data, {(i, 1): keys[i]}, binding)
        assert opened.plaintext == plain and opened.commitment_ok and opened.key == (i, 1)
    # bound to the chain, the ledger and the loan: the same bytes replayed elsewhere do not open
    for other in (env.Binding(1, binding.ledger, binding.document_hash, binding.terms_hash),
                  env.Binding(31337, "0x" + "33" * 20, binding.document_hash, binding.terms_hash),
                  env.Binding(31337, binding.ledger, b"\x44" * 32, binding.terms_hash)):
        assert env.open_envelope(data, {(1, 1): keys[1]}, other).tampered
    # dropping a recipient entry breaks everyone's authentication
    parsed = env.parse(data)
    entry = parsed.entries[0]
    stripped = bytes([*env.MAGIC, 2]) + b"".join(
        e.institution.to_bytes(4, "big") + e.version.to_bytes(4, "big") + e.wrapped for e in parsed.entries[1:]
    ) + parsed.nonce + parsed.ciphertext
    assert entry.institution == 1
    assert env.open_envelope(stripped, {(0, 1): keys[0]}, binding).tampered
    assert not env.open_envelope(data, {(9, 1): keys[0]}, binding).readable
    assert T.verify_emitted(data, sealed.terms_hash) and not T.verify_emitted(data[:20], sealed.terms_hash)
