"""Who may read what: bearer tokens (401 without one, with `WWW-Authenticate`), revocation and
expiry, and the scopes (docs/api.md): the regulator's token reads everything, an institution's
token its own loans and exposure only. The scope rule is also checked as a property over
generated requests (hypothesis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loan_setup import BANK_A, BANK_B, BORROWER_X, BORROWER_Y, HK_CREDITOR

from xborder.api import create_app
from xborder.api.tokens import Scope, TokenStore, parse_expiry
from xborder.errors import ValidationError
from xborder.index.db import Database, open_database
from xborder.index.pages import encode_cursor

from .conftest import Tokens, bearer
from .world import Book

DATA_PATHS = ["/api/loans", "/api/loans/3:1", "/api/borrowers", "/api/borrowers/3", "/api/totals", "/api/volumes",
              "/api/events", "/api/summary", "/api/status", "/api/me", "/api/consistency", "/export/loans.csv",
              "/export/borrowers.csv", "/export/totals.csv", "/export/volumes.csv", "/export/events.csv"]


@pytest.fixture(scope="module")
def anonymous(book: Book) -> Iterator[TestClient]:
    with TestClient(create_app(book.settings)) as test_client:
        yield test_client


@pytest.fixture
def db(book: Book) -> Iterator[Database]:
    database = open_database(book.settings.index_url, migrate=False)
    try:
        yield database
    finally:
        database.close()


def _as(client: TestClient, token: str, path: str) -> Any:
    return client.get(path, headers=bearer(token))


# ------------------------------------------------------------------------------ authentication

@pytest.mark.parametrize("path", DATA_PATHS)
def test_no_token_answers_401_with_www_authenticate(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="xborder"'
    assert response.json()["field"] == "Authorization" and "bearer token is required" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer xbt_000000000000_" + "A" * 43, "Basic dXNlcjpwYXNz",
                                    "Bearer "])
def test_bad_tokens_answer_401(anonymous: TestClient, header: str) -> None:
    response = anonymous.get("/api/summary", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="xborder"')


def test_a_token_is_stored_only_as_its_digest(db: Database, tokens: Tokens) -> None:
    rows = db.query("SELECT token_id, digest FROM api_tokens")
    assert rows and all(len(str(d)) == 64 for _, d in rows)
    dump = repr(db.query("SELECT * FROM api_tokens"))
    assert tokens.regulator not in dump and tokens.regulator.rsplit("_", 1)[1] not in dump


def test_a_tampered_secret_is_refused(anonymous: TestClient, tokens: Tokens) -> None:
    good = tokens.regulator
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert _as(anonymous, good, "/api/summary").status_code == 200
    response = _as(anonymous, bad, "/api/summary")
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]


def test_revoked_and_expired_tokens_answer_401(anonymous: TestClient, db: Database) -> None:
    store = TokenStore(db)
    issued = store.issue(Scope(), label="to revoke")
    assert _as(anonymous, issued.token, "/api/summary").status_code == 200
    store.revoke(issued.info.token_id)
    assert _as(anonymous, issued.token, "/api/summary").status_code == 401
    assert store.revoke(issued.info.token_id).revoked_at is not None  # twice is fine
    soon = store.issue(Scope(), expires_at=int(time.time()) + 1)
    assert _as(anonymous, soon.token, "/api/summary").status_code == 200
    time.sleep(1.1)
    assert _as(anonymous, soon.token, "/api/summary").status_code == 401
    states = {t.token_id: t.state(int(time.time())) for t in store.list()}
    assert states[issued.info.token_id] == "revoked" and states[soon.info.token_id] == "expired"


def test_pages_without_data_need_no_token(anonymous: TestClient) -> None:
    for path in ("/", "/static/dashboard.js", "/openapi.json", "/docs"):
        assert anonymous.get(path).status_code == 200, path


@pytest.mark.parametrize(("text", "ok"), [("regulator", Scope()), ("institution:3", Scope(3)),
                                          ("institution:0", None), ("institution:4294967296", None),
                                          ("institution:x", None), ("admin", None), ("institution:", None)])
def test_scope_parsing(text: str, ok: Scope | None) -> None:
    if ok is not None:
        assert Scope.parse(text) == ok and str(Scope.parse(text)) == text
    else:
        with pytest.raises(ValidationError, match="--scope"):
            Scope.parse(text)


def test_expiry_parsing() -> None:
    now = 1_700_000_000
    assert parse_expiry("30d", now) == now + 30 * 86_400 and parse_expiry("90m", now) == now + 5400
    assert parse_expiry("2030-01-01", now) == 1_893_456_000
    for bad in ("yesterday", "0d", "2001-01-01", "2030-02-30", "-5d"):
        with pytest.raises(ValidationError, match="--expires"):
            parse_expiry(bad, now)


# ------------------------------------------------------------------------------ scopes

def test_the_regulator_sees_everything(anonymous: TestClient, tokens: Tokens) -> None:
    for path in DATA_PATHS:
        assert _as(anonymous, tokens.regulator, path).status_code == 200, path
    assert _as(anonymous, tokens.regulator, "/api/me").json()["scope"] == "regulator"


def test_an_institution_sees_its_own_loans_and_exposure(anonymous: TestClient, tokens: Tokens, book: Book) -> None:
    x = tokens.institutions[BORROWER_X]
    me = _as(anonymous, x, "/api/me").json()
    assert me["scope"] == f"institution:{BORROWER_X}" and me["name"] == "BORROWER-X"
    loans = _as(anonymous, x, "/api/loans").json()
    assert loans["total"] == 3 and {i["borrower"] for i in loans["items"]} == {BORROWER_X}
    assert _as(anonymous, x, f"/api/borrowers/{BORROWER_X}").json()["name"] == "BORROWER-X"
    ranked = _as(anonymous, x, "/api/borrowers").json()
    assert [b["borrower"] for b in ranked["items"]] == [BORROWER_X] and ranked["total"] == 1
    assert ranked["next_cursor"] is None  # its ranking is one row: the first page is the last
    regulators = _as(anonymous, tokens.regulator, "/api/borrowers?limit=1").json()["next_cursor"]
    after = _as(anonymous, x, f"/api/borrowers?cursor={regulators}").json()
    assert after["items"] == [] and after["total"] == 1 and after["next_cursor"] is None
    bad = anonymous.get("/api/borrowers?cursor=WzFd", headers=bearer(x))
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    events = _as(anonymous, x, "/api/events?limit=100").json()
    assert events["total"] == 8 and {e["borrower"] for e in events["items"]} == {BORROWER_X}
    assert _as(anonymous, x, f"/api/loans/{book.loans['x-usd']}").status_code == 200
    assert "counts" not in _as(anonymous, x, "/api/status").json()
    csv = _as(anonymous, x, "/export/loans.csv").text
    assert csv.count("\n") == 4


def test_a_bank_sees_the_loans_it_lent_by_naming_itself_creditor(anonymous: TestClient, tokens: Tokens,
                                                                 book: Book) -> None:
    bank = tokens.institutions[BANK_A]
    lent = _as(anonymous, bank, f"/api/loans?creditor={BANK_A}").json()
    assert {i["loan_id"] for i in lent["items"]} == {book.loans["x-cny"], book.loans["x-cancelled"]}
    # ... and each of them one by one (it is the creditor and the recorder).
    assert _as(anonymous, bank, f"/api/loans/{book.loans['x-cny']}").status_code == 200
    assert _as(anonymous, bank, f"/api/loans?borrower={BORROWER_X}&creditor={BANK_A}").json()["total"] == 2


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/api/summary", 403, "scope"), ("/api/totals", 403, "scope"), ("/api/volumes", 403, "scope"),
    ("/export/totals.csv", 403, "scope"), ("/export/volumes.csv", 403, "scope"), ("/api/consistency", 403, "scope"),
    (f"/api/borrowers/{BORROWER_Y}", 403, "borrower"), (f"/api/loans?borrower={BORROWER_Y}", 403, "borrower"),
    (f"/api/loans?creditor={HK_CREDITOR}", 403, "creditor"), (f"/api/events?borrower={BORROWER_Y}", 403, "borrower"),
    (f"/export/loans.csv?borrower={BANK_A}", 403, "borrower"),
    ("/api/borrowers/999", 403, "borrower"),  # someone else's id, indexed or not: 403 either way
    (f"/api/loans/{BORROWER_Y}:1", 404, "loan_id"),  # another's loan: the same 404 as a loan that does not exist
])
def test_an_institution_is_kept_out_of_the_rest(anonymous: TestClient, tokens: Tokens, path: str, status: int,
                                                field: str) -> None:
    response = _as(anonymous, tokens.institutions[BORROWER_X], path)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    if status == 404:
        missing = _as(anonymous, tokens.institutions[BORROWER_X], f"/api/loans/{BORROWER_X}:99").json()
        assert response.json()["detail"].replace(f"{BORROWER_Y}:1", "") != ""
        assert "is not in the index" in response.json()["detail"] and "is not in the index" in missing["detail"]


# ------------------------------------------------------------------------------ the scope rule as a property

PARTIES = [BANK_A, BANK_B, BORROWER_X, BORROWER_Y, HK_CREDITOR, 999]
ids = st.sampled_from(PARTIES)
maybe = st.none() | ids


@st.composite
def requests(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["loans", "loan", "borrowers", "borrower", "events", "market"]))
    if kind == "loans":
        query = {"borrower": draw(maybe), "creditor": draw(maybe), "status": draw(st.none() | st.just("active")),
                 "currency": draw(st.none() | st.sampled_from(["USD", "CNY", "EUR", "JPY"])),
                 "limit": draw(st.integers(1, 10)),
                 "cursor": draw(st.none() | st.builds(lambda block, loan: encode_cursor([block, loan]),
                                                       st.integers(0, 400), st.integers(0, 2**40)))}
        path = "/api/loans"
    elif kind == "loan":
        return f"/api/loans/{draw(ids)}:{draw(st.integers(1, 4))}"
    elif kind == "borrowers":
        query, path = {"sort": draw(st.sampled_from(["utilisation", "balance", "headroom", "borrower"]))}, "/api/borrowers"
    elif kind == "borrower":
        return f"/api/borrowers/{draw(ids)}"
    elif kind == "events":
        query, path = {"borrower": draw(maybe), "limit": draw(st.integers(1, 30))}, "/api/events"
    else:
        return draw(st.sampled_from(["/api/summary", "/api/totals?by=creditor_country", "/api/volumes?period=day"]))
    text = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
    return f"{path}?{text}" if text else path


def _parties_of(body: Any) -> list[set[int]]:
    """For every loan, event or exposure in an answer: the institutions it concerns."""
    if "loan" in body:
        loan = body["loan"]
        return [{loan["borrower"], loan["creditor"], loan["recorder"]}]
    items = body.get("items", [body] if "borrower" in body else [])
    return [{i["borrower"], *([i["creditor"]] if "creditor" in i else [])} for i in items]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(who=st.sampled_from([BORROWER_X, BORROWER_Y, BANK_A]), path=requests())
def test_an_institution_never_reads_what_is_not_its_own(anonymous: TestClient, tokens: Tokens, who: int,
                                                        path: str) -> None:
    response = _as(anonymous, tokens.institutions[who], path)
    assert response.status_code in (200, 403, 404), (path, response.text)
    if response.status_code == 200:
        for parties in _parties_of(response.json()):
            assert who in parties, (who, path, parties)
    elif response.status_code == 403:
        assert response.json()["field"] in ("scope", "borrower", "creditor")
    regulator = _as(anonymous, tokens.regulator, path)
    assert regulator.status_code in (200, 404), (path, regulator.text)  # the regulator is never refused
