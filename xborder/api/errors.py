"""The API's one error model: every 4xx and 5xx answer (FastAPI's own 422 and 404 included) is an
`ErrorBody`, and one table maps the package's exceptions to status codes (like httpx's
`map_exceptions`).

| status | when |
|---|---|
| 401 | no `Authorization: Bearer` token, or a token that is unknown, revoked or expired (with `WWW-Authenticate`) |
| 403 | the token's scope does not cover the request (an institution asking for another's data or a regulator-only figure) |
| 404 | a borrower, creditor or loan that is not in the index (or, for an institution's token, not its own loan); an unknown path |
| 405 | a method other than GET/HEAD |
| 422 | a parameter breaks its declared rule (type, range, pattern, enum) or a rule the schema cannot express (`from` after `to`, a date such as 2025-02-30, a `cursor` the listing did not give) |
| 500 | a bug: the body says so, the log has the traceback |
| 503 | the index database is missing, empty or unreachable; the node is unreachable (consistency check) |
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from xborder.api.payloads import NotInIndex
from xborder.errors import ValidationError, XborderError

log = logging.getLogger(__name__)

REALM = "xborder"


class ErrorBody(BaseModel):
    """What went wrong: `detail` is one sentence naming the parameter, the value and what is allowed."""

    detail: str = Field(description="one sentence: '<parameter>: <value> ... (<what is allowed>)'")
    field: str | None = Field(default=None, description="the parameter at fault, if one is")
    value: Any = Field(default=None, description="the value received")
    allowed: str | None = Field(default=None, description="what the parameter allows")


class ApiError(XborderError):
    """An answer other than 200, raised by a route or a dependency."""

    status = 500

    def __init__(self, message: str, *, field: str | None = None, value: object = None,
                 allowed: str | None = None) -> None:
        super().__init__(message)
        self.field, self.value, self.allowed = field, value, allowed


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message, field="Authorization")
        self.error = error  # RFC 6750: invalid_token when a token was sent but is not good


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError, LookupError):
    """Nothing to show under this name (`payloads.NotInIndex` answers 404 too)."""

    status = 404


class IndexUnavailable(ApiError, RuntimeError):
    """The index database is missing, empty or unreachable."""

    status = 503


_DESCRIPTIONS = {
    401: "No bearer token, or one that is unknown, revoked or expired",
    403: "The token's scope does not cover this request",
    404: "Not in the index (or not the caller's), or no such path",
    422: "A parameter breaks its rule: the body names it, the value and what is allowed",
    500: "Unexpected server error",
    503: "The index database (or, for the consistency check, the node) is unavailable",
}
#: Every operation can answer these.
COMMON = (401, 422, 500, 503)


def responses(*codes: int, json_content: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, each with the error body. `json_content`: spell
    the media type out, for routes whose own response class is not JSON (FastAPI would otherwise
    declare the error body under the route's media type)."""
    if json_content:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        return {code: {"description": _DESCRIPTIONS[code], "content": content} for code in sorted({*COMMON, *codes})}
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in sorted({*COMMON, *codes})}


def error_response(status: int, message: str, *, field: str | None = None, value: object = None,
                   allowed: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(detail=message, field=field, value=jsonable_encoder(value), allowed=allowed)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


#: parameter -> (what it is, what is allowed): the words of a 422 for a parameter that breaks its pattern or enum.
Rules = dict[str, tuple[str, str]]


def _validation(exc: RequestValidationError, rules: Rules) -> JSONResponse:
    parts, first = [], None
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        name = ".".join(loc) or "request"
        value = err.get("input")
        msg = str(err.get("msg", "invalid"))
        if name in rules and err.get("type") in ("string_pattern_mismatch", "enum", "literal_error"):
            what, msg = rules[name]
            parts.append(f"{name}: {value!r} is not {what} ({msg})")
        else:
            parts.append(f"{name}: {value!r} is not allowed ({msg})")
        first = first or (name, value, msg)
    name, value, allowed = first or ("request", None, None)
    return error_response(422, "; ".join(parts), field=name, value=value, allowed=allowed)


def install(app: FastAPI, rules: Rules) -> None:
    """Register the handlers that turn every failure into an `ErrorBody` answer; `rules` word the
    422s of pattern and enum parameters."""

    @app.exception_handler(ApiError)
    def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = None
        if isinstance(exc, Unauthorized):
            extra = f', error="{exc.error}"' if exc.error else ""
            headers = {"WWW-Authenticate": f'Bearer realm="{REALM}"{extra}'}
        return error_response(exc.status, str(exc), field=exc.field, value=exc.value, allowed=exc.allowed,
                              headers=headers)

    @app.exception_handler(NotInIndex)
    def _not_in_index(_: Request, exc: NotInIndex) -> JSONResponse:
        return error_response(404, str(exc), field=exc.field, value=exc.value, allowed=exc.allowed)

    @app.exception_handler(ValidationError)
    def _bad_value(_: Request, exc: ValidationError) -> JSONResponse:
        return error_response(422, str(exc), field=exc.field, value=exc.value, allowed=exc.allowed)

    @app.exception_handler(RequestValidationError)
    def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(exc, rules)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (f"path: {request.url.path!r} is not an API path (see /docs)" if exc.status_code == 404
                   else f"{request.method} {request.url.path}: {exc.detail}")
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, f"unexpected server error ({type(exc).__name__}); the server log has the details")
