"""Result rows, the machine context (load average, cores) and the rich table / JSON output."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    section: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None  # the plain approach, same run, same chain
    target: str = ""  # e.g. "<= 130000" or ">= 1000"
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def check(value: float, target: str) -> bool:
    op, _, number = target.partition(" ")
    limit = float(number.replace(",", ""))
    return value <= limit if op == "<=" else value < limit if op == "<" else value >= limit


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, Any]:
    try:
        anvil = subprocess.run([str(Path(__file__).resolve().parents[2] / "node_modules/.bin/anvil"), "--version"],
                               capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        anvil = "?"
    return {"cores": os.cpu_count(), "load_average_at_start": load(), "python": platform.python_version(),
            "platform": platform.platform(), "anvil": anvil}


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # seconds, load at end, details

    def add(self, row: Row) -> Row:
        if row.target and row.passed is None:
            row.passed = check(row.value, row.target)
        self.rows.append(row)
        return row

    def table(self, console: Console) -> None:
        table = Table(title="xborder benchmark", show_lines=False)
        for column in ("section", "metric", "value", "baseline", "ratio", "target", "ok", "note"):
            table.add_column(column, justify="right" if column in ("value", "baseline", "ratio") else "left",
                             overflow="fold")
        for r in self.rows:
            ok = "" if r.passed is None else ("[green]pass[/]" if r.passed else "[red]FAIL[/]")
            table.add_row(r.section, r.metric, f"{r.value:,.2f} {r.unit}".replace(".00 ", " "),
                          "" if r.baseline is None else f"{r.baseline:,.2f}",
                          "" if r.ratio is None else f"{r.ratio:,.1f}x", r.target, ok, r.note)
        console.print(table)
        sections = ", ".join(f"{k} {v.get('seconds', 0):.0f}s (load at end {v.get('load_at_end', '?')})"
                             for k, v in self.sections.items())
        console.print(f"{self.info.get('cores')} cores; load average 1/5/15 min at start "
                      f"{self.info.get('load_average_at_start')}; {sections}")

    def to_json(self) -> dict[str, Any]:
        return {"info": self.info, "sections": self.sections,
                "rows": [asdict(r) | {"ratio": r.ratio} for r in self.rows]}

    def write(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(self.to_json(), indent=2, default=str)
        path = out / f"{stamp}.json"
        path.write_text(text)
        (out / "latest.json").write_text(text)
        return path
