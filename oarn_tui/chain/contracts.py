"""The OARN contract artifacts (ABI + bytecode) shipped with the package, loaded by name.

The JSON files in `artifacts/` are written by `contracts/build.mjs` (solc-js, pinned) so users need
no Node.js; `_build.json` records the compiler, EVM version and a hash of the sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

BUILD_METADATA_FILE = "_build.json"


class UnknownContractError(LookupError):
    """No artifact exists for the requested contract name."""


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract: its ABI, creation bytecode and runtime bytecode (0x hex)."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str


def _read_json(file_name: str) -> Any:
    resource = resources.files("oarn_tui.chain").joinpath("artifacts", file_name)
    if not resource.is_file():
        raise FileNotFoundError(file_name)
    return json.loads(resource.read_text(encoding="utf-8"))


@cache
def build_metadata() -> dict[str, Any]:
    """Compiler version, EVM version, optimizer settings and the sources hash of the artifacts."""
    return dict(_read_json(BUILD_METADATA_FILE))


def contract_names() -> tuple[str, ...]:
    """Names of every shipped contract."""
    return tuple(build_metadata()["contracts"])


@cache
def load_artifact(name: str) -> ContractArtifact:
    """The artifact of contract `name` (e.g. "TaskRegistry"); raises UnknownContractError."""
    if name not in contract_names():
        known = ", ".join(contract_names())
        raise UnknownContractError(f"no contract artifact named {name!r}; known: {known}")
    data = _read_json(f"{name}.json")
    return ContractArtifact(
        name=name,
        abi=tuple(data["abi"]),
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract `name` as a fresh list (safe to hand to web3)."""
    return [dict(entry) for entry in load_artifact(name).abi]


def bytecode(name: str) -> str:
    """The creation bytecode of contract `name` (0x hex)."""
    return load_artifact(name).bytecode
