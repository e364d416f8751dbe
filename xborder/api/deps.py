"""What every route depends on: a database connection from the app's pool, and the caller
(`Principal`) authenticated by its bearer token.

The pool keeps up to `POOL_IDLE` open connections between requests (opening a PostgreSQL
connection costs more than most queries here); a connection that failed during a request is
closed, not returned."""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from xborder.api.errors import Forbidden, IndexUnavailable, Unauthorized
from xborder.api.tokens import Scope, TokenStore
from xborder.config import Settings
from xborder.errors import ConfigurationError, XborderError
from xborder.index.db import Database, IndexDatabaseError, open_database, redact

log = logging.getLogger(__name__)

POOL_IDLE = 16


@dataclass
class DatabasePool:
    """Open connections to one index database, reused across requests (thread-safe)."""

    url: str
    idle: int = POOL_IDLE
    _free: queue.LifoQueue[Database] = field(default_factory=queue.LifoQueue, repr=False)

    def _open(self) -> Database:
        try:
            db = open_database(self.url, migrate=False)
        except (ConfigurationError, IndexDatabaseError) as exc:
            raise IndexUnavailable(str(exc)) from None
        if not db.table_exists("loans"):
            db.close()
            raise IndexUnavailable(f"the index database {redact(self.url)} is empty: run `xborder index run`")
        return db

    def connection(self) -> Iterator[Database]:
        try:
            db = self._free.get_nowait()
        except queue.Empty:
            db = self._open()
        try:
            yield db
        except XborderError:
            self._release(db)  # an answer such as 404 or 422: the connection is fine
            raise
        except BaseException:
            db.close()  # a database or unexpected error may have broken it: never reuse it
            raise
        self._release(db)

    def _release(self, db: Database) -> None:
        if self._free.qsize() < self.idle:
            self._free.put(db)
        else:
            db.close()

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Database]:
    pool: DatabasePool = request.app.state.pool
    yield from pool.connection()


DB = Annotated[Database, Depends(get_db)]

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="An API token from `xborder api token issue` (docs/api.md): "
                                 "`Authorization: Bearer xbt_...`")


@dataclass(frozen=True)
class Principal:
    """The caller: its token's id and scope."""

    token_id: str
    scope: Scope

    @property
    def institution(self) -> int | None:
        return self.scope.institution

    @property
    def is_regulator(self) -> bool:
        return self.scope.is_regulator

    def require_regulator(self, what: str) -> None:
        if not self.is_regulator:
            raise Forbidden(f"scope: {self.scope} may not read {what} (regulator only)", field="scope",
                            value=str(self.scope), allowed="regulator")

    def require_own(self, institution: int, field: str) -> None:
        """An institution's token may only name itself."""
        if not self.is_regulator and institution != self.institution:
            raise self.not_own(institution, field)

    def not_own(self, institution: int, field: str) -> Forbidden:
        return Forbidden(f"{field}: institution {institution} is not the caller's ({self.scope})",
                         field=field, value=institution, allowed=f"{self.institution}")


def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The bearer token of the request (401 before anything else when there is none)."""
    if credentials is None:
        raise Unauthorized("Authorization: a bearer token is required (`Authorization: Bearer xbt_...`, "
                           "issued by `xborder api token issue`)")
    return credentials.credentials


def authenticate(token: Annotated[str, Depends(bearer_token)], db: DB) -> Principal:
    info = TokenStore(db).verify(token)
    if info is None:
        raise Unauthorized("Authorization: the bearer token is unknown, revoked or expired", error="invalid_token")
    return Principal(info.token_id, info.scope)


Caller = Annotated[Principal, Depends(authenticate)]
