"""Import layers of the index (issue #12's findings): it imports no service and no face, and the
read model (queries, summaries, projection, database) never talks to a node: the chain half of the
consistency check lives in `xborder.index.reconcile`. Checked with import-linter's contracts in
tests/python/index/importlinter.ini (transitive imports included)."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

CONFIG = Path(__file__).with_name("importlinter.ini")


def test_index_import_layers_hold() -> None:
    assert lint_imports(config_filename=str(CONFIG), no_cache=True) == 0
