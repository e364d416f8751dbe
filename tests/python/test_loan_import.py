"""`loan import`: row validation (unit), then a CSV of good rows and every kind of bad row against
real anvil and Ganache: only the good rows land, the chain state matches, a re-run is idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import xborder
from eth_account.signers.local import LocalAccount
from loan_setup import BANK_A, BORROWER_X, BORROWER_Y, SUSPENDED_E, World, build_world, dev_account

from xborder.chain import LocalNode
from xborder.domain.dates import parse_date
from xborder.domain.loans import LoanRequest, document_hash
from xborder.errors import ValidationError, WalletError
from xborder.services import terms as T
from xborder.services.loan_batch import ALREADY, INVALID, READY, RECORDED, REFUSED, LoanBatch, LoanItem
from xborder.services.loan_import import merged_report, prepare_import, read_loan_csv

HEADER = ("borrower,creditor,currency,principal,value_date,maturity_date,financing_type,document,draw,"
          "recorder_wallet,borrower_wallet,interest_rate,purpose\n")
X_ID = "91030000MA00000003"  # BORROWER-X's identifier
GOOD = [
    # row 2: co-signed by a second wallet of X, drawn at once: 1,000,000 x 7.1 x 1.5 = 10,650,000.00 CNY
    f"{X_ID},5,USD,\"1,000,000.00\",2025-01-01,2027-01-01,ORDINARY_LOAN,G-1,\"1,000,000.00\",dev-5,dev-9,4.1,capex",
    # row 3: recorded by the bank, awaiting confirmation (creditor by identifier)
    "3,91010000MA0000000T,CNY,5000000,2025-01-01,2026-01-01,1,G-2,,dev-1,,3.5,working capital",
    # row 4: weight-0 type: no contribution
    "4,2,EUR,2000000,2025-01-01,2025-06-30,TRADE_CREDIT_FINANCE,G-3,2000000,dev-2,dev-4,,trade",
    # row 5: X's second co-signed loan (consent nonce 1): 500,000 x 7.1 x 1.5 = 5,325,000.00 CNY
    "3,5,USD,1000000,2025-01-01,2027-01-01,1,G-4,500000,dev-5,dev-3,4.2,",
]
BAD = [
    ("3,1,USD,\"12,3x\",2025-01-01,2026-01-01,1,B-1,,dev-1,,,", INVALID, "principal: '12,3x' is not a number"),
    ("3,1,USD,0,2025-01-01,2026-01-01,1,B-2,,dev-1,,,", INVALID, "principal: '0' must be greater than zero"),
    ("3,1,USD,-5,2025-01-01,2026-01-01,1,B-3,,dev-1,,,", INVALID, "principal: '-5' must be greater than zero"),
    ("3,1,USD,100,2025-06-01,2025-05-01,1,B-4,,dev-1,,,", INVALID,
     "maturity_date: 2025-05-01 is not after value_date 2025-06-01"),
    ("3,1,US,100,2025-01-01,2026-01-01,1,B-5,,dev-1,,,", INVALID, "currency: 'US' is not an ISO 4217 code"),
    ("3,1,GBP,100,2025-01-01,2026-01-01,1,B-6,,dev-1,,,", REFUSED,
     "no reference rate is published for currency 'GBP'"),
    ("999,1,USD,100,2025-01-01,2026-01-01,1,B-7,,dev-1,,,", INVALID, "borrower: no institution with id 999"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,B-8,,dev-4,,,", REFUSED,
     "of BORROWER-Y (#4) is not allowed to do this: record loans only from a wallet of the creditor or of a bank"),
    ("3,5,USD,100,2025-01-01,2026-01-01,1,B-9,100,dev-5,dev-4,,", REFUSED,
     "which is not a wallet of BORROWER-X (#3)"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,G-1,,dev-1,,,", REFUSED, "also backs row 2 of this batch"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,ONCHAIN-DOC,,dev-1,,,", REFUSED, "one document can back only one live loan"),
    # Y: limit 70,000,000.00; row 17 takes 45,000,000.00 (lands), row 18 would add 30,000,000.00
    ("4,2,CNY,30000000,2025-01-01,2025-12-01,1,Y-1,30000000,dev-2,dev-4,,", RECORDED, ""),
    ("4,2,CNY,20000000,2025-01-01,2025-12-01,1,Y-2,20000000,dev-2,dev-4,,", REFUSED,
     "BORROWER-Y (#4) would reach CNY 75,000,000.00 of risk-weighted balance, above its limit of "
     "CNY 70,000,000.00 (counting the earlier rows of this batch)"),
    ("6,1,USD,100,2025-01-01,2026-01-01,1,B-10,,dev-1,,,", REFUSED, "SUSPENDED-E (#6) is suspended"),
    ("3,1,USD,100,2025-01-01,2026-01-01,99,B-11,,dev-1,,,", REFUSED, "financing type 99 is not in the regulator's"),
    ("3,1,USD,100,2025-01-01,2026-01-01,NOPE,B-12,,dev-1,,,", INVALID, "financing_type: 'NOPE' is not a financing type"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,B-13,200,dev-1,dev-3,,", INVALID, "draw: 200 is more than the principal 100"),
    ("3,1,USD,100,31/12/2025,2026-01-01,1,B-14,,dev-1,,,", INVALID, "value_date: '31/12/2025' is not a date"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,B-15,,nobody,,,", INVALID, "recorder_wallet: no such wallet 'nobody'"),
    ("3,1,USD,100,2025-01-01,2026-01-01,1,B-16,,dev-1,,150,", INVALID, "interest_rate: '150' is above 100 %"),
]


def resolver(name: str) -> LocalAccount:
    if name.startswith("dev-"):
        return dev_account(int(name[4:]))
    raise WalletError(f"no such wallet {name!r}")


def write_csv(path: Path) -> Path:
    path.write_text(HEADER + "\n".join(GOOD + [row for row, _, _ in BAD]) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ unit: the file


def test_missing_columns_bad_encoding_and_unknown_columns(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="missing column\\(s\\) currency, recorder_wallet"):
        read_loan_csv(b"borrower,creditor,principal,value_date,maturity_date,financing_type,document\n1,2,3,4,5,6,7\n")
    with pytest.raises(ValidationError, match="not UTF-8 text \\(byte 0xe9 at offset .*row 2\\)"):
        read_loan_csv((HEADER + "3,1,USD,100,2025-01-01,2026-01-01,1,caf\u00e9,,dev-1,,,\n").encode("latin-1"))
    with pytest.raises(ValidationError, match="unknown column\\(s\\) intrest_rate"):
        read_loan_csv((HEADER.replace("interest_rate", "intrest_rate") + "x\n").encode())
    with pytest.raises(ValidationError, match="the file is empty"):
        read_loan_csv(b"")
    with pytest.raises(ValidationError, match="no data rows"):
        read_loan_csv(HEADER.encode())
    rows = read_loan_csv(("\ufeff" + HEADER + "3,1,USD,100,2025-01-01,2026-01-01,1,D,,dev-1,,,\n\n").encode())
    assert rows[0][0] == 2 and rows[0][1]["currency"] == "USD"


def test_item_build_is_deterministic() -> None:
    recorder = dev_account(1)
    kwargs: dict[str, Any] = dict(borrower=3, creditor=1, currency="USD", principal=100, value_date=1,
                                  maturity_date=2, financing_type=1, document=document_hash("D"),
                                  terms=T.LoanTerms(interest_rate="4"), recorder=recorder)
    a, b = LoanItem.build(**kwargs), LoanItem.build(**kwargs)
    assert a.request.terms_hash == b.request.terms_hash and T.verify(a.terms, a.request.terms_hash)


# ------------------------------------------------------------------------------ integration


@pytest.fixture(params=["anvil", "ganache"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    node: LocalNode = request.getfixturevalue(request.param)
    yield build_world(node.rpc_url, tmp_path / "deployments")


def prerecord_onchain_doc(world: World) -> None:
    sealed = T.seal(T.LoanTerms(purpose="an earlier loan"))
    world.service.record(world.wallets[BANK_A], LoanRequest(
        BORROWER_X, BANK_A, "USD", 100, parse_date("2025-01-01"), parse_date("2026-01-01"), 1,
        document_hash("ONCHAIN-DOC"), sealed.terms_hash), sealed)


def test_import_lands_only_good_rows_and_is_idempotent(world: World, tmp_path: Path) -> None:
    prerecord_onchain_doc(world)
    path = write_csv(tmp_path / "loans.csv")
    plan = prepare_import(world.client, path, resolver)
    batch = LoanBatch(world.client, plan.items)
    dry = merged_report(plan, batch.preflight())
    by_row = {o.row: o for o in dry.outcomes}
    assert [r for r in range(2, 6) if by_row[r].status == READY] == [2, 3, 4, 5]
    for offset, (_, status, message) in enumerate(BAD):
        o = by_row[6 + offset]
        assert o.status == (READY if status == RECORDED else status), (6 + offset, o)
        assert message in o.reason, (6 + offset, o.reason)
    block = world.w3.eth.block_number
    assert world.service.position(BORROWER_X)[1] == 1  # dry run sent nothing
    assert world.w3.eth.block_number == block

    report = merged_report(plan, batch.submit())
    landed = sorted(o.row or 0 for o in report.with_status(RECORDED))
    assert landed == [2, 3, 4, 5, 17]
    assert all(o.tx_hash and o.gas_used and o.loan_id for o in report.with_status(RECORDED))
    x, y = world.service.exposure(BORROWER_X), world.service.exposure(BORROWER_Y)
    assert (x.loan_count, x.balance, x.nonce) == (4, 15_975_000_00, 2)
    assert (y.loan_count, y.balance) == (2, 45_000_000_00)
    assert world.service.position(SUSPENDED_E)[1] == 0
    row2 = world.service.show(next(o.loan_id or 0 for o in report.outcomes if o.row == 2))
    assert (row2.status, row2.drawn, row2.terms) == ("Active", 1_000_000_00, {"interest_rate": "4.1",
                                                                              "purpose": "capex"})
    assert world.service.show(next(o.loan_id or 0 for o in report.outcomes if o.row == 3)).status == "Recorded"

    # run it again: the landed rows are recognised, nothing new is recorded
    again = LoanBatch(world.client, prepare_import(world.client, path, resolver).items)
    second = again.preflight()
    assert sorted(o.row or 0 for o in second.with_status(ALREADY)) == [2, 3, 4, 5, 17]
    assert not second.with_status(READY)
    again.submit()
    assert world.service.exposure(BORROWER_X).loan_count == 4


def test_cli_import_dry_run_then_send(anvil: LocalNode, tmp_path: Path) -> None:
    world = build_world(anvil.rpc_url, tmp_path / "deployments")
    prerecord_onchain_doc(world)
    path = write_csv(tmp_path / "loans.csv")
    env = {"XBORDER_RPC_URL": anvil.rpc_url, "XBORDER_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
           "XBORDER_DATA_DIR": str(tmp_path / ".xborder"), "XBORDER_KEYSTORE_DIR": str(tmp_path / "keys")}
    dry = xborder("loan", "import", str(path), "--dry-run", "--json", "--allow-plaintext", env=env)
    assert dry.code == 2, dry.err
    data = json.loads(dry.out)
    assert data["counts"] == {"ready": 5, "invalid": 11, "refused": 8}
    assert "xborder: error: 19 of 24 rows were not recorded (11 invalid, 8 refused): see the report" in dry.err
    assert world.service.exposure(BORROWER_X).loan_count == 1

    sent = xborder("loan", "import", str(path), "--yes", "--json", "--allow-plaintext", env=env)
    assert sent.code == 2, sent.err
    rows = {r["row"]: r for r in json.loads(sent.out)["rows"]}
    assert sorted(r for r, v in rows.items() if v["status"] == RECORDED) == [2, 3, 4, 5, 17]
    assert rows[18]["error"] == "BorrowingLimitExceeded"
    assert (rows[24]["status"], rows[24]["field"], rows[24]["value"]) == (INVALID, "recorder_wallet", "nobody")
    assert rows[11]["status"] == REFUSED and rows[11]["error"] == "UnknownCurrency"
    assert world.service.exposure(BORROWER_X).loan_count == 4

    show = xborder("loan", "show", f"{BORROWER_X}:2", "--json", env=env)
    assert show.code == 0 and json.loads(show.out)["terms"] == {"interest_rate": "4.1", "purpose": "capex"}


def test_example_csv_matches_the_example_roster(anvil: LocalNode, tmp_path: Path) -> None:
    """examples/loans.csv against examples/roster.csv (ids 1.. in roster order, admin wallets dev-10..21),
    through the CLI; then the CLI --wallet / --borrower-wallet path with keystore wallets."""
    from cli_helpers import LIGHT_SCRYPT, PASSWORD, deployed_chain

    from xborder.config import PROJECT_ROOT
    from xborder.wallets.keystore import Keystore

    chain = deployed_chain(anvil.rpc_url, tmp_path)
    assert chain.run("institution", "import", str(PROJECT_ROOT / "examples" / "roster.csv"), "--fund",
                     "--wallet", "regulator").code == 0
    assert chain.run("policy", "fx", "set", "USD", "7.1", "EUR", "7.8", "--wallet", "regulator").code == 0
    csv_path = str(PROJECT_ROOT / "examples" / "loans.csv")
    first = chain.run("loan", "import", csv_path, "--yes", "--json", "--allow-plaintext")
    assert first.code == 0, first.err
    assert first.json()["counts"] == {"recorded": 7}
    again = chain.run("loan", "import", csv_path, "--yes", "--json", "--allow-plaintext")
    assert again.code == 0 and again.json()["counts"] == {"already recorded": 7}

    keystore = Keystore(tmp_path / "keystores", scrypt_n=LIGHT_SCRYPT)
    keystore.import_key("boz", bytes(dev_account(11).key), PASSWORD)        # Bank of Zhonghua (#2)
    keystore.import_key("pengcheng", bytes(dev_account(17).key), PASSWORD)  # Shenzhen Pengcheng (#8)
    recorded = chain.run("loan", "record", "--borrower", "91440300MA5F7KQ038", "--creditor", "2", "--currency", "USD",
                         "--principal", "2,000,000.00", "--value-date", "2025-07-01", "--maturity-date", "2026-07-01",
                         "--document", "PENGCHENG-BOZ-CLI-1", "--draw", "500,000.00", "--interest-rate", "4.8",
                         "--borrower-wallet", "pengcheng", "--wallet", "boz", "--json", "--allow-plaintext")
    assert recorded.code == 0, recorded.err
    loan = recorded.json()
    assert loan["status"] == "Active" and loan["loan"].endswith("(8:3)")
    assert chain.run("loan", "repay", "8:3", "500,000.00", "--wallet", "pengcheng").code == 0
    shown = chain.run("loan", "show", "8:3", "--json").json()
    assert (shown["drawn"], shown["outstanding"], shown["terms"]) == (500_000_00, 0, {"interest_rate": "4.8"})
    assert chain.run("loan", "close", "8:3", "--wallet", "boz").code == 0
    exposure = chain.run("loan", "exposure", "8", "--json").json()
    assert exposure["loan_count"] == 3
