"""The main job on a small seeded workload: what it prints matches what the index database and
the chain say, and the same seed gives the same run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3
from web3.types import Wei

from xborder.bindings.client import XborderClient
from xborder.chain import embedded
from xborder.chain.sender import rpc_batch
from xborder.config import PROJECT_ROOT, Settings
from xborder.demo import DemoConfig, DemoResult, run_demo, summary_lines
from xborder.domain.loans import Loan
from xborder.index.service import open_index


def _settings(root: Path) -> Settings:
    return Settings(project_root=PROJECT_ROOT, data_dir=root / ".xborder", deployments_dir=root / "deployments")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, DemoResult]]:
    settings = _settings(tmp_path_factory.mktemp("demo"))
    try:
        yield settings, run_demo(settings, DemoConfig.small(seed=7))
    finally:
        embedded.stop(settings)


def test_printed_totals_match_the_index_and_the_chain(demo_run: tuple[Settings, DemoResult]) -> None:
    settings, result = demo_run
    w3 = Web3(Web3.HTTPProvider(result.rpc_url))
    client = XborderClient.load(w3, settings.deployments)
    db = open_index(settings)
    try:
        rows = db.query("SELECT loan_id, currency, principal FROM loans ORDER BY loan_id")
    finally:
        db.close()
    # The index holds every loan the chain counts, and the report counts the same.
    assert result.loans_recorded == len(rows) == result.indexed_loan_count == result.chain_loan_count > 0
    printed = "\n".join(summary_lines(result))
    assert f"loans recorded: {result.loans_recorded:,} of {result.loans_attempted:,}" in printed
    # Per-currency totals in the report = the index = the ledger's own getLoan, loan by loan.
    answers = rpc_batch(w3, [("eth_call", [{"to": client.ledger.address,
                                             "data": client.ledger.functions.getLoan(int(r[0]))._encode_transaction_data()},
                                            "latest"]) for r in rows])
    chain_totals: dict[str, int] = {}
    for answer in answers:
        # getLoan returns the static v2 Loan struct inline (xborder.domain.loans.Loan decodes it)
        loan = Loan.decode(bytes.fromhex(answer["result"][2:]))
        chain_totals[loan.currency] = chain_totals.get(loan.currency, 0) + loan.principal
    index_totals: dict[str, int] = {}
    for _, currency, principal in rows:
        index_totals[str(currency)] = index_totals.get(str(currency), 0) + int(principal)
    report_totals = {row["currency"]: row["principal"] for row in result.by_currency}
    assert report_totals == index_totals == chain_totals
    assert sum(row["loans"] for row in result.by_currency) == result.loans_recorded
    # The regulator's consistency check agrees for every borrower.
    assert result.consistency_ok and result.consistency_borrowers > 0


def test_the_workload_shows_refusals_tranches_and_the_real_policy(demo_run: tuple[Settings, DemoResult]) -> None:
    _, result = demo_run
    assert result.refusals.get("BorrowingLimitExceeded", 0) >= 1
    assert "above its limit of CNY" in result.refusal_examples["BorrowingLimitExceeded"]
    assert result.drawdowns > result.loans_recorded // 2 and result.repayments > 0 and result.confirmations > 0
    # the parameter actually in force in 2019 (Yinfa [2017] No. 9), not the constructor's 1.75
    assert result.policy["in_force"] == {"adjustment-enterprise": 1.0, "adjustment-financial": 1.0}
    assert "Yinfa [2017] No. 9" in result.policy["source"] and result.policy["changes"] == []
    assert result.policy["next"] == {"date": "2020-03-11", "parameter": "adjustment-enterprise", "value": 1.25}
    assert "policy in force (the real PBOC/SAFE calendar): adjustment-enterprise 1, adjustment-financial 1" in \
        "\n".join(summary_lines(result))
    assert len(result.top_utilisation) == 10
    assert result.top_utilisation == sorted(result.top_utilisation, key=lambda r: -r["utilisation"])
    assert result.dashboard is not None and Path(result.dashboard).exists()


def test_the_finished_demo_leaves_its_chain_mining_on_demand(demo_run: tuple[Settings, DemoResult]) -> None:
    """Left at its bulk-load 0.2 s blocks, a finished demo's anvil mined empty blocks for as long as
    it ran (most of a core, and its keeper re-saved a 200 MB state each time the head moved)."""
    settings, _ = demo_run
    url = embedded.status(settings).rpc_url
    assert url is not None
    w3 = Web3(Web3.HTTPProvider(url))
    head = w3.eth.block_number
    time.sleep(1.5)  # seven blocks' worth at the demo's interval
    assert w3.eth.block_number == head
    sender = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "to": sender, "value": Wei(1)}), timeout=60)
    assert w3.eth.block_number == head + 1  # a block for the transaction, at once


def test_the_same_seed_gives_the_same_run(demo_run: tuple[Settings, DemoResult], tmp_path: Path) -> None:
    _, first = demo_run
    settings = _settings(tmp_path)
    try:
        second = run_demo(settings, DemoConfig.small(seed=7))
    finally:
        embedded.stop(settings)
    keys = ("institutions", "loans_attempted", "loans_recorded", "by_currency", "refusals", "drawdowns",
            "repayments", "confirmations", "closed", "top_utilisation", "indexed_events")
    assert {k: getattr(second, k) for k in keys} == {k: getattr(first, k) for k in keys}
