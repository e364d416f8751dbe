"""The read API over the index database, and the dashboard at `/`.

`create_app(settings_or_url)` builds a fresh FastAPI app (no module-level state): the routers
(`xborder.api.routes`), the error model (`xborder.api.errors`), the bearer-token check
(`xborder.api.deps`) and the dashboard's static files. Every `/api` and `/export` path needs an
`Authorization: Bearer` token (`xborder api token issue`); `/`, `/static`, `/docs` and
`/openapi.json` hold no data and need none. Listings answer JSON keyset pages (`limit`, then
`cursor` = the previous page's `next_cursor`; no offsets) or CSV with `?format=csv`; the same
listings are also at `/export/<name>.csv`.
docs/api.md describes scopes, status codes and the error body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from xborder.api import errors, params
from xborder.api.deps import DatabasePool
from xborder.api.routes import exposure, index, loans, totals
from xborder.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
DESCRIPTION = (
    "Read-only view of the cross-border financing registry, from the event index. Every `/api` and "
    "`/export` path needs `Authorization: Bearer <token>` (tokens come from `xborder api token issue`): "
    "a `regulator` token reads everything, an `institution:<id>` token its own loans and exposure only. "
    "Loan amounts are integers in 1/100 of the loan currency; balances, limits, headroom and `*_cny` figures "
    "in CNY minor units (1/100 yuan); utilisation is balance / limit. Listings are keyset pages: `limit`, then "
    "`cursor` = the previous page's `next_cursor` (null on the last page); and `format=csv` (or "
    "`/export/<listing>.csv`). Every error answers the `ErrorBody` schema.")


def create_app(config: Settings | str) -> FastAPI:
    """The API over the index database of `config` (Settings, or an index database URL).
    The consistency check (`/api/consistency`) exists only when the settings name an RPC URL."""
    settings = Settings(database_url=config) if isinstance(config, str) else config
    pool = DatabasePool(settings.index_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(title="xborder read API", version="2.0", description=DESCRIPTION, lifespan=lifespan,
                  responses={500: {"model": errors.ErrorBody, "description": "Unexpected server error"}})
    app.state.settings = settings
    app.state.pool = pool
    errors.install(app, params.RULES)
    for router in (loans.router, exposure.router, totals.router, index.status_router(settings)):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
