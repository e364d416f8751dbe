"""`loan import`: row validation (unit), then a CSV of good rows and every kind of bad row against
real anvil and Ganache: only the good rows land, the chain state matches, a re-run is idempotent."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import xborder
from eth_account.signers.local import LocalAccount
from loan_setup import BANK_A, BORROWER_X, BORROWER_Y, SUSPENDED_E, World, build_world, dev_account

from xborder.chain import LocalNode
from xborder.domain.dates import DAY, format_date, parse_date
from xborder.domain.loans import LoanRequest, document_hash
from xborder.errors import ValidationError, WalletError
from xborder.services import terms as T
from xborder.services.loan_batch import ALREADY, INVALID, READY, RECORDED, REFUSED, LoanBatch, LoanItem
from xborder.services.loan_import import merged_report, prepare_import, read_loan_csv

HEADER = ("borrower,creditor,currency,principal,value_date,maturity_date,financing_type,document,draw,"
          "recorder_wallet,borrower_wallet,interest_rate,purpose\n")
X_ID = "91030000MA00000003"  # BORROWER-X's identifier
# {v}: today (chain time), {s}: a short-term maturity (200 days), {l}: a long-term one (730 days);
# dev-N is account N of the development mnemonic: dev-1 BANK-A, dev-2 BANK-B, dev-3 BORROWER-X,
# dev-4 BORROWER-Y, dev-5 HK-CREDITOR, dev-9 a second wallet of BORROWER-X.
GOOD = [
    # row 2: co-signed by a second wallet of X, submitted by the creditor, drawn at once:
    # 1,000,000 x 7.1 x (1.0 long-term + 0.5 FX) = 10,650,000.00 CNY
    f"{X_ID},5,USD,\"1,000,000.00\",{{v}},{{l}},ORDINARY_LOAN,G-1,\"1,000,000.00\",dev-5,dev-9,4.1,capex",
    # row 3: recorded by the creditor bank (creditor by identifier), awaiting the borrower's confirmation
    "3,91010000MA0000000T,CNY,5000000,{v},{s},1,G-2,,dev-1,,3.5,working capital",
    # row 4: weight-0 type: no contribution
    "4,2,EUR,2000000,{v},{s},TRADE_CREDIT_FINANCE,G-3,2000000,dev-2,dev-4,,trade",
    # row 5: X's second co-signed loan (its own consent nonce): 500,000 x 7.1 x 1.5 = 5,325,000.00 CNY
    "3,5,USD,1000000,{v},{l},1,G-4,500000,dev-5,dev-3,4.2,",
]
BAD = [
    ("3,1,USD,\"12,3x\",{v},{s},1,B-1,,dev-1,,,", INVALID, "principal: '12,3x' is not a number"),
    ("3,1,USD,0,{v},{s},1,B-2,,dev-1,,,", INVALID, "principal: '0' must be greater than zero"),
    ("3,1,USD,-5,{v},{s},1,B-3,,dev-1,,,", INVALID, "principal: '-5' must be greater than zero"),
    ("3,1,USD,100,{s},{v},1,B-4,,dev-1,,,", INVALID, "is not after value_date"),
    ("3,1,US,100,{v},{s},1,B-5,,dev-1,,,", INVALID, "currency: 'US' is not an ISO 4217 code"),
    ("3,1,GBP,100,{v},{s},1,B-6,,dev-1,,,", REFUSED, "no reference rate is published for currency 'GBP'"),
    ("999,1,USD,100,{v},{s},1,B-7,,dev-1,,,", INVALID, "borrower: no institution with id 999"),
    ("3,1,USD,100,{v},{s},1,B-8,,dev-4,,,", REFUSED,
     "of BORROWER-Y (#4) is not allowed to do this: record a loan from a wallet of its borrower, its creditor or an "
     "agent the creditor appointed"),
    ("3,5,USD,100,{v},{s},1,B-9,100,dev-5,dev-4,,", REFUSED, "which is not a wallet of BORROWER-X (#3)"),
    ("3,1,USD,100,{v},{s},1,G-1,,dev-1,,,", REFUSED, "also backs row 2 of this batch"),
    ("3,1,USD,100,{v},{s},1,ONCHAIN-DOC,,dev-1,,,", REFUSED, "one document can back only one live loan"),
    # Y: limit 70,000,000.00; Y-1 takes 45,000,000.00 (lands), Y-2 would add 30,000,000.00
    ("4,2,CNY,30000000,{v},{s},1,Y-1,30000000,dev-2,dev-4,,", RECORDED, ""),
    ("4,2,CNY,20000000,{v},{s},1,Y-2,20000000,dev-2,dev-4,,", REFUSED,
     "BORROWER-Y (#4) would reach CNY 75,000,000.00 of risk-weighted balance, above its limit of "
     "CNY 70,000,000.00 (counting the earlier rows of this batch)"),
    ("6,1,USD,100,{v},{s},1,B-10,,dev-1,,,", REFUSED, "SUSPENDED-E (#6) is suspended"),
    ("3,1,USD,100,{v},{s},99,B-11,,dev-1,,,", REFUSED, "financing type 99 is not in the regulator's"),
    ("3,1,USD,100,{v},{s},NOPE,B-12,,dev-1,,,", INVALID, "financing_type: 'NOPE' is not a financing type"),
    ("3,1,USD,100,{v},{s},1,B-13,200,dev-1,dev-3,,", INVALID, "draw: 200 is more than the principal 100"),
    ("3,1,USD,100,31/12/2025,{s},1,B-14,,dev-1,,,", INVALID, "value_date: '31/12/2025' is not a date"),
    ("3,1,USD,100,{v},{s},1,B-15,,nobody,,,", INVALID, "recorder_wallet: no such wallet 'nobody'"),
    ("3,1,USD,100,{v},{s},1,B-16,,dev-1,,150,", INVALID, "interest_rate: '150' is above 100 %"),
    # v2 rules: dates against block time and the policy's windows; the lender side is never the borrower
    ("3,1,USD,100,{old},{s},1,B-17,,dev-1,,,", INVALID, "value_date: {old} is outside"),
    ("3,1,USD,100,{v},{far},1,B-18,,dev-1,,,", INVALID, "maturity_date: {far} is outside"),
    ("3,3,USD,100,{v},{s},1,B-19,,dev-1,,,", INVALID, "creditor: 3 is the borrower itself"),
    # a borrower cannot submit its own consent: the consent names the lender side that submits
    ("3,1,USD,100,{v},{s},1,B-20,100,dev-3,dev-9,,", REFUSED, "of BORROWER-X (#3) is not allowed to do this"),
]
Y1 = 2 + len(GOOD) + next(k for k, (row, _, _) in enumerate(BAD) if ",Y-1," in row)


def dates(world: World) -> dict[str, str]:
    today = world.client.now() // DAY * DAY
    return {"v": format_date(today), "s": format_date(today + 200 * DAY), "l": format_date(today + 730 * DAY),
            "old": format_date(today - 60 * DAY), "far": format_date(today + 11_000 * DAY)}


def resolver(name: str) -> LocalAccount:
    if name.startswith("dev-"):
        return dev_account(int(name[4:]))
    raise WalletError(f"no such wallet {name!r}")


def write_csv(path: Path, world: World) -> Path:
    d = dates(world)
    path.write_text(HEADER + "\n".join(row.format(**d) for row in GOOD + [row for row, _, _ in BAD]) + "\n",
                    encoding="utf-8")
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
    """A live loan (both consents) holding the document ONCHAIN-DOC."""
    sealed = T.seal(T.LoanTerms(purpose="an earlier loan"))
    today = world.client.now() // DAY * DAY
    world.service.record_co_signed(world.wallets[BANK_A], world.wallets[BORROWER_X], LoanRequest(
        BORROWER_X, BANK_A, "USD", 100, today, today + 100 * DAY, 1, document_hash("ONCHAIN-DOC"), sealed.terms_hash),
        sealed)


def test_import_lands_only_good_rows_and_is_idempotent(world: World, tmp_path: Path) -> None:
    prerecord_onchain_doc(world)
    path = write_csv(tmp_path / "loans.csv", world)
    plan = prepare_import(world.client, path, resolver)
    batch = LoanBatch(world.client, plan.items)
    dry = merged_report(plan, batch.preflight())
    by_row = {o.row: o for o in dry.outcomes}
    assert [r for r in range(2, 6) if by_row[r].status == READY] == [2, 3, 4, 5]
    d = dates(world)
    for offset, (_, status, message) in enumerate(BAD):
        o = by_row[6 + offset]
        assert o.status == (READY if status == RECORDED else status), (6 + offset, o)
        assert message.format(**d) in o.reason, (6 + offset, o.reason)
    block = world.w3.eth.block_number
    assert world.service.position(BORROWER_X)[1] == 1  # dry run sent nothing
    assert world.w3.eth.block_number == block

    report = merged_report(plan, batch.submit())
    landed = sorted(o.row or 0 for o in report.with_status(RECORDED))
    assert landed == [2, 3, 4, 5, Y1]
    assert all(o.tx_hash and o.gas_used and o.loan_id for o in report.with_status(RECORDED))
    x, y = world.service.exposure(BORROWER_X), world.service.exposure(BORROWER_Y)
    assert (x.loan_count, x.balance) == (4, 15_975_000_00)
    assert (y.loan_count, y.balance) == (2, 45_000_000_00)
    assert world.service.position(SUSPENDED_E)[1] == 0
    row2 = world.service.show(next(o.loan_id or 0 for o in report.outcomes if o.row == 2))
    assert (row2.status, row2.drawn, row2.terms) == ("Active", 1_000_000_00, {"interest_rate": "4.1",
                                                                              "purpose": "capex"})
    row3 = world.service.show(next(o.loan_id or 0 for o in report.outcomes if o.row == 3))
    assert (row3.status, row3.creditor_consented, row3.borrower_consented) == ("Recorded", True, False)

    # run it again: the landed rows are recognised (the Recorded one too), nothing new is recorded
    again = LoanBatch(world.client, prepare_import(world.client, path, resolver).items)
    second = again.preflight()
    assert sorted(o.row or 0 for o in second.with_status(ALREADY)) == [2, 3, 4, 5, Y1]
    assert not second.with_status(READY)
    again.submit()
    assert world.service.exposure(BORROWER_X).loan_count == 4


def test_cli_import_dry_run_then_send(anvil: LocalNode, tmp_path: Path) -> None:
    world = build_world(anvil.rpc_url, tmp_path / "deployments")
    prerecord_onchain_doc(world)
    path = write_csv(tmp_path / "loans.csv", world)
    env = {"XBORDER_RPC_URL": anvil.rpc_url, "XBORDER_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
           "XBORDER_DATA_DIR": str(tmp_path / ".xborder"), "XBORDER_KEYSTORE_DIR": str(tmp_path / "keys")}
    dry = xborder("loan", "import", str(path), "--dry-run", "--json", "--allow-plaintext", env=env)
    assert dry.code == 2, dry.err
    data = json.loads(dry.out)
    invalid = sum(1 for _, status, _ in BAD if status == INVALID)
    refused = sum(1 for _, status, _ in BAD if status == REFUSED)
    assert data["counts"] == {"ready": 5, "invalid": invalid, "refused": refused}
    total = len(GOOD) + len(BAD)
    assert (f"xborder: error: {total - 5} of {total} rows were not recorded ({invalid} invalid, {refused} "
            "refused): see the report") in dry.err
    assert world.service.exposure(BORROWER_X).loan_count == 1

    sent = xborder("loan", "import", str(path), "--yes", "--json", "--allow-plaintext", env=env)
    assert sent.code == 2, sent.err
    rows = {r["row"]: r for r in json.loads(sent.out)["rows"]}
    assert sorted(r for r, v in rows.items() if v["status"] == RECORDED) == [2, 3, 4, 5, Y1]
    assert rows[Y1 + 1]["error"] == "BorrowingLimitExceeded"
    nobody = 2 + len(GOOD) + next(k for k, (row, _, _) in enumerate(BAD) if ",nobody," in row)
    assert (rows[nobody]["status"], rows[nobody]["field"], rows[nobody]["value"]) == (INVALID, "recorder_wallet",
                                                                                      "nobody")
    assert rows[11]["status"] == REFUSED and rows[11]["error"] == "UnknownCurrency"
    old = 2 + len(GOOD) + next(k for k, (row, _, _) in enumerate(BAD) if "{old}" in row)
    assert (rows[old]["field"], rows[old]["value"]) == ("value_date", dates(world)["old"])
    assert world.service.exposure(BORROWER_X).loan_count == 4

    show = xborder("loan", "show", f"{BORROWER_X}:2", "--json", env=env)
    assert show.code == 0 and json.loads(show.out)["terms"] == {"interest_rate": "4.1", "purpose": "capex"}


def shifted_to_today(example: Path, tmp_path: Path, now: int) -> Path:
    """The example CSV with every date moved by the same number of days so that its earliest value
    date is 20 days before the chain's today: inside the v2 value-date window (30 days back, 366
    ahead), the terms unchanged."""
    rows = list(csv.DictReader(example.read_text(encoding="utf-8").splitlines()))
    earliest = min(parse_date(r["value_date"]) for r in rows)
    shift = (now // DAY * DAY - 20 * DAY) - earliest
    for r in rows:
        for column in ("value_date", "maturity_date"):
            r[column] = format_date(parse_date(r[column]) + shift)
    out = tmp_path / example.name
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


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
    csv_path = str(shifted_to_today(PROJECT_ROOT / "examples" / "loans.csv", tmp_path, chain.client.now()))
    first = chain.run("loan", "import", csv_path, "--yes", "--json", "--allow-plaintext")
    assert first.code == 0, first.err
    assert first.json()["counts"] == {"recorded": 7}
    again = chain.run("loan", "import", csv_path, "--yes", "--json", "--allow-plaintext")
    assert again.code == 0 and again.json()["counts"] == {"already recorded": 7}

    keystore = Keystore(tmp_path / "keystores", scrypt_n=LIGHT_SCRYPT)
    keystore.import_key("boz", bytes(dev_account(11).key), PASSWORD)        # Bank of Zhonghua (#2)
    keystore.import_key("pengcheng", bytes(dev_account(17).key), PASSWORD)  # Shenzhen Pengcheng (#8)
    today = chain.client.now() // DAY * DAY
    recorded = chain.run("loan", "record", "--borrower", "91440300MA5F7KQ038", "--creditor", "2", "--currency", "USD",
                         "--principal", "2,000,000.00", "--value-date", format_date(today),
                         "--maturity-date", format_date(today + 365 * DAY),
                         "--document", "PENGCHENG-BOZ-CLI-1", "--draw", "500,000.00", "--interest-rate", "4.8",
                         "--borrower-wallet", "pengcheng", "--wallet", "boz", "--json", "--allow-plaintext")
    assert recorded.code == 0, recorded.err
    loan = recorded.json()
    assert loan["status"] == "Active" and loan["loan"].endswith("(8:3)")
    refused = chain.run("loan", "repay", "8:3", "500,000.00", "--wallet", "pengcheng")  # the borrower cannot
    assert refused.code == 7 and "of Shenzhen Pengcheng" in refused.err and "is not allowed to do this" in refused.err
    assert chain.run("loan", "repay", "8:3", "500,000.00", "--wallet", "boz").code == 0
    shown = chain.run("loan", "show", "8:3", "--json").json()
    assert (shown["drawn"], shown["outstanding"], shown["terms"]) == (500_000_00, 0, {"interest_rate": "4.8"})
    assert chain.run("loan", "close", "8:3", "--wallet", "boz").code == 0
    exposure = chain.run("loan", "exposure", "8", "--json").json()
    assert exposure["loan_count"] == 3
