"""python -m xborder.bench.compare BEFORE.json AFTER.json: two `make bench` results side by side
(same metric, after / before), with the load averages each run saw — read ratios beside the load."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Metrics whose name changed between versions of the bench: old name -> new name.
RENAMED = {"sender directly (send_all, no dry run)": "sender directly (engine submit, no dry run)",
           "lifecycle: drawdowns + repayments (send_all)": "lifecycle: drawdowns + repayments (engine submit)",
           "plain web3.py loop (automine)": "plain web3.py loop, one loan at a time (node without --block-time)"}


def _rows(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["section"], RENAMED.get(r["metric"], r["metric"])): r for r in data.get("rows", [])}


def _loads(data: dict[str, Any]) -> str:
    info, sections = data.get("info", {}), data.get("sections", {})
    per = ", ".join(f"{name} {s.get('load_at_end', '?')}" for name, s in sections.items())
    return f"start {info.get('load_average_at_start', '?')}; end of each section: {per}"


def compare(before: dict[str, Any], after: dict[str, Any], console: Console) -> None:
    old, new = _rows(before), _rows(after)
    table = Table(title="before -> after (same machine, back to back)")
    for column in ("section", "metric", "before", "after", "after / before"):
        table.add_column(column, justify="right" if column in ("before", "after", "after / before") else "left",
                         overflow="fold")
    for key in list(dict.fromkeys([*old, *new])):
        a, b = old.get(key), new.get(key)
        unit = (b or a or {}).get("unit", "")
        ratio = f"{b['value'] / a['value']:.2f}" if a and b and a["value"] else ""
        table.add_row(key[0], key[1], f"{a['value']:,.2f} {unit}" if a else "-", f"{b['value']:,.2f} {unit}" if b else "-",
                      ratio)
    console.print(table)
    console.print(f"before: {_loads(before)}")
    console.print(f"after:  {_loads(after)}")


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        sys.stderr.write("usage: python -m xborder.bench.compare BEFORE.json AFTER.json\n")
        return 2
    before, after = (json.loads(Path(p).read_text()) for p in args)
    compare(before, after, Console(width=180))
    return 0


if __name__ == "__main__":
    sys.exit(main())
