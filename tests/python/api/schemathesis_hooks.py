"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by test_fuzz.py, in schemathesis's own
environment: keep this file free of xborder imports).

Two rules of the API that JSON Schema cannot express, each answered with a 422 naming the
parameter:
* `from` after `to` (it ties two parameters): generated "valid" requests with such a range are
  not valid, so they are dropped rather than reported as a rejected valid request;
* `cursor` must be a `next_cursor` the same listing gave (keyset pages): the schema declares its
  alphabet and length, but a string of that alphabet is almost never a cursor of the listing. A
  generated cursor refused with exactly that 422 is no rejected valid request, so that one
  failure (and no other) is dropped; every other check still runs on those answers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import schemathesis

if TYPE_CHECKING:
    from schemathesis.core.failures import Failure

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


# schemathesis is installed in its own environment (.venv-schemathesis), not in the one mypy runs
# in: its decorator is untyped there.
@schemathesis.hook  # type: ignore[untyped-decorator]
def filter_query(ctx: schemathesis.HookContext, query: dict[str, Any] | None) -> bool:
    if not query:
        return True
    start, end = query.get("from"), query.get("to")
    if isinstance(start, str) and isinstance(end, str) and _DATE.match(start) and _DATE.match(end):
        return start <= end
    return True


@schemathesis.hook  # type: ignore[untyped-decorator]
def filter_failure(ctx: schemathesis.HookContext, failure: Failure, case: schemathesis.Case,
                   response: schemathesis.Response) -> bool:
    """Keep every failure but "valid data rejected" for a generated cursor the listing never gave."""
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 422:
        return True
    if not (case.query or {}).get("cursor"):
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and body.get("field") == "cursor"
                and "is not a cursor of this listing" in str(body.get("detail")))
