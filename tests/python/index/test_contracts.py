"""The indexer against the real contracts: deployed by the deploy service, driven by a random
workload; the indexed figures match the ledger's views for every borrower, and a tampered row is
caught and its borrower named. Also the basic path on Ganache."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError

from xborder.chain import LocalNode
from xborder.config import Settings
from xborder.domain.identifiers import lei_with_check
from xborder.index import index_events, index_status_of, open_database, queries
from xborder.index.indexer import deployment_contracts
from xborder.index.reconcile import consistency_report
from xborder.index.service import indexer_web3

from .helpers import Emitters, Workload, dump

USD_RATE = 710_000_000


class RealWorkload:
    """Registry, policy and ledger transactions from anvil's unlocked accounts."""

    def __init__(self, w3: Web3, settings: Settings, seed: int) -> None:
        self.w3 = w3
        self.rng = random.Random(seed)
        self.contracts = {c.name: w3.eth.contract(address=c.address, abi=c.abi)
                          for c in deployment_contracts(settings.deployments, w3.eth.chain_id)}
        self.accounts = w3.eth.accounts
        self.regulator = self.accounts[0]
        self.loans: list[int] = []
        self.counts: dict[int, int] = {}
        self.borrowers: list[int] = []

    def send(self, sender: str, call: Any) -> bool:
        try:
            call.transact({"from": sender})
            return True
        except (ContractLogicError, ValueError):
            return False  # refused by the contract (limit, status ...): a valid outcome

    def setup(self) -> None:
        reg, pol = self.contracts["InstitutionRegistry"], self.contracts["MacroPrudentialPolicy"]
        spec = [(0, b"CN", 10**11), (4, b"US", 10**11), (3, b"CN", 5 * 10**8), (3, b"HK", 10**9), (3, b"CN", 2 * 10**8)]
        for i, (kind, country, capital) in enumerate(spec, start=1):
            ident = lei_with_check(f"5493{i:014d}").encode()
            assert self.send(self.regulator, reg.functions.registerInstitution(
                kind, ident, country, capital, f"Institution {i}", self.accounts[i]))
            if kind == 3:
                self.borrowers.append(i)
        assert self.send(self.regulator, pol.functions.setReferenceRate(b"USD", USD_RATE))

    def step(self) -> None:
        rng, ledger = self.rng, self.contracts["LoanLedger"]
        choice = rng.random()
        if choice < 0.3 or not self.loans:
            borrower = rng.choice(self.borrowers)
            creditor = rng.choice([1, 2])
            request = (borrower, creditor, rng.choice([b"USD", b"CNY"]), rng.randrange(1, 10**6) * 100,
                       1_750_000_000, 1_750_000_000 + rng.choice([200, 800]) * 86400, rng.choice([1, 2, 7]),
                       rng.randbytes(32), rng.randbytes(32))
            if self.send(self.accounts[1], ledger.functions.recordLoan(request, b"terms")):
                self.counts[borrower] = self.counts.get(borrower, 0) + 1
                loan_id = borrower << 32 | self.counts[borrower]
                self.loans.append(loan_id)
                self.send(self.accounts[borrower], ledger.functions.confirmLoan(loan_id))
        elif choice < 0.35:
            self.send(self.regulator, self.contracts["InstitutionRegistry"].functions.setCapitalBase(
                rng.choice(self.borrowers), rng.randrange(10**8, 10**9)))
        elif choice < 0.38:
            self.send(self.regulator, self.contracts["MacroPrudentialPolicy"].functions.setParameter(
                rng.choice([3, 4]), rng.randrange(10000, 25000)))
        else:
            loan_id = rng.choice(self.loans)
            loan = ledger.functions.getLoan(loan_id).call()
            principal, drawn, outstanding = loan[9], loan[10], loan[11]
            if rng.random() < 0.6 and drawn < principal:
                self.send(self.accounts[1], ledger.functions.drawdown(loan_id, rng.randrange(1, principal - drawn + 1)))
            elif outstanding > 0:
                self.send(self.accounts[1], ledger.functions.repay(loan_id, rng.randrange(1, outstanding + 1)))
            elif rng.random() < 0.5:
                self.send(self.accounts[1], ledger.functions.cancelLoan(loan_id))


def test_consistency_check_passes_then_names_the_tampered_borrower(deployed: tuple[Web3, Settings], db_url: str) -> None:
    w3, settings = deployed
    settings = Settings(**{**settings.__dict__, "database_url": db_url})
    work = RealWorkload(w3, settings, seed=31)
    work.setup()
    for _ in range(150):
        work.step()
    stats = index_events(settings)
    assert stats.checkpoint == w3.eth.block_number and stats.events > 150
    status = index_status_of(settings)
    assert status.counts["loans"] == len(work.loans) and status.counts["institutions"] == 5

    db = open_database(db_url)
    report = consistency_report(db, w3)
    assert report.ok, (report.mismatches, report.log_mismatches, report.internal)
    assert report.logs_checked == stats.logs
    assert report.checked == 4  # the bank and three enterprises can borrow
    assert sum(queries.borrower_exposure(db, b).risk_weighted_balance > 0 for b in work.borrowers) >= 2
    assert db.query_one("SELECT COUNT(*) FROM loan_events WHERE event = 'LoanRepaid'")[0] > 0
    exposure = queries.borrower_exposure(db, work.borrowers[0])
    chain = work.contracts["LoanLedger"].functions
    assert exposure.risk_weighted_balance == chain.riskWeightedBalance(work.borrowers[0]).call()
    assert exposure.limit == chain.borrowingLimit(work.borrowers[0]).call() > 0
    for loan_id in work.loans:  # every loan's current state equals the ledger's
        loan = chain.getLoan(loan_id).call()
        row = db.query_one("SELECT status, drawn, outstanding, contribution FROM loans WHERE loan_id = ?", (loan_id,))
        assert row == (loan[5], loan[10], loan[11], chain.loanContribution(loan_id).call())

    # Tamper with one row: the check fails and names that borrower (and only it).
    victim = work.borrowers[1]
    db.execute("UPDATE loans SET contribution = contribution + 7 WHERE loan_id = (SELECT MAX(loan_id) FROM "
               "loans WHERE borrower = ?)", (victim,))
    report = consistency_report(db, w3)
    assert not report.ok and report.borrowers == [victim]
    assert {m.field for m in report.mismatches} == {"sum_of_contributions"}
    assert any("loan_totals" in line for line in report.internal)  # the summary no longer matches the rows
    db.execute("UPDATE institutions SET capital_base = capital_base + 1000 WHERE institution_id = ?",
               (work.borrowers[2],))
    report = consistency_report(db, w3)
    assert report.borrowers == sorted([victim, work.borrowers[2]])
    assert any(m.field == "limit" and m.borrower == work.borrowers[2] for m in report.mismatches)


def test_queries_and_csv(deployed: tuple[Web3, Settings], tmp_path: Path) -> None:
    w3, settings = deployed
    settings = Settings(**{**settings.__dict__, "database_url": f"sqlite:///{tmp_path / 'q.db'}"})
    work = RealWorkload(w3, settings, seed=5)
    work.setup()
    for _ in range(80):
        work.step()
    index_events(settings)
    db = open_database(settings.index_url)
    everything = queries.list_loans(db, limit=1000)
    assert everything.total == len(work.loans) == len(everything.rows)
    first = queries.list_loans(db, limit=2)
    page = queries.list_loans(db, limit=3, cursor=first.next_cursor)
    assert [r[0] for r in page.rows] == [r[0] for r in everything.rows[2:5]] and page.total == everything.total
    by_borrower = queries.list_loans(db, borrower=work.borrowers[0], limit=1000)
    assert by_borrower.total == sum(1 for i in work.loans if i >> 32 == work.borrowers[0])
    usd_from_us = queries.list_loans(db, currency="usd", creditor_country="US", status="Active", limit=1000)
    assert all(d["currency"] == "USD" and d["creditor_country"] == "US" and d["status"] == "Active"
               for d in usd_from_us.dicts())
    totals = queries.totals(db, "currency")
    assert sum(r[1] for r in totals.rows) == len(work.loans)
    assert queries.totals(db, "creditor_country").rows and queries.totals(db, "financing_type").rows
    vols = queries.volumes(db, "day")
    drawn = db.query_one("SELECT COALESCE(SUM(amount), 0) FROM loan_events WHERE event = 'LoanDrawn'")[0]
    assert sum(r[2] for r in vols.rows) == drawn
    csv_text = everything.to_csv()
    assert csv_text.splitlines()[0].startswith("loan_id,borrower,creditor") and len(csv_text.splitlines()) == len(work.loans) + 1


def test_basic_path_on_ganache(ganache: LocalNode, tmp_path: Path) -> None:
    w3 = indexer_web3(ganache.rpc_url)
    emitters = Emitters.deploy(w3)
    work = Workload(emitters, seed=2)
    work.setup()
    work.run(40)
    settings = Settings(data_dir=tmp_path / ".xborder", rpc_url=ganache.rpc_url, confirmations=0)
    stats = index_events(settings, contracts=emitters.contracts(), batch_blocks=5)
    assert stats.checkpoint == w3.eth.block_number
    db = open_database(settings.index_url)
    assert {r[0] for r in db.query("SELECT loan_id FROM loans")} == set(work.loans)
    again = open_database(f"sqlite:///{tmp_path / 'again.db'}")
    from xborder.index import Indexer

    Indexer(again, w3, emitters.contracts(), batch_blocks=1000).run()
    assert dump(db) == dump(again)
