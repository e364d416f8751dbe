"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by test_fuzz.py, in schemathesis's own
environment: keep this file free of xborder imports).

`from` after `to` is the one rule of the loan listing that JSON Schema cannot express (it ties two
parameters): the API answers it with a 422 naming `from`. Generated "valid" requests with such a
range are not valid, so they are dropped rather than reported as a rejected valid request."""

import re

import schemathesis

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@schemathesis.hook
def filter_query(ctx, query):  # noqa: ANN001, ANN201 - schemathesis's hook signature
    if not query:
        return True
    start, end = query.get("from"), query.get("to")
    if isinstance(start, str) and isinstance(end, str) and _DATE.match(start) and _DATE.match(end):
        return start <= end
    return True
