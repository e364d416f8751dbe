"""py-solc-x over the project's solcjs wrapper, configured from `brownie-config.yaml`.

Brownie and this module read the same file, so `brownie compile` and `xborder deploy` produce
the same bytecode (a test holds them to it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import solcx
import yaml
from solcx.exceptions import SolcError

from xborder.errors import CompilationError, ConfigurationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompilerConfig:
    version: str
    evm_version: str
    optimizer_enabled: bool
    optimizer_runs: int
    remappings: tuple[str, ...] = field(default_factory=tuple)

    def standard_settings(self) -> dict[str, Any]:
        return {
            "evmVersion": self.evm_version,
            "optimizer": {"enabled": self.optimizer_enabled, "runs": self.optimizer_runs},
            "remappings": list(self.remappings),
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object",
                          "metadata", "evm.methodIdentifiers"],
                    "": ["ast"],
                }
            },
        }


@dataclass(frozen=True)
class Artifact:
    """What deploying and calling one contract needs."""

    name: str
    source_path: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    def to_json(self) -> dict[str, Any]:
        return {"contractName": self.name, "sourcePath": self.source_path, "abi": self.abi,
                "bytecode": self.bytecode, "deployedBytecode": self.deployed_bytecode}


def load_compiler_config(project_root: Path) -> CompilerConfig:
    path = project_root / "brownie-config.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{path} not found: run xborder from the project folder") from exc
    compiler = data.get("compiler", {})
    solc = compiler.get("solc", {})
    optimizer = solc.get("optimizer", {})
    if not solc.get("version") or not compiler.get("evm_version"):
        raise ConfigurationError(f"{path}: compiler.solc.version and compiler.evm_version must be set")
    return CompilerConfig(
        version=str(solc["version"]),
        evm_version=str(compiler["evm_version"]),
        optimizer_enabled=bool(optimizer.get("enabled", True)),
        optimizer_runs=int(optimizer.get("runs", 200)),
        remappings=tuple(solc.get("remappings") or ()),
    )


def _solc_binary(project_root: Path, version: str) -> Path:
    binary = project_root / "compilers" / f"solc-v{version}"
    if not binary.exists():
        raise ConfigurationError(
            f"compiler {binary} is missing: brownie-config.yaml asks for solc {version}; "
            "the wrapper's name must carry the same version"
        )
    return binary


def _sources(project_root: Path) -> dict[str, dict[str, str]]:
    sources: dict[str, dict[str, str]] = {}
    for folder in ("contracts", "interfaces"):
        for path in sorted((project_root / folder).rglob("*.sol")):
            sources[path.relative_to(project_root).as_posix()] = {"content": path.read_text()}
    return sources


def compile_project(project_root: Path, cache_dir: Path | None = None) -> dict[str, Artifact]:
    """Compile every contract under `contracts/` and `interfaces/`; return artifacts by name.

    Results are cached by the hash of sources and settings, so repeated CLI calls are instant.
    """
    config = load_compiler_config(project_root)
    sources = _sources(project_root)
    if not sources:
        raise ConfigurationError(f"no Solidity sources under {project_root}/contracts")
    standard_input = {"language": "Solidity", "sources": sources,
                      "settings": config.standard_settings()}
    digest = hashlib.sha256(json.dumps(standard_input, sort_keys=True).encode()).hexdigest()[:16]
    cache_dir = cache_dir or project_root / "build" / "xborder"
    cache_file = cache_dir / f"artifacts-{digest}.json"
    if cache_file.exists():
        return {name: Artifact(**fields) for name, fields in json.loads(cache_file.read_text()).items()}

    binary = _solc_binary(project_root, config.version)
    log.info("compiling %d sources with %s", len(sources), binary.name)
    cwd = os.getcwd()
    try:
        os.chdir(project_root)  # remappings are relative to the project root
        output = solcx.compile_standard(standard_input, solc_binary=binary,
                                        allow_paths=[str(project_root)])
    except SolcError as exc:
        raise CompilationError(_compile_error_message(exc)) from None
    finally:
        os.chdir(cwd)

    artifacts: dict[str, Artifact] = {}
    for source_path, contracts in output.get("contracts", {}).items():
        for name, data in contracts.items():
            artifacts[name] = Artifact(
                name=name, source_path=source_path, abi=data["abi"],
                bytecode=data["evm"]["bytecode"]["object"],
                deployed_bytecode=data["evm"]["deployedBytecode"]["object"],
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: {"name": a.name, "source_path": a.source_path, "abi": a.abi,
                                    "bytecode": a.bytecode,
                                    "deployed_bytecode": a.deployed_bytecode}
                               for n, a in artifacts.items()}))
    tmp.replace(cache_file)
    return artifacts


def _compile_error_message(exc: SolcError) -> str:
    # solc's formattedMessage already reads "ParserError: ... --> contracts/X.sol:12:5:".
    text = exc.message if hasattr(exc, "message") else str(exc)
    lines = [line for line in str(text).splitlines() if line.strip()]
    return "Solidity compilation failed:\n" + "\n".join(lines[:40])
