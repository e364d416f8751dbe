"""Every loan row of docs/bad-inputs.md: the `xborder loan …` command fails with the documented
message and exit code, AND leaves the chain as it was (no block mined, same loan count, same
borrower balance), against a real anvil."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_helpers import LIGHT_SCRYPT, PASSWORD, xborder
from loan_setup import BANK_A, BORROWER_X, World, build_world, dev_account

from xborder.chain import start_anvil
from xborder.config import PROJECT_ROOT
from xborder.domain.dates import parse_date
from xborder.domain.loans import LoanRequest, document_hash
from xborder.services import terms as T
from xborder.wallets.keystore import Keystore

DOC = PROJECT_ROOT / "docs" / "bad-inputs.md"
LOAN = f"{BORROWER_X}:1"
HEADER = ("borrower,creditor,currency,principal,value_date,maturity_date,financing_type,document,draw,"
          "recorder_wallet,borrower_wallet\n")


def record(**over: str) -> list[str]:
    fields = {"borrower": "3", "creditor": "1", "currency": "USD", "principal": "1,000,000.00",
              "value-date": "2025-01-01", "maturity-date": "2025-12-31", "document": "NEW-DOC"} | over
    args = ["loan", "record"]
    for key, value in fields.items():
        args += [f"--{key}", value]
    return [*args, "--wallet", "bank-a", "--allow-plaintext"]  # no encryption keys in this world


@dataclass(frozen=True)
class Case:
    input: str  # the "input tried" cell of docs/bad-inputs.md
    args: list[str]
    message: str  # the one-line error on stderr, after "xborder: error: " (exact, {…} filled in)
    exit_code: int
    setup: Callable[[World], None] | None = None
    teardown: Callable[[World], None] | None = None
    files: dict[str, bytes] = field(default_factory=dict)


def pause(world: World) -> None:
    world.client.transact(world.regulator, world.client.ledger.functions.pause(), "pause")


def unpause(world: World) -> None:
    world.client.transact(world.regulator, world.client.ledger.functions.unpause(), "unpause")


OUTSIDER = dev_account(8).address  # decoded errors show checksummed addresses
CASES = [
    Case("negative principal", record(principal="-5"),
         "--principal: '-5' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("zero principal", record(principal="0"),
         "--principal: '0' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("zero drawdown", ["loan", "draw", LOAN, "0", "--wallet", "borrower-x"],
         "amount: '0' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("maturity before value date", record(**{"value-date": "2025-06-01", "maturity-date": "2025-05-01"}),
         "maturity_date: 2025-05-01 is not after value_date 2025-06-01", 2),
    Case("malformed date", record(**{"value-date": "31/12/2025"}),
         "--value-date: '31/12/2025' is not a date (a UTC date YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ) from 2000-01-01 "
         "to 2106-02-07)", 2),
    Case("date before the floor (1970-06-01)", record(**{"value-date": "1970-06-01"}),
         "--value-date: '1970-06-01' is out of range (a UTC date YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ) from "
         "2000-01-01 to 2106-02-07)", 2),
    Case("date at the unix epoch (1970-01-01)", record(**{"value-date": "1970-01-01"}),
         "--value-date: '1970-01-01' is out of range (a UTC date YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ) from "
         "2000-01-01 to 2106-02-07)", 2),
    Case("JPY amount with decimals", record(currency="JPY", principal="1000.5"),
         "--principal: '1000.5' has decimals, but JPY has no minor unit (a positive whole amount of JPY)", 2),
    Case("JPY amount with decimals, lower-case currency given after the amount",
         ["loan", "record", "--principal", "1000.5", "--borrower", "3", "--creditor", "1", "--currency", "jpy",
          "--value-date", "2025-01-01", "--maturity-date", "2025-12-31", "--document", "NEW-DOC", "--wallet", "bank-a",
          "--allow-plaintext"],
         "--principal: '1000.5' has decimals, but JPY has no minor unit (a positive whole amount of JPY)", 2),
    Case("amount written with an exponent", record(principal="1e3"),
         "--principal: '1e3' is written with an exponent; write the digits out (a positive amount with at most 2 "
         "decimals)", 2),
    Case("malformed currency code", record(currency="US"),
         "--currency: 'US' is not an ISO 4217 code (three letters, e.g. USD)", 2),
    Case("currency without a reference rate", record(currency="GBP"),
         "record loan refused: no reference rate is published for currency 'GBP': the regulator sets one with "
         "`xborder policy fx set`", 7),
    Case("unknown institution", record(borrower="999"),
         "--borrower: no institution with id 999 is registered", 2),
    Case("unknown loan id", ["loan", "show", f"{BORROWER_X}:99"],
         f"loan id: no loan {BORROWER_X << 32 | 99} ({BORROWER_X}:99) on this ledger", 2),
    Case("document already backs a live loan", record(document="DOC-1"),
         "record loan refused: document 0x{doc1}… already backs live loan {loan1}: one document can back only one "
         "live loan", 7),
    Case("drawdown above the borrowing limit", ["loan", "draw", LOAN, "234,600,000.00", "--wallet", "borrower-x"],
         "drawdown on loan {loan1} refused: BORROWER-X (#3) would reach CNY 351,900,000.00 of risk-weighted balance, "
         "above its limit of CNY 350,000,000.00", 7),
    Case("repayment above the outstanding", ["loan", "repay", LOAN, "1.00", "--wallet", "borrower-x"],
         "repayment of loan {loan1} refused: loan {loan1}: repayment of 1.00 exceeds the outstanding 0.00", 7),
    Case("wallet of no party (not registered)", ["loan", "cancel", LOAN, "--wallet", "outsider"],
         f"cancelling loan {{loan1}} refused: wallet {OUTSIDER} (no institution) is not allowed to do this", 7),
    Case("lender-side action by the borrower", ["loan", "extend", LOAN, "2027-01-01", "--wallet", "borrower-x"],
         "extension of loan {loan1} refused: wallet {borrower_x} of BORROWER-X (#3) is not allowed to do this", 7),
    Case("draw without the borrower's consent", record(draw="100"),
         "--draw: drawing at once needs the borrower's consent: add --borrower-wallet", 2),
    Case("system paused by the regulator", ["loan", "confirm", LOAN, "--wallet", "borrower-x"],
         "confirm loan {loan1} refused: the system is paused by the regulator: no writes are accepted", 7,
         setup=pause, teardown=unpause),
    Case("loan CSV with missing columns", ["loan", "import", "{dir}/missing.csv", "--yes", "--allow-plaintext"],
         "{dir}/missing.csv: missing column(s) currency, recorder_wallet (required: borrower, creditor, currency, "
         "principal, value_date, maturity_date, financing_type, document, recorder_wallet; optional: draw, "
         "borrower_wallet, interest_rate, fees, purpose, external_ref, document_name, document_uri, notes)", 2,
         files={"missing.csv": b"borrower,creditor,principal,value_date,maturity_date,financing_type,document\n"
                               b"3,1,100,2025-01-01,2026-01-01,1,D\n"}),
    Case("loan CSV separated by semicolons", ["loan", "import", "{dir}/semicolons.csv", "--yes", "--allow-plaintext"],
         "{dir}/semicolons.csv: the columns are separated by ';' (a spreadsheet's regional CSV setting): save it "
         "with commas (',') between the columns", 2,
         files={"semicolons.csv": HEADER.replace(",", ";").encode() + b"3;1;USD;100;2025-01-01;2026-01-01;1;S1;;dev-1;\n"}),
    Case("loan CSV row with a JPY amount with decimals", ["loan", "import", "{dir}/jpy.csv", "--yes", "--allow-plaintext"],
         "1 of 1 rows were not recorded (1 invalid, 0 refused): see the report", 2,
         files={"jpy.csv": (HEADER + "3,1,JPY,1000.5,2025-01-01,2026-01-01,1,J1,,dev-1,\n").encode()}),
    Case("loan CSV with bad encoding (Latin-1 byte)", ["loan", "import", "{dir}/latin1.csv", "--yes", "--allow-plaintext"],
         "{dir}/latin1.csv: not UTF-8 text (byte 0xe9 at offset 162, row 2): save the file as CSV UTF-8", 2,
         files={"latin1.csv": (HEADER + "3,1,USD,100,2025-01-01,2026-01-01,1,caf\u00e9,,dev-1,\n").encode("latin-1")}),
    Case("loan CSV whose rows are all bad (nothing sent)", ["loan", "import", "{dir}/bad.csv", "--yes", "--allow-plaintext"],
         "2 of 2 rows were not recorded (1 invalid, 1 refused): see the report", 2,
         files={"bad.csv": (HEADER + "3,1,USD,-5,2025-01-01,2026-01-01,1,B1,,dev-1,\n"
                                     "3,1,GBP,5,2025-01-01,2026-01-01,1,B2,,dev-1,\n").encode()}),
    Case("loan CSV row over the limit (dry run refuses it, nothing sent)", ["loan", "import", "{dir}/limit.csv", "--yes", "--allow-plaintext"],
         "1 of 1 rows were refused by the ledger rules: see the report", 7,
         files={"limit.csv": (HEADER + "3,1,CNY,300000000,2025-01-01,2025-12-01,1,L1,300000000,dev-1,dev-3\n")
                .encode()}),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("loans-bad")
    with start_anvil(log_path=root / "anvil.log") as node:
        w = build_world(node.rpc_url, root / "deployments")
        keystore = Keystore(root / "keystores", scrypt_n=LIGHT_SCRYPT)
        for name, index in (("bank-a", 1), ("borrower-x", 3), ("outsider", 8)):
            keystore.import_key(name, bytes(dev_account(index).key), PASSWORD)
        sealed = T.seal(T.LoanTerms(purpose="the limit case"))
        loan = w.service.record(w.wallets[BANK_A], LoanRequest(
            BORROWER_X, BANK_A, "CNY", 300_000_000_00, parse_date("2025-01-01"), parse_date("2025-12-31"), 1,
            document_hash("DOC-1"), sealed.terms_hash), sealed).loan_id
        w.service.confirm(w.wallets[BORROWER_X], loan)
        env = {"XBORDER_RPC_URL": node.rpc_url, "XBORDER_DEPLOYMENTS_DIR": str(root / "deployments"),
               "XBORDER_DATA_DIR": str(root / ".xborder"), "XBORDER_KEYSTORE_DIR": str(root / "keystores"),
               "XBORDER_PASSWORD": PASSWORD}
        yield w, root, env


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _state(w: World) -> tuple[int, int, tuple[int, int, int]]:
    return w.w3.eth.block_number, w.service.exposure(BORROWER_X).balance, w.service.position(BORROWER_X)


@pytest.mark.parametrize("case", CASES, ids=[c.input for c in CASES])
def test_bad_input(world: tuple[World, Path, dict[str, str]], case: Case) -> None:
    w, root, env = world
    values = {"dir": str(root), "doc1": document_hash("DOC-1").hex()[:12], "loan1": str(BORROWER_X << 32 | 1),
              "borrower_x": dev_account(3).address}
    for name, content in case.files.items():
        (root / name).write_bytes(content)
    if case.setup:
        case.setup(w)
    try:
        before = _state(w)
        run = xborder(*[_fill(a, values) for a in case.args], env=env)
        after = _state(w)
    finally:
        if case.teardown:
            case.teardown(w)
    last = run.err.strip().splitlines()[-1]
    assert last == "xborder: error: " + _fill(case.message, values), run.err
    assert run.code == case.exit_code
    assert after == before  # nothing written: no block, same balance, same loan count and nonce


def test_every_case_is_documented() -> None:
    text = DOC.read_text()
    for case in CASES:
        assert f"| {case.input} |" in text, case.input
