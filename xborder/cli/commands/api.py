"""`xborder serve` (the read API and dashboard) and `xborder api token issue|list|revoke` (who may
read it). Tokens are stored hashed in the index database (xborder/api/tokens.py, docs/api.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from xborder.api.tokens import Scope, TokenStore, parse_expiry
from xborder.cli.context import App, common_options
from xborder.errors import ValidationError
from xborder.index.db import Database, redact
from xborder.index.service import open_index


@contextmanager
def _tokens(app: App) -> Iterator[TokenStore]:
    db: Database = open_index(app.settings)
    try:
        yield TokenStore(db)
    finally:
        db.close()


@click.group("api")
def api() -> None:
    """The read API's access: tokens for the regulator and for institutions."""


@api.group("token")
def token() -> None:
    """Issue, list and revoke API tokens (stored hashed; the plaintext is shown once)."""


@token.command("issue")
@click.option("--scope", "scope_text", required=True, metavar="regulator|institution:ID",
              help="regulator (reads everything) or institution:<id> (its own loans and exposure)")
@click.option("--expires", default=None, metavar="30d|12h|90m|YYYY-MM-DD", help="expiry [default: never]")
@click.option("--label", default="", help="a note shown by `token list` (who holds it)")
@common_options
def issue(app: App, scope_text: str, expires: str | None, label: str) -> None:
    """Issue a token and print it once on stdout (the details go to stderr)."""
    scope = Scope.parse(scope_text)
    now = int(time.time())
    expires_at = parse_expiry(expires, now) if expires is not None else None
    with _tokens(app) as store:
        if scope.institution is not None:
            from xborder.api.payloads import institution_exists

            if not institution_exists(store.db, scope.institution):
                raise ValidationError(f"--scope: institution {scope.institution} is not in the index "
                                      f"{redact(app.settings.index_url)} (run `xborder index run` first)",
                                      field="--scope", value=scope_text, allowed="an indexed institution id")
        issued = store.issue(scope, label=label, expires_at=expires_at, now=now)
    data = {"token": issued.token, **issued.info.as_dict(now)}
    if app.json_output:
        app.emit(data)
        return
    click.echo(issued.token)
    app.note(f"token {issued.info.token_id} for {scope} issued (expires: {data['expires_at'] or 'never'}); "
             "it is shown only now: store it, the server keeps only its SHA-256 digest")


@token.command("list")
@common_options
def list_tokens(app: App) -> None:
    """Every token issued: id, scope, label, dates and state (never the secret)."""
    now = int(time.time())
    with _tokens(app) as store:
        items = [t.as_dict(now) for t in store.list()]

    def human() -> None:
        if not items:
            app.console.print("no API tokens issued (`xborder api token issue --scope regulator`)")
        for t in items:
            app.console.print(f"{t['token_id']}  {t['scope']:<20} {t['state']:<8} created {t['created_at']}  "
                              f"expires {t['expires_at'] or 'never'}  {t['label']}")

    app.emit({"tokens": items}, human)


@token.command("revoke")
@click.argument("token_id")
@common_options
def revoke(app: App, token_id: str) -> None:
    """Revoke a token by its id (from `token list`); requests with it answer 401 at once."""
    with _tokens(app) as store:
        info = store.revoke(token_id)
    data = info.as_dict(int(time.time()))
    app.emit(data, lambda: app.console.print(f"token {info.token_id} ({info.scope}) revoked at {data['revoked_at']}"))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@common_options
def serve(app: App, host: str, port: int) -> None:
    """Serve the read API (/api/..., /docs; bearer tokens from `xborder api token issue`) and the
    dashboard (/) over the index."""
    import uvicorn

    from xborder.api import create_app

    if port == 8545:
        raise ValidationError("--port: 8545 is reserved for the node's JSON-RPC; pick another port",
                              field="--port", value=port, allowed="any free port but 8545")
    open_index(app.settings).close()  # create/migrate now, so errors show before the server starts
    app.note(f"serving {redact(app.settings.index_url)} at http://{host}:{port}/ (API docs at /docs); Ctrl-C to stop")
    uvicorn.run(create_app(app.settings), host=host, port=port, log_level="warning")
