"""A static snapshot of the dashboard: one self-contained `index.html` (CSS, JS and the data
inlined) that opens from file:// with no server and loads nothing from the network."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from xborder.api import payloads
from xborder.errors import ConfigurationError
from xborder.index.db import Database

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_STYLE_TAG = '<link rel="stylesheet" href="/static/style.css">'
_SCRIPT_TAG = '<script src="/static/dashboard.js"></script>'
_ECHARTS_TAG = '<script src="/static/vendor/echarts.common.min.js"></script>'
ECHARTS = STATIC_DIR / "vendor" / "echarts.common.min.js"


def _inline_json(data: object) -> str:
    # "</" would end the <script> element early; "\u2028/9" break older JS parsers.
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def snapshot_data(db: Database) -> dict[str, Any]:
    """Everything the dashboard shows, keyed by the names dashboard.js loads."""
    borrowers, _ = payloads.exposures(db, sort="utilisation", limit=payloads.MAX_PAGE)
    return {
        "me": {"token_id": None, "scope": "regulator", "institution": None, "name": None},
        "summary": payloads.summary(db),
        "borrowers": borrowers,
        "volumes_month": payloads.page(payloads.volumes(db, "month"), payloads.MAX_PAGE),
        "volumes_day": payloads.page(payloads.volumes(db, "day"), payloads.MAX_PAGE),
        "events": payloads.page(payloads.events(db, limit=500), 500),
        "status": payloads.status(db),
        "policy": payloads.policy_changes(db),
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def render_snapshot(db: Database) -> str:
    """The dashboard page with today's figures embedded."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    css = (STATIC_DIR / "style.css").read_text(encoding="utf-8")
    js = (STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")
    if _STYLE_TAG not in html or _SCRIPT_TAG not in html or _ECHARTS_TAG not in html:
        raise ConfigurationError(f"{STATIC_DIR / 'index.html'} no longer links style.css, echarts and dashboard.js "
                                 "the way the snapshot writer expects")
    if not ECHARTS.exists():
        raise ConfigurationError(f"{ECHARTS} is missing: run `make deps` (it copies the chart library from "
                                 "node_modules/echarts)")
    # "</script" inside the library would end the inline element early.
    library = ECHARTS.read_text(encoding="utf-8").replace("</script", "<\\/script")
    data = snapshot_data(db)
    html = html.replace(_STYLE_TAG, f"<style>\n{css}</style>")
    html = html.replace(_ECHARTS_TAG, f"<script>\n{library}\n</script>")
    html = html.replace(_SCRIPT_TAG, f"<script>window.XBORDER_SNAPSHOT = {_inline_json(data)};</script>\n"
                                     f"<script>\n{js}</script>")
    return html.replace("<title>xborder ·", "<title>xborder snapshot ·")


def write_snapshot(db: Database, out_dir: Path) -> Path:
    """Write `out_dir/index.html` (the folder is created); return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(render_snapshot(db), encoding="utf-8")
    tmp.replace(target)
    log.info("dashboard snapshot written to %s", target)
    return target
