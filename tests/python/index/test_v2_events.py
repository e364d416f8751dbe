"""Every v2 ledger event through the index, on anvil with the real contracts (SQLite and PostgreSQL).

One scripted book (figures worked by hand below) exercises each path: a loan recorded by the
creditor and confirmed by the borrower, drawn at two different USD rates and repaid pro rata; a
loan co-signed by the borrower and submitted by the creditor's AGENT with a first drawdown in the
same transaction, declared in default by that agent (it still counts) and written off by the
regulator (it leaves); a loan recorded by the borrower and expired by the regulator; one expired by
anyone after its confirmation window; an Active undrawn loan cancelled; a short-term loan extended
with the borrower's consent into long term, extended again without, and closed; a released
document; freezes; agents appointed and dismissed; voided consent nonces; a signature epoch moved;
a day parameter changed.

Checked: every loan's row against `getLoan` / `loanContribution`, the figures by hand, each event's
own columns (side, reason, agent flag, consent, contribution change, CNY amount), the ledger-control
tables, the consistency check (views, log counts, summaries), a reprojection from the raw logs, and
a rollback to the middle of the book followed by re-indexing (same tables as one pass).

Hand figures (weights: ordinary loan 1.0; long 1.0 + FX 0.5 = 15,000 bps; short 1.5 + 0.5 = 20,000):
  L1 X from BANK, USD 1,000,000.00, 730 days: draw 600,000.00 at 7.10 -> 4,260,000.00 CNY x 1.5 =
     6,390,000.00; USD to 7.20, draw 400,000.00 -> 2,880,000.00 x 1.5 = 4,320,000.00; contribution
     10,710,000.00, CNY outstanding 7,140,000.00; repay 500,000.00 of 1,000,000.00 -> contribution
     5,355,000.00 (removed 5,355,000.00), CNY outstanding 3,570,000.00.
  L2 Y from HK (via AGENT), EUR 200,000.00, 200 days, draw 100,000.00 at 7.80 -> 780,000.00 x 2 =
     1,560,000.00; defaulted (still 1,560,000.00), written off (0).
  X's balance 5,355,000.00 CNY of limit 350,000,000.00; Y's 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from xborder.chain import LocalNode
from xborder.domain.enums import ConsentSide, LoanStatus, Parameter, ReasonCode
from xborder.index import Indexer, IndexStore, index_events, open_database, queries
from xborder.index.projection import XborderProjection
from xborder.index.reconcile import consistency_report
from xborder.index.service import indexer_web3
from xborder.index.status import deployment_contracts

from .helpers import PROJECTED, dump, dump_diff
from .ledger_book import DAY, Book, M, dev_account

BANK_KIND, BRANCH_KIND, ENTERPRISE_KIND, CREDITOR_KIND = 0, 1, 3, 4


@dataclass
class Script:
    book: Book
    ids: dict[str, int]
    loans: dict[str, int]
    middle_block: int  # a block in the middle of the book (for the rollback)


def _script(book: Book) -> Script:
    ids = {"BANK": book.register("BANK", BANK_KIND, 1_000_000_000 * M),
           "AGENT": book.register("AGENT", BRANCH_KIND, 500_000_000 * M),
           "X": book.register("X", ENTERPRISE_KIND, 100_000_000 * M),
           "Y": book.register("Y", ENTERPRISE_KIND, 20_000_000 * M),
           "HK": book.register("HK", CREDITOR_KIND, 0, "HK")}
    bank, agent, x, y, hk = (ids[k] for k in ("BANK", "AGENT", "X", "Y", "HK"))
    book.set_rates()
    loans: dict[str, int] = {}

    # L1: recorded by the creditor, confirmed by the borrower, drawn at two rates, repaid pro rata.
    loans["L1"] = book.record(bank, book.request(x, bank, "USD", 1_000_000 * M, 730, "L1"))
    book.confirm(x, loans["L1"])
    book.draw(x, loans["L1"], 600_000 * M)
    book.set_rates({"USD": 720_000_000})
    book.draw(bank, loans["L1"], 400_000 * M)
    book.repay(bank, loans["L1"], 500_000 * M)

    # L2: the creditor's agent submits the borrower's co-signed consent and draws at once; defaults; written off.
    book.appoint(hk, agent)
    loans["L2"] = book.record_cosigned(agent, book.request(y, hk, "EUR", 200_000 * M, 200, "L2"), draw=100_000 * M)
    book.default(agent, loans["L2"])
    middle = int(book.w3.eth.block_number)
    book.write_off(loans["L2"], int(ReasonCode.WRITE_OFF_APPROVED))
    book.dismiss(hk, agent)

    # L3: recorded by the borrower, expired by the regulator. L4: Active, undrawn, cancelled by the lender.
    loans["L3"] = book.record(x, book.request(x, bank, "CNY", 5_000_000 * M, 400, "L3"))
    book.expire(loans["L3"], int(ReasonCode.DOCUMENT_DISPUTE))
    loans["L4"] = book.record(bank, book.request(y, bank, "CNY", 1_000_000 * M, 730, "L4"))
    book.confirm(y, loans["L4"])
    book.cancel(bank, loans["L4"])

    # L5: co-signed, short term, extended with the borrower's consent into long term, again without; closed.
    loans["L5"] = book.record_cosigned(bank, book.request(x, bank, "CNY", 2_000_000 * M, 300, "L5"))
    value_date = book.loan(loans["L5"])["valueDate"]
    book.extend(bank, loans["L5"], value_date + 500 * DAY, with_consent=True)
    book.extend(bank, loans["L5"], value_date + 600 * DAY)
    book.close(bank, loans["L5"])

    # Regulator controls, nonces, epochs, a day parameter.
    book.release("L1", int(ReasonCode.DOCUMENT_DISPUTE))
    book.freeze(x, int(ReasonCode.SUSPECTED_FRAUD))
    book.unfreeze(x, int(ReasonCode.DATA_CORRECTION))
    book.freeze(y, int(ReasonCode.COURT_OR_SANCTIONS))
    book.invalidate_nonces(x, 0, 0b101)
    book.revoke_signatures(x)
    book.set_parameter(int(Parameter.MAX_TERM_DAYS), 7_300)

    # L6: recorded by the creditor, never confirmed, expired by an outsider after the window.
    loans["L6"] = book.record(bank, book.request(y, bank, "CNY", 3_000_000 * M, 400, "L6"))
    book.advance(31)
    book.expire(loans["L6"], int(ReasonCode.UNSPECIFIED), sender=dev_account(9))
    return Script(book, ids, loans, middle)


@pytest.fixture
def script(anvil: LocalNode, tmp_path: Path) -> Script:
    return _script(Book.deploy(anvil.rpc_url, tmp_path))


def _events(db: Any, loan_id: int) -> list[dict[str, Any]]:
    return queries.loan_history(db, loan_id).dicts()


def _check_loans_equal_the_chain(db: Any, script: Script) -> None:
    for name, loan_id in script.loans.items():
        chain = script.book.loan(loan_id)
        row = db.query_one("SELECT status, drawn, outstanding, contribution, short_term, borrower_consented, "
                           "creditor_consented, maturity_date, confirm_by FROM loans WHERE loan_id = ?", (loan_id,))
        assert row == (chain["status"], chain["drawn"], chain["outstanding"], chain["counted"], int(chain["shortTerm"]),
                       int(chain["borrowerConsented"]), int(chain["creditorConsented"]), chain["maturityDate"],
                       chain["confirmBy"]), name


def _check_hand_figures(db: Any, script: Script) -> None:
    ids, loans = script.ids, script.loans
    l1 = db.query_one("SELECT status, contribution, outstanding_cny, rate, weight_bps, document_released "
                      "FROM loans WHERE loan_id = ?", (loans["L1"],))
    assert l1 == (LoanStatus.ACTIVE, 535_500_000, 357_000_000, 720_000_000, 15_000, 1)
    l1_events = _events(db, loans["L1"])
    assert [e["event"] for e in l1_events] == ["LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanDrawn", "LoanRepaid",
                                               "DocumentReleased"]
    recorded, confirmed, draw1, draw2, repaid, released = l1_events
    assert (recorded["status"], recorded["by_institution"], recorded["creditor_consented"],
            recorded["borrower_consented"]) == (LoanStatus.RECORDED, ids["BANK"], 1, 0)
    assert (confirmed["side"], confirmed["by_institution"], confirmed["status"]) == (
        ConsentSide.BORROWER, ids["X"], LoanStatus.ACTIVE)
    assert (draw1["rate"], draw1["weight_bps"], draw1["contribution_change"], draw1["amount_cny"]) == (
        710_000_000, 15_000, 639_000_000, 426_000_000)
    assert (draw2["rate"], draw2["contribution_change"], draw2["amount_cny"], draw2["contribution"],
            draw2["borrower_balance"]) == (720_000_000, 432_000_000, 288_000_000, 1_071_000_000, 1_071_000_000)
    assert (repaid["contribution_change"], repaid["amount_cny"], repaid["outstanding_cny"]) == (
        -535_500_000, 357_000_000, 357_000_000)
    assert (released["reason"], released["wallet"], released["document_released"],
            released["borrower_balance"]) == (ReasonCode.DOCUMENT_DISPUTE, script.book.regulator.address.lower(), 1,
                                              535_500_000)

    l2 = _events(db, loans["L2"])
    assert [e["event"] for e in l2] == ["LoanRecorded", "LoanDrawn", "LoanDefaulted", "LoanWrittenOff"]
    assert l2[0]["tx_hash"] == l2[1]["tx_hash"] and l2[0]["status"] == LoanStatus.ACTIVE
    assert (l2[0]["by_institution"], l2[0]["borrower_consented"], l2[0]["creditor_consented"]) == (ids["AGENT"], 1, 1)
    assert l2[0]["borrower_balance"] == l2[1]["borrower_balance"] == 156_000_000  # the record's balance is after the draw
    assert (l2[2]["by_institution"], l2[2]["by_agent"], l2[2]["contribution"], l2[2]["amount"]) == (
        ids["AGENT"], 1, 156_000_000, 10_000_000)
    assert (l2[3]["reason"], l2[3]["contribution_change"], l2[3]["contribution"], l2[3]["borrower_balance"],
            l2[3]["status"]) == (ReasonCode.WRITE_OFF_APPROVED, -156_000_000, 0, 0, LoanStatus.WRITTEN_OFF)

    l3, l6 = _events(db, loans["L3"]), _events(db, loans["L6"])
    assert (l3[0]["borrower_consented"], l3[0]["creditor_consented"]) == (1, 0)
    assert (l3[-1]["event"], l3[-1]["reason"], l3[-1]["wallet"]) == (
        "LoanExpired", ReasonCode.DOCUMENT_DISPUTE, script.book.regulator.address.lower())
    assert (l6[-1]["event"], l6[-1]["reason"], l6[-1]["wallet"]) == (
        "LoanExpired", ReasonCode.CONFIRMATION_WINDOW_ELAPSED, dev_account(9).address.lower())
    l5 = _events(db, loans["L5"])
    assert [(e["event"], e["short_term"], e["with_consent"]) for e in l5] == [
        ("LoanRecorded", 1, None), ("LoanExtended", 0, 1), ("LoanExtended", 0, 0), ("LoanClosed", 0, None)]

    positions = dict(db.query("SELECT borrower, balance FROM borrower_positions"))
    assert (positions[ids["X"]], positions[ids["Y"]]) == (535_500_000, 0)
    exposure = queries.borrower_exposure(db, ids["X"])
    assert (exposure.limit, exposure.frozen, exposure.active_loans, exposure.outstanding) == (
        35_000_000_000, False, 1, {"USD": 50_000_000})
    assert queries.borrower_exposure(db, ids["Y"]).frozen is True


def _check_controls(db: Any, script: Script) -> None:
    ids, book = script.ids, script.book
    assert [(r["institution_id"], r["frozen"], r["reason"]) for r in queries.drawdown_freezes(db).dicts()] == [
        (ids["X"], 1, ReasonCode.SUSPECTED_FRAUD), (ids["X"], 0, ReasonCode.DATA_CORRECTION),
        (ids["Y"], 1, ReasonCode.COURT_OR_SANCTIONS)]
    assert queries.agents(db).rows == []  # appointed, then dismissed
    assert [r[:3] for r in db.query("SELECT principal, agent, event FROM agent_events ORDER BY block_number")] == [
        (ids["HK"], ids["AGENT"], "AgentAppointed"), (ids["HK"], ids["AGENT"], "AgentDismissed")]
    assert db.query("SELECT borrower, word_pos, mask FROM consent_nonce_invalidations") == [(ids["X"], 0, "0x5")]
    epoch = int(book.registry.functions.signatureEpoch(ids["X"]).call())
    assert epoch > 0 and db.query_one("SELECT signature_epoch FROM institutions WHERE institution_id = ?",
                                      (ids["X"],)) == (epoch,)
    params = queries.parameters(db)
    assert params["MaxTermDays"] == 7_300 and params["ConfirmationWindowDays"] == 30
    changes = queries.parameter_changes(db).dicts()
    assert len(changes) == len(Parameter) + 1  # the constructor emits every parameter, then the one change
    assert (changes[-1]["parameter"], changes[-1]["unit"], changes[-1]["label"]) == (
        "MaxTermDays", "days", Parameter.MAX_TERM_DAYS.label)


def test_every_v2_event_is_indexed_and_the_index_equals_the_chain(script: Script, db_url: str) -> None:
    book = script.book
    settings = replace(book.settings, database_url=db_url)
    stats = index_events(settings)
    assert stats.checkpoint == book.w3.eth.block_number
    db = open_database(db_url)
    _check_loans_equal_the_chain(db, script)
    _check_hand_figures(db, script)
    _check_controls(db, script)
    report = consistency_report(db, indexer_web3(settings.rpc_url or ""))
    assert report.ok, (report.mismatches, report.log_mismatches, report.internal)
    assert report.checked == 4  # BANK, AGENT, X, Y can borrow

    # The domain tables are a projection of the raw logs; a rollback to the middle and re-indexing
    # gives the same tables as one pass.
    before = dump(db)
    IndexStore(db, XborderProjection()).reproject()
    assert not dump_diff({t: before[t] for t in PROJECTED}, {t: dump(db)[t] for t in PROJECTED})
    middle_hash = str(book.w3.eth.get_block(script.middle_block)["hash"].hex())
    IndexStore(db, XborderProjection()).rollback(script.middle_block, "0x" + middle_hash.removeprefix("0x"))
    assert db.query_one("SELECT status FROM loans WHERE loan_id = ?", (script.loans["L2"],)) == (LoanStatus.DEFAULTED,)
    assert db.query_one("SELECT frozen FROM borrower_positions WHERE borrower = ?", (script.ids["Y"],)) == (0,)
    contracts = deployment_contracts(settings.deployments, book.chain_id)
    Indexer(db, indexer_web3(settings.rpc_url or ""), contracts, batch_blocks=3).run()
    assert not dump_diff(before, dump(db))
    db.close()


def test_a_tampered_contribution_or_freeze_is_named(script: Script, tmp_path: Path) -> None:
    book = script.book
    settings = replace(book.settings, database_url=f"sqlite:///{tmp_path / 'tamper.db'}")
    index_events(settings)
    db = open_database(settings.index_url)
    w3 = indexer_web3(settings.rpc_url or "")
    db.execute("UPDATE loans SET contribution = contribution + 1 WHERE loan_id = ?", (script.loans["L1"],))
    db.execute("UPDATE borrower_positions SET frozen = 0 WHERE borrower = ?", (script.ids["Y"],))
    report = consistency_report(db, w3)
    assert {(m.borrower, m.field, m.indexed, m.chain) for m in report.mismatches} == {
        (script.ids["X"], "sum_of_contributions", 535_500_001, 535_500_000), (script.ids["Y"], "frozen", 0, 1)}
    db.close()
