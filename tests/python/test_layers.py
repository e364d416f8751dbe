"""The layers of xborder import only downward (shared ARCHITECTURE.md, docs/architecture.md):

    errors, config, files, interrupts < domain < chain, build < wallets < bindings < services | index < faces

`services` and `index` are siblings (the read side writes nothing and runs no service); the faces
(cli, api, bench, demo) sit on top. A small AST check of every module, function-level imports
included, so a violation fails here instead of in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

from xborder.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "xborder"
RANK = {"errors": 0, "config": 0, "files": 0, "interrupts": 0, "domain": 1, "chain": 2, "build": 2, "wallets": 3, "bindings": 4,
        "services": 5, "index": 5, "cli": 6, "api": 6, "bench": 6, "demo": 6}
#: Faces that call another face's public entry point: `xborder demo` and `xborder serve` are CLI
#: verbs, the demo writes the dashboard through the API layer that owns it, and the API bench issues
#: the bearer tokens it measures with through the API's token store.
FACE_CALLS = {("cli", "demo"), ("cli", "api"), ("demo", "api"), ("bench", "api")}
#: Known and owned elsewhere: the index engineer is moving the envelope reader out of services
#: (issue #12 / #13); remove these lines when that lands.
PENDING = {("xborder.index.service", "xborder.services.confidential"),
           ("xborder.index.projection", "xborder.services.confidential")}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return out


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                base = ".".join(package + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("xborder.")}


def _layer(name: str) -> str:
    return name.split(".")[1]


def test_layers_import_only_downward() -> None:
    wrong = []
    known = {m for m, _ in _modules()}
    for module, path in _modules():
        if module.count(".") < 1:
            continue
        mine = _layer(module)
        for target in _imports(path, module):
            if target not in known:
                continue  # a name imported from a module (xborder.x.y.Name): the module is listed too
            theirs = _layer(target)
            if theirs == mine or RANK[theirs] < RANK[mine] or (mine, theirs) in FACE_CALLS:
                continue
            if (module, target) not in PENDING:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "upward or sideways imports:\n" + "\n".join(wrong)


def test_cli_command_modules_do_not_import_each_other() -> None:
    wrong = []
    for module, path in _modules():
        if not module.startswith("xborder.cli.commands.") :
            continue
        for target in _imports(path, module):
            if target.startswith("xborder.cli.commands.") and target.split(".")[3] != module.split(".")[3]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "command modules share code through xborder.cli.common / params / signing:\n" + "\n".join(wrong)


def test_every_layer_is_ranked() -> None:
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    layers |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert layers - {"py"} <= set(RANK), sorted(layers - set(RANK))
