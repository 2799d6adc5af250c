"""OS keyring: a real backend through keyring's interface, and the failing/null/prompting ones."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, fail, null
from keyring.testing.backend import BackendBasicTests
from wallet_helpers import FAST_KDF, PASSPHRASE, MemoryKeyring

from oarn_tui.wallet import keyring_store, operations
from oarn_tui.wallet.errors import KeyringUnavailable, PassphraseUnavailable
from oarn_tui.wallet.unlock import headless_unlock_method, unlock_vault_path

KEY = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


class TestMemoryKeyringBackend(BackendBasicTests):
    """The in-memory backend the tests use passes keyring's own backend test suite."""

    def init_keyring(self) -> MemoryKeyring:
        return MemoryKeyring()


def make_alt_file_backend() -> keyring.backend.KeyringBackend:
    """A backend living in a `keyrings.alt...` module, like keyrings.alt's file keyrings."""
    cls = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    return cls()


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.vault"
    operations.import_private_key(path, PASSPHRASE, KEY, FAST_KDF)
    return path


def test_real_backend_is_used_and_unlocks(vault: Path, memory_keyring: MemoryKeyring) -> None:
    state = keyring_store.status()
    assert state.usable and state.backend.endswith("MemoryKeyring")
    keyring_store.store_secret(vault, PASSPHRASE)
    assert memory_keyring.entries == {("oarn", str(vault.resolve())): PASSPHRASE}
    assert headless_unlock_method(vault, env={}) == "keyring"
    wallet = unlock_vault_path(vault, None, interactive=False, env={})
    assert wallet.unlock_method == "keyring"
    assert keyring_store.delete_secret(vault)
    assert not keyring_store.delete_secret(vault)
    with pytest.raises(PassphraseUnavailable):
        unlock_vault_path(vault, None, interactive=False, env={})


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), make_alt_file_backend()],
                         ids=["fail", "null", "keyrings.alt"])
def test_unusable_backends_fall_back_to_the_passphrase(vault: Path, backend: object) -> None:
    keyring.set_keyring(backend)
    state = keyring_store.status()
    assert not state.usable and state.reason
    assert keyring_store.load_secret(vault) is None
    with pytest.raises(KeyringUnavailable, match="password-file"):
        keyring_store.store_secret(vault, PASSPHRASE)
    assert getattr(backend, "entries", {}) == {}
    assert headless_unlock_method(vault, env={}) == "none"


def test_chainer_with_only_fallback_members_counts_as_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    alt = make_alt_file_backend()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [alt])
    keyring.set_keyring(chainer.ChainerBackend())
    state = keyring_store.status()
    assert not state.usable and "no real backend" in state.reason
    real = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [alt, real])
    backend, state = keyring_store.usable_backend()
    assert backend is real and state.usable


def test_stale_keyring_entry_falls_through(vault: Path, memory_keyring: MemoryKeyring,
                                           caplog: pytest.LogCaptureFixture) -> None:
    keyring_store.store_secret(vault, "an old passphrase")
    caplog.set_level("DEBUG")
    with pytest.raises(PassphraseUnavailable):
        unlock_vault_path(vault, None, interactive=False, env={})
    assert "no longer opens the vault" in caplog.text
    assert "an old passphrase" not in caplog.text
    wallet = unlock_vault_path(vault, None, env={}, prompt=lambda: PASSPHRASE,
                               is_tty=lambda: True)
    assert wallet.unlock_method == "prompt"


def test_broken_backend_errors_are_contained(vault: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise RuntimeError(f"dbus said no for {username}")

    keyring.set_keyring(Exploding())
    caplog.set_level("DEBUG")
    assert keyring_store.load_secret(vault) is None
    assert "RuntimeError" in caplog.text
