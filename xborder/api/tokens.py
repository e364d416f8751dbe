"""API tokens: issued, listed and revoked by `xborder api token ...`, checked on every API request.

A token is `xbt_<id>_<secret>`: `id` is 12 hex characters, public (it names the token in
`token list` and in the server's log), `secret` is 32 random bytes (`secrets.token_urlsafe`,
256 bits). Only the SHA-256 digest of the whole token is stored; the plaintext is printed once,
when it is issued, and cannot be recovered.

Why SHA-256 and not bcrypt/scrypt/argon2: those slow hashes protect low-entropy *passwords*
from guessing after a database leak. A 256-bit random secret cannot be guessed whatever the
hash costs, so a single SHA-256 is as safe (this is how GitHub, PyPI and Stripe store their API
tokens), and it keeps every request's check at a microsecond instead of ~100 ms of deliberate
work. The digest is compared with `hmac.compare_digest` (constant time), after a lookup by the
public id, so timing tells an attacker nothing about the secret.

Scopes: `regulator` (reads everything) or `institution:<id>` (its own loans and exposure only;
docs/api.md lists what each endpoint allows). Tokens live in the index database, in the table
`api_tokens`, which this module creates when a token is first issued: the index's own tables are a
projection of the chain and may be rebuilt, this table is not chain data (back it up with the
database; a rebuilt index needs its tokens issued again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass

from xborder.errors import ValidationError
from xborder.index.db import Database

log = logging.getLogger(__name__)

PREFIX = "xbt_"
_TOKEN = re.compile(r"^xbt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_SCOPE = re.compile(r"^(regulator|institution:([1-9][0-9]{0,9}))$")
UINT32_MAX = 2**32 - 1
SCOPE_ALLOWED = "regulator or institution:<id> (an institution id, 1 to 4294967295)"

_SCHEMA = ("CREATE TABLE IF NOT EXISTS api_tokens ("
           "token_id TEXT PRIMARY KEY, digest TEXT NOT NULL, scope TEXT NOT NULL, institution BIGINT, "
           "label TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, expires_at BIGINT, revoked_at BIGINT)")


@dataclass(frozen=True)
class Scope:
    """Who a token speaks for: the regulator (institution None) or one institution."""

    institution: int | None = None

    @property
    def is_regulator(self) -> bool:
        return self.institution is None

    def __str__(self) -> str:
        return "regulator" if self.institution is None else f"institution:{self.institution}"

    @classmethod
    def parse(cls, text: str, field: str = "--scope") -> Scope:
        match = _SCOPE.match(text.strip())
        if not match or (match.group(2) and int(match.group(2)) > UINT32_MAX):
            raise ValidationError(f"{field}: {text!r} is not a scope ({SCOPE_ALLOWED})", field=field, value=text,
                                  allowed=SCOPE_ALLOWED)
        return cls(int(match.group(2)) if match.group(2) else None)


@dataclass(frozen=True)
class TokenInfo:
    """A stored token (never its secret)."""

    token_id: str
    scope: Scope
    label: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def state(self, now: int) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self, now: int) -> dict[str, object]:
        return {"token_id": self.token_id, "scope": str(self.scope), "label": self.label,
                "created_at": _iso(self.created_at), "expires_at": _iso(self.expires_at),
                "revoked_at": _iso(self.revoked_at), "state": self.state(now)}


@dataclass(frozen=True)
class IssuedToken:
    info: TokenInfo
    token: str  # the plaintext: shown once


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(text: str, now: int, field: str = "--expires") -> int:
    """'30d', '12h', '90m' (from now) or a UTC date 'YYYY-MM-DD' -> unix seconds in the future."""
    allowed = "a duration such as 90m, 12h, 30d, or a UTC date YYYY-MM-DD in the future"
    value = text.strip()
    match = re.fullmatch(r"([1-9][0-9]{0,5})([mhd])", value)
    if match:
        seconds = now + int(match.group(1)) * {"m": 60, "h": 3600, "d": 86_400}[match.group(2)]
    else:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
            seconds = int(dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp())
        except ValueError:
            raise ValidationError(f"{field}: {text!r} is not an expiry ({allowed})", field=field, value=text,
                                  allowed=allowed) from None
    if seconds <= now:
        raise ValidationError(f"{field}: {text!r} is in the past ({allowed})", field=field, value=text,
                              allowed=allowed)
    return seconds


@dataclass
class TokenStore:
    """The `api_tokens` table of one database connection."""

    db: Database

    def ensure_schema(self) -> None:
        with self.db.transaction():
            self.db.execute(_SCHEMA)

    def _ready(self) -> bool:
        return self.db.table_exists("api_tokens")

    def issue(self, scope: Scope, *, label: str = "", expires_at: int | None = None,
              now: int | None = None) -> IssuedToken:
        self.ensure_schema()
        created = int(time.time()) if now is None else now
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self.db.transaction():
            self.db.execute("INSERT INTO api_tokens (token_id, digest, scope, institution, label, created_at, "
                            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (token_id, digest(token), "regulator" if scope.is_regulator else "institution",
                             scope.institution, label, created, expires_at))
        log.info("API token %s issued for %s", token_id, scope)
        return IssuedToken(TokenInfo(token_id, scope, label, created, expires_at, None), token)

    def list(self) -> list[TokenInfo]:
        if not self._ready():
            return []
        rows = self.db.query("SELECT token_id, institution, label, created_at, expires_at, revoked_at "
                             "FROM api_tokens ORDER BY created_at, token_id")
        return [self._info(row) for row in rows]

    @staticmethod
    def _info(row: tuple[object, ...]) -> TokenInfo:
        token_id, institution, label, created, expires, revoked = row
        return TokenInfo(str(token_id), Scope(None if institution is None else int(str(institution))), str(label),
                         int(str(created)), None if expires is None else int(str(expires)),
                         None if revoked is None else int(str(revoked)))

    def revoke(self, token_id: str, *, now: int | None = None) -> TokenInfo:
        """Revoke by id (or by the whole plaintext token); revoking twice is not an error."""
        match = _TOKEN.match(token_id.strip())
        key = match.group(1) if match else token_id.strip()
        row = self.db.query_one("SELECT token_id, institution, label, created_at, expires_at, revoked_at "
                                "FROM api_tokens WHERE token_id = ?", (key,)) if self._ready() else None
        if row is None:
            raise ValidationError(f"token: {token_id!r} is not an issued token (see `xborder api token list`)",
                                  field="token", value=token_id, allowed="a token id from `xborder api token list`")
        info = self._info(row)
        if info.revoked_at is None:
            stamp = int(time.time()) if now is None else now
            with self.db.transaction():
                self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ?", (stamp, key))
            log.info("API token %s revoked", key)
            info = TokenInfo(info.token_id, info.scope, info.label, info.created_at, info.expires_at, stamp)
        return info

    def verify(self, token: str, *, now: int | None = None) -> TokenInfo | None:
        """The token's record when `token` is an issued, unrevoked, unexpired token; else None."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        try:  # one query per request: the table's existence is checked only when it fails
            row = self.db.query_one("SELECT digest, institution, label, created_at, expires_at, revoked_at "
                                    "FROM api_tokens WHERE token_id = ?", (match.group(1),))
        except Exception:
            if self._ready():
                raise
            return None  # no token was ever issued for this database
        if row is None or not hmac.compare_digest(str(row[0]), digest(token)):
            return None
        info = self._info((match.group(1), *row[1:]))
        return info if info.state(int(time.time()) if now is None else now) == "active" else None
