"""Every loan row of docs/bad-inputs.md: the `xborder loan …` command fails with the documented
message and exit code, AND leaves the chain as it was (no block mined, same loan count, same
borrower balance and freeze flag), against a real anvil. Dates are relative to the chain's today
(`{v}` today, `{s}` 200 days later, `{later}` 230 days, `{long}` 500 days: past one calendar year)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from cli_helpers import LIGHT_SCRYPT, PASSWORD, xborder
from loan_setup import BANK_A, BORROWER_X, HK_CREDITOR, World, build_world, dev_account

from xborder.chain import start_anvil
from xborder.config import PROJECT_ROOT
from xborder.domain.dates import DAY, format_date
from xborder.domain.loans import LoanRequest, document_hash, loan_label
from xborder.services import consent_file
from xborder.services import terms as T
from xborder.wallets.keystore import Keystore

DOC = PROJECT_ROOT / "docs" / "bad-inputs.md"
LOAN = f"{BORROWER_X}:1"          # Active, CNY 300,000,000.00, nothing drawn, document DOC-1
LOAN_RECORDED = f"{BORROWER_X}:2"  # Recorded by the creditor, awaiting the borrower
LOAN_DRAWN = f"{BORROWER_X}:3"     # Active, USD 100.00 drawn
HEADER = ("borrower,creditor,currency,principal,value_date,maturity_date,financing_type,document,draw,"
          "recorder_wallet,borrower_wallet\n")


def record(**over: str) -> list[str]:
    fields = {"borrower": "3", "creditor": "1", "currency": "USD", "principal": "1,000,000.00",
              "value-date": "{v}", "maturity-date": "{s}", "document": "NEW-DOC"} | over
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
    #: The message ends with a block timestamp: compare up to it.
    prefix: bool = False


def pause(world: World) -> None:
    world.client.transact(world.regulator, world.client.ledger.functions.pause(), "pause")


def unpause(world: World) -> None:
    world.client.transact(world.regulator, world.client.ledger.functions.unpause(), "unpause")


def freeze(world: World) -> None:
    world.service.freeze(world.regulator, BORROWER_X)


def unfreeze(world: World) -> None:
    world.service.unfreeze(world.regulator, BORROWER_X)


OUTSIDER = dev_account(8).address  # decoded errors show checksummed addresses
CASES = [
    Case("negative principal", record(principal="-5"),
         "--principal: '-5' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("zero principal", record(principal="0"),
         "--principal: '0' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("zero drawdown", ["loan", "draw", LOAN, "0", "--wallet", "borrower-x"],
         "amount: '0' must be greater than zero (a positive amount with at most 2 decimals)", 2),
    Case("maturity before value date", record(**{"value-date": "{s}", "maturity-date": "{v}"}),
         "maturity_date: {v} is not after value_date {s}", 2),
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
          "--value-date", "{v}", "--maturity-date", "{s}", "--document", "NEW-DOC", "--wallet", "bank-a",
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
         "record loan refused: document 0x{doc1}… already backs live loan {label1}: one document can back only one "
         "live loan", 7),
    Case("drawdown above the borrowing limit", ["loan", "draw", LOAN, "234,600,000.00", "--wallet", "borrower-x"],
         "drawdown on loan {loan1} refused: BORROWER-X (#3) would reach CNY 351,901,420.00 of risk-weighted balance, "
         "above its limit of CNY 350,000,000.00", 7),
    Case("repayment above the outstanding", ["loan", "repay", LOAN, "1.00", "--wallet", "bank-a"],
         "repayment of loan {loan1} refused: loan {label1}: repayment of 1.00 exceeds the outstanding 0.00", 7),
    Case("repayment acknowledged by the borrower", ["loan", "repay", LOAN_DRAWN, "1.00", "--wallet", "borrower-x"],
         "repayment of loan {loan3} refused: wallet {borrower_x} of BORROWER-X (#3) is not allowed to do this", 7),
    Case("wallet of no party (not registered)", ["loan", "cancel", LOAN, "--wallet", "outsider"],
         f"cancelling loan {{loan1}} refused: wallet {OUTSIDER} (no institution) is not allowed to do this", 7),
    Case("lender-side action by the borrower", ["loan", "extend", LOAN, "{later}", "--wallet", "borrower-x"],
         "extension of loan {loan1} refused: wallet {borrower_x} of BORROWER-X (#3) is not allowed to do this", 7),
    Case("draw without the borrower's consent", record(draw="100"),
         "--draw: drawing at once needs the borrower's consent: add --borrower-wallet (or record, confirm, then "
         "`loan draw`)", 2),
    Case("value date outside the regulator's window", record(**{"value-date": "{old}"}),
         "record loan refused: value date {old} is outside the window the regulator allows today: ", 7, prefix=True),
    Case("maturity beyond the maximum term", record(**{"maturity-date": "{far}"}),
         "record loan refused: maturity date {far} is outside ", 7, prefix=True),
    Case("extension across one calendar year without the borrower's consent",
         ["loan", "extend", LOAN, "{long}", "--wallet", "bank-a"],
         "extension of loan {loan1} refused: loan {label1}: the extension turns it from short-term to long-term, "
         "which needs the borrower's signed extension consent", 7),
    Case("a bank writes off its own customer's loan (not the regulator)",
         ["loan", "write-off", LOAN, "--wallet", "bank-a"],
         "writing off loan {loan1} (write-off approved) refused: wallet {bank_a} lacks the role REGULATOR_ROLE", 7),
    Case("a front-runner submits someone else's consent",
         ["loan", "record-consent", "{dir}/consent-for-hk.json", "--wallet", "bank-a", "--allow-plaintext"],
         "record loan with consent refused: the borrower's consent names HK-CREDITOR (#5) as the one who may submit "
         "it, but BANK-A (#1) sent it", 7),
    Case("a consent past its deadline", ["loan", "record-consent", "{dir}/consent-expired.json", "--wallet", "bank-a",
                                         "--allow-plaintext"],
         "record loan with consent refused: the signature expired at {expired} (chain time ", 7, prefix=True),
    Case("expiring a loan inside its confirmation window (not the regulator)",
         ["loan", "expire", LOAN_RECORDED, "--wallet", "bank-a"],
         "expiring loan {loan2} refused: loan {label2} may be consented until {confirm_by}: until then only the "
         "regulator may expire it", 7),
    Case("unknown reason code", ["loan", "expire", LOAN_RECORDED, "--reason", "boredom", "--wallet", "bank-a"],
         "--reason: 'boredom' is not a reason code (one of unspecified (0), confirmation-window-elapsed (1), "
         "document-dispute (2), suspected-fraud (3), court-or-sanctions (4), data-correction (5), "
         "write-off-approved (6))", 2),
    Case("drawdown while the regulator froze the borrower", ["loan", "draw", LOAN, "1.00", "--wallet", "borrower-x"],
         "drawdown on loan {loan1} refused: the regulator froze the drawdowns of BORROWER-X (#3)", 7,
         setup=freeze, teardown=unfreeze),
    Case("revoking a consent nonce that is not a number", ["loan", "revoke-consent", "12x", "--wallet", "borrower-x"],
         "nonce: '12x' is not a consent nonce (a consent nonce: a whole number 0 .. 18446744073709551615)", 2),
    Case("system paused by the regulator", ["loan", "confirm", LOAN, "--wallet", "borrower-x"],
         "confirm loan {loan1} refused: the system is paused by the regulator: no writes are accepted", 7,
         setup=pause, teardown=unpause),
    Case("loan CSV with missing columns", ["loan", "import", "{dir}/missing.csv", "--yes", "--allow-plaintext"],
         "{dir}/missing.csv: missing column(s) currency, recorder_wallet (required: borrower, creditor, currency, "
         "principal, value_date, maturity_date, financing_type, document, recorder_wallet; optional: draw, "
         "borrower_wallet, interest_rate, fees, purpose, external_ref, document_name, document_uri, notes)", 2,
         files={"missing.csv": b"borrower,creditor,principal,value_date,maturity_date,financing_type,document\n"
                               b"3,1,100,{v},{s},1,D\n"}),
    Case("loan CSV separated by semicolons", ["loan", "import", "{dir}/semicolons.csv", "--yes", "--allow-plaintext"],
         "{dir}/semicolons.csv: the columns are separated by ';' (a spreadsheet's regional CSV setting): save it "
         "with commas (',') between the columns", 2,
         files={"semicolons.csv": HEADER.replace(",", ";").encode() + b"3;1;USD;100;{v};{s};1;S1;;dev-1;\n"}),
    Case("loan CSV row with a JPY amount with decimals", ["loan", "import", "{dir}/jpy.csv", "--yes", "--allow-plaintext"],
         "1 of 1 rows were not recorded (1 invalid, 0 refused): see the report", 2,
         files={"jpy.csv": (HEADER + "3,1,JPY,1000.5,{v},{s},1,J1,,dev-1,\n").encode()}),
    Case("loan CSV with bad encoding (Latin-1 byte)", ["loan", "import", "{dir}/latin1.csv", "--yes", "--allow-plaintext"],
         "{dir}/latin1.csv: not UTF-8 text (byte 0xe9 at offset 162, row 2): save the file as CSV UTF-8", 2,
         files={"latin1.csv": (HEADER + "3,1,USD,100,{v},{s},1,caf\u00e9,,dev-1,\n").encode("latin-1")}),
    Case("loan CSV whose rows are all bad (nothing sent)", ["loan", "import", "{dir}/bad.csv", "--yes", "--allow-plaintext"],
         "2 of 2 rows were not recorded (1 invalid, 1 refused): see the report", 2,
         files={"bad.csv": (HEADER + "3,1,USD,-5,{v},{s},1,B1,,dev-1,\n"
                                     "3,1,GBP,5,{v},{s},1,B2,,dev-1,\n").encode()}),
    Case("loan CSV row over the limit (dry run refuses it, nothing sent)", ["loan", "import", "{dir}/limit.csv", "--yes", "--allow-plaintext"],
         "1 of 1 rows were refused by the ledger rules: see the report", 7,
         files={"limit.csv": (HEADER + "3,1,CNY,300000000,{v},{s},1,L1,300000000,dev-1,dev-3\n")
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
        today = w.client.now() // DAY * DAY
        sealed = T.seal(T.LoanTerms(purpose="the limit case"))
        loan = w.service.record(w.wallets[BANK_A], LoanRequest(
            BORROWER_X, BANK_A, "CNY", 300_000_000_00, today, today + 200 * DAY, 1, document_hash("DOC-1"),
            sealed.terms_hash), sealed).loan_id
        w.service.confirm(w.wallets[BORROWER_X], loan)
        recorded = LoanRequest(BORROWER_X, BANK_A, "USD", 100_00, today, today + 200 * DAY, 1, document_hash("DOC-2"),
                               sealed.terms_hash)
        w.service.record(w.wallets[BANK_A], recorded, sealed)
        drawn = LoanRequest(BORROWER_X, BANK_A, "USD", 100_00, today, today + 200 * DAY, 1, document_hash("DOC-3"),
                            sealed.terms_hash)
        w.service.record_co_signed(w.wallets[BANK_A], w.wallets[BORROWER_X], drawn, sealed, draw=100_00)
        fresh = LoanRequest(BORROWER_X, HK_CREDITOR, "USD", 100_00, today, today + 200 * DAY, 1,
                            document_hash("DOC-HK"), sealed.terms_hash)
        for name, deadline in (("consent-for-hk.json", None), ("consent-expired.json", w.client.now() - 10)):
            consent = w.service.sign_consent(w.wallets[BORROWER_X], fresh, submitter=HK_CREDITOR if deadline is None
                                             else BANK_A, deadline=deadline)
            request = fresh if deadline is None else replace(fresh, creditor=BANK_A)
            if deadline is not None:
                consent = w.service.sign_consent(w.wallets[BORROWER_X], request, submitter=BANK_A, deadline=deadline)
            (root / name).write_text(json.dumps(consent_file.dump(w.client, request, sealed, 0, consent)))
        env = {"XBORDER_RPC_URL": node.rpc_url, "XBORDER_DEPLOYMENTS_DIR": str(root / "deployments"),
               "XBORDER_DATA_DIR": str(root / ".xborder"), "XBORDER_KEYSTORE_DIR": str(root / "keystores"),
               "XBORDER_PASSWORD": PASSWORD}
        yield w, root, env


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _state(w: World) -> tuple[int, int, tuple[int, int, bool]]:
    return w.w3.eth.block_number, w.service.exposure(BORROWER_X).balance, w.service.position(BORROWER_X)


def _values(w: World, root: Path) -> dict[str, str]:
    today = w.client.now() // DAY * DAY
    loans = {n: BORROWER_X << 32 | n for n in (1, 2, 3)}
    expired = json.loads((root / "consent-expired.json").read_text())["consent"]["deadline"]
    return {"dir": str(root), "doc1": document_hash("DOC-1").hex()[:12], "borrower_x": dev_account(3).address,
            "bank_a": dev_account(1).address, "v": format_date(today), "s": format_date(today + 200 * DAY),
            "later": format_date(today + 230 * DAY), "long": format_date(today + 500 * DAY),
            "old": format_date(today - 60 * DAY), "far": format_date(today + 11_000 * DAY),
            "confirm_by": format_date(w.service.loan(loans[2]).confirm_by), "expired": format_date(expired)} | {
        f"loan{n}": str(i) for n, i in loans.items()} | {f"label{n}": loan_label(i) for n, i in loans.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.input for c in CASES])
def test_bad_input(world: tuple[World, Path, dict[str, str]], case: Case) -> None:
    w, root, env = world
    values = _values(w, root)
    for name, content in case.files.items():
        (root / name).write_bytes(_fill(content.decode("latin-1"), values).encode("latin-1"))
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
    expected = "xborder: error: " + _fill(case.message, values)
    assert last.startswith(expected) if case.prefix else last == expected, run.err
    assert run.code == case.exit_code
    assert after == before  # nothing written: no block, same balance, same loan count and freeze flag


def test_every_case_is_documented() -> None:
    text = DOC.read_text()
    for case in CASES:
        assert f"| {case.input} |" in text, case.input
