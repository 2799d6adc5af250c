"""The committed contract artifacts load by name and match the Solidity sources they claim."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from oarn_tui.chain.contracts import (
    UnknownContractError,
    abi,
    build_metadata,
    bytecode,
    contract_names,
    load_artifact,
)

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
CORE = ("GOVToken", "COMPToken", "TaskRegistry", "OARNRegistry")


def test_every_core_contract_has_abi_and_bytecode() -> None:
    for name in (*CORE, "ENSRegistry", "PublicResolver", "UniversalResolver"):
        assert name in contract_names()
        artifact = load_artifact(name)
        assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 100
        assert len(artifact.deployed_bytecode) < len(artifact.bytecode)
        assert any(entry["type"] == "function" for entry in abi(name))
    functions = {entry["name"] for entry in abi("TaskRegistry") if entry["type"] == "function"}
    assert {"submitTask", "claimTask", "commitResult", "revealResult", "finalize"} <= functions
    assert bytecode("GOVToken") == load_artifact("GOVToken").bytecode


def test_unknown_contract_is_a_clear_error() -> None:
    with pytest.raises(UnknownContractError, match="no contract artifact named 'Nope'"):
        load_artifact("Nope")


def test_build_is_pinned() -> None:
    metadata = build_metadata()
    assert metadata["evmVersion"] == "cancun"
    assert metadata["compiler"].startswith("0.8.37+")
    assert metadata["openzeppelin"].startswith("5.")
    assert metadata["optimizer"] == {"enabled": True, "runs": 200}


def test_artifacts_match_the_sources() -> None:
    """Stale artifacts (a .sol edited without `node contracts/build.mjs`) fail here."""
    recorded = build_metadata()["sourceFiles"]
    own = {f"src/{path.name}" for path in (CONTRACTS_DIR / "src").glob("*.sol")}
    assert own == {path for path in recorded if path.startswith("src/")}
    checked = 0
    for path, digest in recorded.items():
        base = CONTRACTS_DIR if path.startswith("src/") else CONTRACTS_DIR / "node_modules"
        file = base / path
        if not file.is_file():  # OpenZeppelin is only present after `npm ci`
            continue
        assert hashlib.sha256(file.read_bytes()).hexdigest() == digest, f"{path} changed; rebuild"
        checked += 1
    assert checked >= len(own)
