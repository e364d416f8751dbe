"""The HTTP API against a real indexed chain (anvil + the real contracts + SQLite, and PostgreSQL):
every endpoint answers the indexed figures; every bad parameter a 4xx that names the parameter,
the value and what is allowed; the OpenAPI document validates."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loan_setup import BANK_A, BORROWER_X, BORROWER_Y, HK_CREDITOR
from openapi_spec_validator import validate

from xborder.api import create_app
from xborder.api.tokens import TokenStore
from xborder.index import index_events
from xborder.index.db import open_database

from .conftest import Tokens, bearer, issue_tokens
from .world import EXPECTED_BALANCE, EXPECTED_LIMIT, EXPECTED_OUTSTANDING, NAMES, Book

M = 100


def get(client: TestClient, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.text)
    return response.json()


# ------------------------------------------------------------------------------ happy paths

def test_exposure_matches_the_ledger(client: TestClient, book: Book) -> None:
    ledger = book.world.client.ledger.functions
    for borrower in (BORROWER_X, BORROWER_Y, BANK_A):
        body = get(client, f"/api/borrowers/{borrower}")
        assert body["name"] == NAMES[borrower]
        assert body["risk_weighted_balance"] == EXPECTED_BALANCE[borrower] == ledger.riskWeightedBalance(borrower).call()
        assert body["limit"] == EXPECTED_LIMIT[borrower] == ledger.borrowingLimit(borrower).call()
        assert body["headroom"] == ledger.headroom(borrower).call()
        assert body["utilisation"] == pytest.approx(EXPECTED_BALANCE[borrower] / EXPECTED_LIMIT[borrower])
    x = get(client, f"/api/borrowers/{BORROWER_X}")
    assert x["outstanding"] == {"CNY": 110_000_000 * M, "USD": 20_000_000 * M}
    assert x["active_loans"] == 2 and x["band"] == "critical"


def test_borrowers_ranked_by_utilisation(client: TestClient) -> None:
    body = get(client, "/api/borrowers")
    assert [b["name"] for b in body["items"][:3]] == ["BORROWER-X", "BORROWER-Y", "BANK-A"]
    assert body["total"] == 5 and body["next_cursor"] is None
    assert body["items"][0]["utilisation"] == pytest.approx(323 / 350)
    by_balance = get(client, "/api/borrowers?sort=balance&limit=2")
    assert [b["borrower"] for b in by_balance["items"]] == [BORROWER_X, BANK_A] and by_balance["next_cursor"]
    rest = get(client, f"/api/borrowers?sort=balance&limit=2&cursor={by_balance['next_cursor']}")
    assert BORROWER_X not in [b["borrower"] for b in rest["items"]] and len(rest["items"]) == 2
    near = get(client, "/api/borrowers?min_utilisation=0.9")
    assert [b["borrower"] for b in near["items"]] == [BORROWER_X]


def test_loans_filters_and_paging(client: TestClient, book: Book) -> None:
    every = get(client, "/api/loans")
    assert every["total"] == 6 and {i["loan_id"] for i in every["items"]} == set(book.loans.values())
    usd = get(client, "/api/loans?currency=usd")
    assert {i["loan_id"] for i in usd["items"]} == {book.loans["x-usd"], book.loans["a-usd"]}
    hk = get(client, "/api/loans?creditor_country=hk&status=active")
    assert {i["loan_id"] for i in hk["items"]} == {book.loans[n] for n in ("x-usd", "a-usd", "y-jpy")}
    assert get(client, f"/api/loans?borrower={BORROWER_X}")["total"] == 3
    assert get(client, f"/api/loans?creditor={HK_CREDITOR}")["total"] == 3
    assert get(client, "/api/loans?status=Cancelled")["items"][0]["loan_id"] == book.loans["x-cancelled"]
    assert get(client, "/api/loans?from=2000-01-01&to=2100-12-31")["total"] == 6
    assert get(client, "/api/loans?to=2000-01-01")["total"] == 0
    first = get(client, "/api/loans?limit=4")
    second = get(client, f"/api/loans?limit=4&cursor={first['next_cursor']}")
    assert first["next_cursor"] and second["next_cursor"] is None
    assert [i["loan_id"] for i in first["items"] + second["items"]] == [i["loan_id"] for i in every["items"]]


def test_one_loan_with_history(client: TestClient, book: Book) -> None:
    loan_id = book.loans["y-eur"]
    for ref in (str(loan_id), hex(loan_id), f"{BORROWER_Y}:1"):
        body = get(client, f"/api/loans/{ref}")
        assert body["loan"]["loan_id"] == loan_id
    loan, events = body["loan"], body["events"]
    assert loan["borrower_name"] == "BORROWER-Y" and loan["creditor_name"] == "BANK-B"
    assert (loan["principal"], loan["drawn"], loan["outstanding"]) == (5_000_000 * M, 5_000_000 * M, 4_000_000 * M)
    assert loan["financing_type_name"] == "ORDINARY_LOAN" and loan["status"] == "Active"
    assert [e["event"] for e in events] == ["LoanRecorded", "LoanConfirmed", "LoanDrawn", "LoanRepaid"]
    assert events[-1]["amount"] == 1_000_000 * M and events[-1]["outstanding"] == 4_000_000 * M


def test_totals(client: TestClient) -> None:
    by_currency = {i["currency"]: i for i in get(client, "/api/totals?by=currency")["items"]}
    assert {c: i["outstanding"] for c, i in by_currency.items()} == EXPECTED_OUTSTANDING
    assert by_currency["CNY"]["loans"] == 2 and by_currency["CNY"]["principal"] == 151_000_000 * M
    countries = {i["creditor_country"]: i["loans"] for i in get(client, "/api/totals?by=creditor_country")["items"]}
    assert countries == {"HK": 3, "CN": 3}
    types = get(client, "/api/totals?by=financing_type&status=active")["items"]
    assert types == [{"financing_type": 1, "loans": 5, "principal": types[0]["principal"], "drawn": types[0]["drawn"],
                      "outstanding": sum(EXPECTED_OUTSTANDING.values()), "contribution": sum(EXPECTED_BALANCE.values()),
                      "outstanding_cny": get(client, "/api/summary")["outstanding_cny"],
                      "financing_type_name": "ORDINARY_LOAN"}]
    # By the recording bank and by the creditor, with the institution's name; every grouping adds up.
    for by in ("bank", "creditor"):
        rows = get(client, f"/api/totals?by={by}")["items"]
        assert sum(r["loans"] for r in rows) == 6 and all(r["name"] == NAMES[r[by]] for r in rows if r[by] in NAMES)
    creditors = {r["creditor"]: r["loans"] for r in get(client, "/api/totals?by=creditor")["items"]}
    assert creditors[HK_CREDITOR] == 3


def test_volumes(client: TestClient) -> None:
    months = get(client, "/api/volumes")["items"]
    assert len({m["month"] for m in months}) == 3
    drawn = {m["currency"]: 0 for m in months}
    for m in months:
        drawn[m["currency"]] += m["drawn"]
    assert drawn == {"USD": 30_000_000 * M, "CNY": 110_000_000 * M, "EUR": 5_000_000 * M, "JPY": 50_000_000 * M}
    usd = get(client, "/api/volumes?currency=USD")["items"]
    assert usd == [{"month": usd[0]["month"], "currency": "USD", "drawn": 30_000_000 * M, "repaid": 0,
                    "loans_recorded": 2, "drawn_cny": 213_000_000 * M, "repaid_cny": 0}]
    # Paged by keyset on request: the pages walk every bucket once, in order.
    walked, cursor = [], ""
    while True:
        page = get(client, f"/api/volumes?period=day&limit=2{cursor}")
        walked += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert walked == get(client, "/api/volumes?period=day")["items"] and len(walked) > 2
    eur = [d for d in get(client, "/api/volumes?period=day&currency=eur")["items"] if d["repaid"]]
    assert eur[0]["repaid"] == 1_000_000 * M and eur[0]["repaid_cny"] == 7_800_000 * M


def test_events_summary_status_consistency(client: TestClient, book: Book) -> None:
    events = get(client, "/api/events?limit=3")
    assert events["total"] == 18 and events["items"][0]["event"] == "LoanDrawn"
    assert events["items"][0]["borrower_name"] == "BORROWER-Y" and events["items"][0]["currency"] == "JPY"
    repaid = get(client, "/api/events?event=repaid")["items"]
    assert len(repaid) == 1 and repaid[0]["amount"] == 1_000_000 * M
    assert get(client, f"/api/events?borrower={BORROWER_X}&currency=CNY")["total"] == 5
    walked, cursor = [], None
    while True:
        page = get(client, "/api/events?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        walked += [(e["block_number"], e["log_index"]) for e in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(walked) == len(set(walked)) == 18 and walked == sorted(walked, reverse=True)
    summary = get(client, "/api/summary")
    assert summary["loans"] == 6 and summary["loans_by_status"] == {"Active": 5, "Cancelled": 1}
    assert summary["outstanding"] == EXPECTED_OUTSTANDING
    assert summary["outstanding_cny"] == (30_000_000 * 710 + 110_000_000 * 100 + 4_000_000 * 780 + 50_000_000 * 47 // 10) * M // 100
    assert summary["borrowers_near_limit"] == 1 and summary["borrowers_over_limit"] == 0
    status = get(client, "/api/status")
    head = book.w3.eth.block_number
    assert status["checkpoint"] == head and status["head"] == head and status["lag"] == 0
    assert status["counts"]["loans"] == 6
    report = get(client, "/api/consistency")
    assert report["ok"] and report["checked"] == 5 and report["block"] == head
    assert report["logs_checked"] > 0 and report["log_mismatches"] == [] and report["internal"] == []


def test_csv_exports(client: TestClient, book: Book) -> None:
    for url in ("/api/loans?format=csv", "/export/loans.csv"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 6 and {int(r["loan_id"]) for r in rows} == set(book.loans.values())
    borrowers = list(csv.DictReader(io.StringIO(client.get("/export/borrowers.csv").text)))
    assert borrowers[0]["name"] == "BORROWER-X" and int(borrowers[0]["risk_weighted_balance"]) == EXPECTED_BALANCE[BORROWER_X]
    for url in ("/export/totals.csv?by=creditor_country", "/export/volumes.csv?period=day", "/export/events.csv?limit=5",
                "/api/events?format=csv&borrower=3"):
        response = client.get(url)
        assert response.status_code == 200 and response.text.count("\n") >= 2, url


def test_dashboard_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "dashboard.js" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text
    script = client.get("/static/dashboard.js").text
    assert "fetch(" in script and "https://" not in script and "cdn" not in script.lower()


# ------------------------------------------------------------------------------ bad parameters

BAD = [
    # url, status, parameter named, text that must appear in the message
    ("/api/loans?limit=-1", 422, "limit", "greater than or equal to 1"),
    ("/api/loans?limit=0", 422, "limit", "greater than or equal to 1"),
    ("/api/loans?limit=100000", 422, "limit", "less than or equal to 10000"),
    ("/api/loans?limit=ten", 422, "limit", "valid integer"),
    ("/api/loans?cursor=not-a-cursor", 422, "cursor", "not a cursor of this listing"),
    ("/api/loans?cursor=a.b", 422, "cursor", "not a cursor of this listing"),
    ("/api/events?cursor=WzFd", 422, "cursor", "not a cursor of this listing"),
    ("/api/borrowers?cursor=WyJ4Il0", 422, "cursor", "not a cursor of this listing"),
    ("/api/loans?currency=US", 422, "currency", "ISO 4217"),
    ("/api/loans?currency=U5D", 422, "currency", "three letters"),
    ("/api/loans?creditor_country=HKG", 422, "creditor_country", "ISO 3166"),
    ("/api/loans?status=open", 422, "status", "Recorded, Active, Closed, Cancelled, Defaulted"),
    ("/api/loans?from=2025-02-30", 422, "from", "YYYY-MM-DD"),
    ("/api/loans?to=yesterday", 422, "to", "YYYY-MM-DD"),
    ("/api/loans?from=2025-06-01&to=2025-01-01", 422, "from", "on or before"),
    ("/api/loans?borrower=999", 404, "borrower", "not in the index"),
    ("/api/loans?creditor=77", 404, "creditor", "not in the index"),
    ("/api/loans?borrower=0", 422, "borrower", "greater than or equal to 1"),
    ("/api/loans?format=xml", 422, "format", "'json' or 'csv'"),
    ("/api/loans/abc", 422, "loan_id", "decimal, 0x hex, or BORROWER:N"),
    ("/api/loans/0", 404, "loan_id", "out of range"),
    ("/api/loans/3:0", 404, "loan_id", "BORROWER:N"),
    ("/api/loans/99999999999999999999", 404, "loan_id", "out of range"),
    ("/api/loans/3:99", 404, "loan_id", "not in the index"),
    ("/api/borrowers/999", 404, "borrower", "not in the index"),
    ("/api/borrowers/-1", 422, "borrower", "greater than or equal to 1"),
    ("/api/borrowers/x", 422, "borrower", "valid integer"),
    ("/api/borrowers?sort=risk", 422, "sort", "utilisation, balance, headroom, borrower"),
    ("/api/borrowers?min_utilisation=-0.5", 422, "min_utilisation", "greater than or equal to 0"),
    ("/api/totals?by=country", 422, "by", "currency, creditor_country, financing_type, bank, creditor"),
    ("/api/volumes?limit=0", 422, "limit", "greater than or equal to 1"),
    ("/api/volumes?cursor=WzFd", 422, "cursor", "not a cursor of this listing"),
    ("/api/totals?status=paid", 422, "status", "Recorded, Active"),
    ("/api/volumes?period=year", 422, "period", "'month' or 'day'"),
    ("/api/volumes?currency=dollars", 422, "currency", "ISO 4217"),
    ("/api/events?event=LoanPaid", 422, "event", "LoanRecorded"),
    ("/api/events?limit=-3", 422, "limit", "greater than or equal to 1"),
    ("/api/events?borrower=42", 404, "borrower", "not in the index"),
    ("/export/loans.csv?status=nope", 422, "status", "Recorded"),
]


@pytest.mark.parametrize(("url", "status", "field", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_parameters_answer_4xx_with_a_clear_message(client: TestClient, url: str, status: int, field: str,
                                                        text: str) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field
    assert body["detail"].startswith(f"{field}: "), body
    value = url.rsplit(f"{field}=", 1)[-1].split("&")[0] if f"{field}=" in url else url.rsplit("/", 1)[-1]
    assert value in body["detail"], body
    assert text in body["detail"] or text in str(body.get("allowed")), body


def test_missing_index_answers_503(tmp_path: Path) -> None:
    with TestClient(create_app(f"sqlite:///{tmp_path / 'none' / 'index.db'}"), headers=bearer("xbt_x")) as client:
        response = client.get("/api/summary")
    assert response.status_code == 503 and "xborder index run" in response.json()["detail"]


def test_no_consistency_endpoint_without_a_node(book: Book, tokens: Tokens) -> None:
    with TestClient(create_app(replace(book.settings, rpc_url=None)), headers=bearer(tokens.regulator)) as client:
        assert client.get("/api/consistency").status_code == 404
        assert "/api/consistency" not in client.get("/openapi.json").json()["paths"]
        status = get(client, "/api/status")
        assert status["head"] is None and status["checkpoint"] > 0


def test_openapi_document_validates(client: TestClient) -> None:
    spec = get(client, "/openapi.json")
    validate(spec)
    for path in ("/api/loans", "/api/loans/{loan_id}", "/api/borrowers", "/api/borrowers/{borrower}", "/api/totals",
                 "/api/volumes", "/api/events", "/api/summary", "/api/status", "/api/consistency", "/export/loans.csv"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
    # Keyset pages only: every listing takes `cursor` with its pattern; no operation takes an offset.
    for path in ("/api/loans", "/api/borrowers", "/api/events", "/api/volumes", "/export/loans.csv"):
        names = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert "offset" not in names and names["cursor"]["schema"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9_-]+$", path
    assert "offset" not in str(spec)


# ------------------------------------------------------------------------------ PostgreSQL

@pytest.mark.postgres
def test_same_answers_on_postgresql(book: Book, client: TestClient, tokens: Tokens) -> None:
    from pg import postgres_server

    with postgres_server() as server:
        url = server.create_database()
        settings = replace(book.settings, database_url=url)
        index_events(settings)
        pg_tokens = issue_tokens(settings)
        with TestClient(create_app(settings), headers=bearer(pg_tokens.regulator)) as pg_client:
            for path in ("/api/summary", "/api/borrowers", "/api/loans", "/api/totals?by=creditor_country",
                         "/api/volumes?period=day", "/api/events?limit=50", f"/api/loans/{BORROWER_X}:2",
                         "/api/consistency"):
                assert get(pg_client, path) == get(client, path), path
            assert get(pg_client, "/api/borrowers/99", 404)["field"] == "borrower"
            # The scopes and the token store behave the same on PostgreSQL.
            x_pg = bearer(pg_tokens.institutions[BORROWER_X])
            x_sqlite = bearer(tokens.institutions[BORROWER_X])
            for path in ("/api/loans", "/api/borrowers", "/api/events", f"/api/borrowers/{BORROWER_X}"):
                mine = pg_client.get(path, headers=x_pg)
                assert mine.status_code == 200 and mine.json() == client.get(path, headers=x_sqlite).json(), path
            assert pg_client.get("/api/summary", headers=x_pg).status_code == 403
            assert pg_client.get(f"/api/borrowers/{BORROWER_Y}", headers=x_pg).status_code == 403
            db = open_database(url, migrate=False)
            try:
                TokenStore(db).revoke(pg_tokens.regulator)
            finally:
                db.close()
            assert pg_client.get("/api/summary").status_code == 401
        server.drop_database(url)
