"""The indexer against the real contracts (ledger v2): deployed by the deploy service, driven by a
random workload of every v2 action (records by either side, co-signed records with a first draw,
confirmations, drawdowns across rate and parameter changes, repayments, extensions with and without
the borrower's consent, cancellations, closes, defaults, write-offs, expiries, released documents,
freezes, agents, voided nonces, moved signature epochs); the indexed figures match the ledger's
views for every borrower and loan, and a tampered row is caught and its borrower named. Also the
basic path on Ganache."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from web3 import Web3

from xborder.chain import LocalNode
from xborder.config import Settings
from xborder.domain.enums import LoanStatus, ReasonCode
from xborder.index import index_events, index_status_of, open_database, queries
from xborder.index.reconcile import consistency_report
from xborder.index.service import indexer_web3

from .helpers import Emitters, Workload, dump, one_row
from .ledger_book import DAY, Book, M, Refused

USD_RATE = 710_000_000


class RealWorkload:
    """Every v2 ledger action at random, from the institutions' admin wallets (`ledger_book.Book`):
    BANK (1) and HK (2, a foreign creditor in the US) lend, AGENT (3) may be HK's agent, enterprises
    4-6 and BANK borrow. Refusals (limit, status, freeze, window ...) are valid outcomes."""

    def __init__(self, w3: Web3, settings: Settings, seed: int) -> None:
        self.book = Book.attach(w3, settings)
        self.w3 = w3
        self.rng = random.Random(seed)
        self.contracts = self.book.contracts
        self.regulator = self.book.regulator.address
        self.loans: list[int] = []
        self.borrowers: list[int] = []
        self.docs: dict[int, str] = {}
        self.agent_appointed = False

    def send(self, sender: str, call: Any) -> bool:
        try:
            call.transact({"from": sender})
            return True
        except Exception:  # refused by the contract: a valid outcome
            return False

    def attempt(self, action: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            action(*args, **kwargs)
            return True
        except Refused:
            return False

    def setup(self) -> None:
        book = self.book
        self.bank = book.register("BANK", 0, 10**11)
        self.hk = book.register("HK", 4, 0, "US")
        self.agent = book.register("AGENT", 1, 10**11)
        for i, capital in enumerate((5 * 10**8, 10**9, 2 * 10**8)):
            self.borrowers.append(book.register(f"E{i}", 3, capital, "CN" if i != 1 else "HK"))
        book.set_rates({"USD": USD_RATE})

    def _lender(self, loan_id: int) -> int:
        creditor = int(self.book.loan(loan_id)["creditor"])
        return self.agent if creditor == self.hk and self.agent_appointed and self.rng.random() < 0.5 else creditor

    def _new_loan(self) -> None:
        rng, book = self.rng, self.book
        borrower = rng.choice([*self.borrowers, self.bank])
        creditor = self.hk if borrower == self.bank or rng.random() < 0.5 else self.bank
        doc = f"doc {len(self.docs)} {rng.random()}"
        request = book.request(borrower, creditor, rng.choice(["USD", "CNY"]), rng.randrange(1, 10**6) * M,
                               rng.choice([200, 800]), doc, rng.choice([1, 2, 7]))
        try:
            if rng.random() < 0.4:
                submitter = self.agent if creditor == self.hk and self.agent_appointed else creditor
                loan_id = book.record_cosigned(submitter, request, draw=rng.choice([0, request.principal // 3]))
            else:
                loan_id = book.record(rng.choice([creditor, borrower]), request)
                if rng.random() < 0.8:
                    side = borrower if book.loan(loan_id)["creditorConsented"] else creditor
                    book.confirm(side, loan_id)
        except Refused:
            return
        self.loans.append(loan_id)
        self.docs[loan_id] = doc

    def _money(self, loan_id: int) -> None:
        rng, book = self.rng, self.book
        loan = book.loan(loan_id)
        lender = self._lender(loan_id)
        if rng.random() < 0.55 and loan["drawn"] < loan["principal"]:
            drawer = rng.choice([lender, loan_id >> 32])
            self.attempt(book.draw, drawer, loan_id, rng.randrange(1, loan["principal"] - loan["drawn"] + 1))
        elif loan["outstanding"] > 0:
            self.attempt(book.repay, lender, loan_id, rng.randrange(1, loan["outstanding"] + 1))
        elif loan["status"] == LoanStatus.ACTIVE:
            self.attempt(rng.choice([book.cancel, book.close]), lender, loan_id)

    def _ending(self, loan_id: int) -> None:
        rng, book = self.rng, self.book
        loan = book.loan(loan_id)
        status = LoanStatus(loan["status"])
        if status == LoanStatus.RECORDED:
            self.attempt(book.expire, loan_id, int(ReasonCode.DOCUMENT_DISPUTE))
        elif status == LoanStatus.DEFAULTED:
            self.attempt(book.write_off, loan_id)
        elif status == LoanStatus.ACTIVE and loan["outstanding"] > 0 and rng.random() < 0.4:
            self.attempt(book.default, self._lender(loan_id), loan_id)
        elif status == LoanStatus.ACTIVE:
            extra = rng.choice([30, 400]) * DAY
            self.attempt(book.extend, self._lender(loan_id), loan_id, loan["maturityDate"] + extra,
                         with_consent=rng.random() < 0.5)

    def _control(self) -> None:
        rng, book = self.rng, self.book
        choice = rng.random()
        if choice < 0.2:
            target = rng.choice(self.borrowers)
            frozen = bool(book.ledger.functions.borrowerPosition(target).call()[2])
            self.attempt(book.unfreeze if frozen else book.freeze, target)
        elif choice < 0.4:
            self.attempt(book.dismiss if self.agent_appointed else book.appoint, self.hk, self.agent)
            self.agent_appointed = not self.agent_appointed
        elif choice < 0.5 and self.loans:
            self.attempt(book.release, self.docs[rng.choice(self.loans)])
        elif choice < 0.6:
            self.attempt(book.invalidate_nonces, rng.choice(self.borrowers), rng.randrange(0, 3), rng.randrange(1, 2**40))
        elif choice < 0.7:
            self.attempt(book.revoke_signatures, rng.choice(self.borrowers))
        elif choice < 0.8:
            self.attempt(book.set_capital, rng.choice(self.borrowers), rng.randrange(10**8, 10**9))
        elif choice < 0.9:
            self.attempt(book.set_parameter, rng.choice([3, 4, 10]), rng.randrange(5000, 25000))
        else:
            self.attempt(book.set_rates, {"USD": rng.randrange(650_000_000, 750_000_000)})

    def step(self) -> None:
        choice = self.rng.random()
        if choice < 0.25 or not self.loans:
            self._new_loan()
        elif choice < 0.65:
            self._money(self.rng.choice(self.loans))
        elif choice < 0.8:
            self._ending(self.rng.choice(self.loans))
        else:
            self._control()


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
    assert status.counts["loans"] == len(work.loans) and status.counts["institutions"] == 6

    db = open_database(db_url)
    report = consistency_report(db, w3)
    assert report.ok, (report.mismatches, report.log_mismatches, report.internal)
    assert report.logs_checked == stats.logs
    assert report.checked == 5  # the two banks and three enterprises can borrow
    assert sum(queries.borrower_exposure(db, b).risk_weighted_balance > 0 for b in work.borrowers) >= 2
    seen = {str(r[0]) for r in db.query("SELECT DISTINCT event FROM raw_logs")}
    assert {"LoanRepaid", "LoanDefaulted", "LoanWrittenOff", "LoanExpired", "LoanExtended", "DocumentReleased",
            "DrawdownsFrozen", "AgentAppointed", "ConsentNoncesInvalidated", "SignatureEpochChanged"} <= seen, seen
    exposure = queries.borrower_exposure(db, work.borrowers[0])
    chain = work.contracts["LoanLedger"].functions
    assert exposure.risk_weighted_balance == chain.riskWeightedBalance(work.borrowers[0]).call()
    assert exposure.limit == chain.borrowingLimit(work.borrowers[0]).call() > 0
    for loan_id in work.loans:  # every loan's current state equals the ledger's
        loan = work.book.loan(loan_id)
        row = db.query_one("SELECT status, drawn, outstanding, contribution, short_term, maturity_date FROM loans "
                           "WHERE loan_id = ?", (loan_id,))
        assert row == (loan["status"], loan["drawn"], loan["outstanding"], loan["counted"], int(loan["shortTerm"]),
                       loan["maturityDate"]), loan_id

    # Tamper with one row: the check fails and names that borrower (and only it).
    victim = work.borrowers[1]
    db.execute("UPDATE loans SET contribution = contribution + 7 WHERE loan_id = (SELECT MAX(loan_id) FROM "
               "loans WHERE borrower = ? AND status = ?)", (victim, int(LoanStatus.ACTIVE)))
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
    assert usd_from_us.rows and all(d["currency"] == "USD" and d["creditor_country"] == "US" and d["status"] == "Active"
                                    and d["status_label"] == "active" for d in usd_from_us.dicts())
    statuses = {d["status"] for d in everything.dicts()}
    assert statuses <= {s.solidity_name for s in LoanStatus} and len(statuses) >= 4, statuses
    totals = queries.totals(db, "currency")
    assert sum(r[1] for r in totals.rows) == len(work.loans)
    assert queries.totals(db, "creditor_country").rows and queries.totals(db, "financing_type").rows
    vols = queries.volumes(db, "day")
    drawn, drawn_cny = one_row(db, "SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(amount_cny), 0) FROM loan_events "
                                    "WHERE event = 'LoanDrawn'")
    assert sum(r[2] for r in vols.rows) == drawn and sum(r[5] for r in vols.rows) == drawn_cny > 0
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
