"""Compile the contracts with the one compiler configuration in `brownie-config.yaml`."""

from xborder.build.compiler import Artifact, CompilerConfig, compile_project, load_compiler_config

__all__ = ["Artifact", "CompilerConfig", "compile_project", "load_compiler_config"]
