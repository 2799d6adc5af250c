"""The v2 contract artifacts written by `contracts/build.mjs` into `chain/artifacts/v2/`."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


class UnknownV2ContractError(LookupError):
    """No v2 artifact exists for the requested contract name."""


def _read(file_name: str) -> Any:
    resource = resources.files("oarn_tui.chain").joinpath("artifacts", "v2", file_name)
    if not resource.is_file():
        raise FileNotFoundError(f"v2 artifact {file_name} missing; run: node contracts/build.mjs")
    return json.loads(resource.read_text(encoding="utf-8"))


@cache
def build_metadata() -> dict[str, Any]:
    """Compiler, EVM version, optimizer and source hashes of the v2 build."""
    return dict(_read("_build.json"))


@cache
def _artifact(name: str) -> dict[str, Any]:
    if name not in build_metadata()["contracts"]:
        known = ", ".join(build_metadata()["contracts"])
        raise UnknownV2ContractError(f"no v2 contract artifact named {name!r}; known: {known}")
    return dict(_read(f"{name}.json"))


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of v2 contract `name` as a fresh list."""
    return [dict(entry) for entry in _artifact(name)["abi"]]


def bytecode(name: str) -> str:
    """The creation bytecode (0x hex) of v2 contract `name`."""
    return str(_artifact(name)["bytecode"])
