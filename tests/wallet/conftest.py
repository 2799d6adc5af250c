"""Fixtures for the wallet tests: an isolated keyring, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from wallet_helpers import PASSPHRASE, MemoryKeyring, write_secret


@pytest.fixture(autouse=True)
def isolated_keyring() -> Iterator[None]:
    """Every wallet test starts with keyring's failing backend (never the developer's keyring)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OARN_PASSWORD_FILE", "CREDENTIALS_DIRECTORY", "OARN_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    return write_secret(tmp_path / "pass.txt", PASSPHRASE)
