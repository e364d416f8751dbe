"""What the routers share: CSV answers and the OpenAPI declaration of a listing's two media types."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xborder.api import errors
from xborder.index.queries import Listing

CSV_MEDIA_TYPE = "text/csv"
_CSV_CONTENT = {CSV_MEDIA_TYPE: {"schema": {"type": "string", "description": "a header row, then one row per item"}}}
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {200: {"description": "JSON (default) or, with `format=csv`, CSV", "content": {
    "application/json": {"schema": {"type": "object"}}, **_CSV_CONTENT}}}
CSV_ONLY: dict[int | str, dict[str, Any]] = {200: {"description": "CSV", "content": _CSV_CONTENT}}


class CsvResponse(Response):
    media_type = CSV_MEDIA_TYPE
    charset = "utf-8"


def csv(listing: Listing, name: str) -> Response:
    return CsvResponse(listing.to_csv(), headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def wants_csv(request: Request, fmt: str) -> bool:
    return fmt == "csv" or request.url.path.startswith("/export/")


def listing_routes(router: APIRouter, endpoint: Callable[..., Any], *, path: str, export: str, summary: str,
                   tags: list[str | Enum], codes: tuple[int, ...] = ()) -> None:
    """`path` answers JSON or CSV (`format=csv`), `export` (a `/export/<name>.csv` path) always CSV."""
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, tags=tags,
                         responses={**errors.responses(*codes), **JSON_OR_CSV})
    router.add_api_route(export, endpoint, methods=["GET"], summary=summary + " (CSV; `format` is ignored)",
                         tags=["export"], response_class=CsvResponse, operation_id=f"export_{endpoint.__name__}_csv",
                         responses={**errors.responses(*codes, json_content=True), **CSV_ONLY})
