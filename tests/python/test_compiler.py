"""The one compiler configuration: Brownie and xborder's py-solc-x path produce the same bytecode
from the same brownie-config.yaml, offline, through the solcjs wrapper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from xborder.build import compile_project, load_compiler_config
from xborder.config import PROJECT_ROOT
from xborder.errors import CompilationError

VAULT = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

contract Vault is AccessControl {
    uint256 private _total;

    constructor() {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    function add(uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _total += amount;
    }
}
"""


def _project(tmp_path: Path, source: str, name: str = "Vault.sol") -> Path:
    root = tmp_path / "proj"
    (root / "contracts").mkdir(parents=True)
    (root / "interfaces").mkdir()
    (root / "contracts" / name).write_text(source)
    shutil.copy(PROJECT_ROOT / "brownie-config.yaml", root / "brownie-config.yaml")
    (root / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    (root / "compilers").symlink_to(PROJECT_ROOT / "compilers")
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["SOLCX_BINARY_PATH"] = str(PROJECT_ROOT / "compilers")
    env["PATH"] = f"{PROJECT_ROOT / 'node_modules' / '.bin'}:{PROJECT_ROOT / '.venv' / 'bin'}:{env['PATH']}"
    return env


def test_wrapper_answers_version_like_solc() -> None:
    config = load_compiler_config(PROJECT_ROOT)
    out = subprocess.run([str(PROJECT_ROOT / "compilers" / f"solc-v{config.version}"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert f"Version: {config.version}+commit." in out


def test_wrapper_version_matches_npm_package() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    assert package["dependencies"]["solc"] == load_compiler_config(PROJECT_ROOT).version


def test_config_targets_paris() -> None:
    assert load_compiler_config(PROJECT_ROOT).evm_version == "paris"


def test_brownie_and_py_solc_x_produce_identical_bytecode(tmp_path: Path) -> None:
    root = _project(tmp_path, VAULT)
    subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "brownie"), "compile"], cwd=root,
                   env=_env(), check=True, capture_output=True, timeout=300)
    brownie_artifact = json.loads((root / "build" / "contracts" / "Vault.json").read_text())

    ours = compile_project(root, cache_dir=tmp_path / "cache")["Vault"]

    assert ours.bytecode == brownie_artifact["bytecode"]
    assert ours.deployed_bytecode == brownie_artifact["deployedBytecode"]
    # paris has no PUSH0 (0x5f), which Ganache 7.9.2 cannot execute. Walk opcodes, skipping
    # PUSH data, up to the metadata trailer.
    code = bytes.fromhex(ours.deployed_bytecode)
    code = code[: len(code) - (int.from_bytes(code[-2:], "big") + 2)]
    pc = 0
    while pc < len(code):
        op = code[pc]
        assert op != 0x5F, f"PUSH0 at {pc}"
        pc += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_compile_error_names_file_and_line(tmp_path: Path) -> None:
    broken = VAULT.replace("_total += amount;", "_total += amount")  # missing semicolon; solc reports the next token
    root = _project(tmp_path, broken)
    with pytest.raises(CompilationError) as excinfo:
        compile_project(root, cache_dir=tmp_path / "cache")
    assert "contracts/Vault.sol:15:5" in str(excinfo.value)
    assert "ParserError" in str(excinfo.value)


def test_missing_import_is_reported_with_its_path(tmp_path: Path) -> None:
    root = _project(tmp_path, VAULT.replace("access/AccessControl.sol", "access/Nope.sol"))
    with pytest.raises(CompilationError, match="Nope.sol"):
        compile_project(root, cache_dir=tmp_path / "cache")
