"""`WalletService`: missing, locked, unlocked; degraded but never raising; keys dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from wallet_helpers import FAST_KDF, PASSPHRASE, MemoryKeyring, write_secret

from oarn_tui.config import NodeConfig, load_config
from oarn_tui.runtime.node import merge_sections
from oarn_tui.wallet import identity, keyring_store, operations
from oarn_tui.wallet.service import WalletService
from oarn_tui.wallet.unlock import open_wallet

KEY = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


class EventLog:
    """Collects what the service publishes (the runtime's `events.publish` signature)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, **data: Any) -> None:
        self.events.append((kind, data))


class CommandTable:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def register(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler


class RuntimeShape:
    """Only the attributes of the runtime that `WalletService` touches."""

    def __init__(self, config: NodeConfig) -> None:
        self.config, self.home = config, config.home
        self.events, self.commands = EventLog(), CommandTable()


@pytest.fixture
def runtime(tmp_path: Path) -> RuntimeShape:
    return RuntimeShape(load_config(tmp_path, env={}))


def vault_of(runtime: RuntimeShape) -> Path:
    path = runtime.config.path(runtime.config.node.wallet_path)
    if not path.exists():
        operations.import_private_key(path, PASSPHRASE, KEY, FAST_KDF)
    return path


async def test_missing_wallet_is_degraded_not_dead(runtime: RuntimeShape) -> None:
    service = WalletService(env={})
    await service.start(runtime)
    status = service.status()
    assert status["state"] == "missing" and status["service_state"] == "degraded"
    assert status["unlock"] == "none" and "oarn wallet create" in status["reason"]
    assert service.signer is None
    assert runtime.events.events[-1][0] == "wallet.state"
    assert set(runtime.commands.handlers) == {"wallet.status", "wallet.lock", "wallet.unlock",
                                              "wallet.create", "wallet.import"}


async def test_locked_without_a_source_and_with_a_wrong_passphrase(
        runtime: RuntimeShape) -> None:
    vault_of(runtime)
    service = WalletService(env={})
    await service.start(runtime)
    status = service.status()
    assert status["state"] == "locked" and "no passphrase source" in status["reason"]
    assert status["address"] == "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
    wrong = WalletService(passphrase="not the passphrase", env={})
    await wrong.start(runtime)
    assert wrong.status()["state"] == "locked"
    assert "wrong passphrase" in wrong.status()["reason"]


async def test_passphrase_from_before_fork_unlocks_and_stop_drops_keys(
        runtime: RuntimeShape, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    vault_of(runtime)
    service = WalletService(passphrase=PASSPHRASE, unlock_method="prompt", env={})
    await service.start(runtime)
    status = service.status()
    assert status["state"] == "unlocked" and status["service_state"] == "running"
    assert status["unlock"] == "prompt"
    wallet = service.unlocked
    assert wallet is not None and service.signer is wallet.signer
    assert identity.verify_binding(wallet.peer_id, wallet.address, wallet.binding_signature)
    assert await runtime.commands.handlers["wallet.status"]() == status
    await service.stop()
    assert wallet.closed and service.signer is None
    assert service.status()["state"] == "locked"
    assert PASSPHRASE not in caplog.text and KEY not in caplog.text
    assert service._passphrase is None


async def test_headless_sources_and_prebuilt_wallet(runtime: RuntimeShape, tmp_path: Path,
                                                    memory_keyring: MemoryKeyring) -> None:
    vault = vault_of(runtime)
    pass_file = write_secret(tmp_path / "pw", PASSPHRASE)
    by_env = WalletService(env={"OARN_PASSWORD_FILE": str(pass_file)})
    await by_env.start(runtime)
    assert by_env.status()["unlock"] == "password-file"
    keyring_store.store_secret(vault, PASSPHRASE)
    by_keyring = WalletService(env={})
    await by_keyring.start(runtime)
    assert by_keyring.status()["unlock"] == "keyring"
    prebuilt = WalletService(unlocked=open_wallet(vault, PASSPHRASE, "credentials"))
    await prebuilt.start(runtime)
    assert prebuilt.status()["unlock"] == "credentials"
    await runtime.commands.handlers["wallet.lock"]()
    assert prebuilt.status()["state"] == "locked"


async def test_damaged_vault_reports_locked_with_reason(runtime: RuntimeShape) -> None:
    vault = vault_of(runtime)
    data = bytearray(vault.read_bytes())
    data[-5] ^= 1
    vault.write_bytes(bytes(data))
    service = WalletService(passphrase=PASSPHRASE)
    await service.start(runtime)
    assert service.status()["state"] == "locked"
    assert "damaged" in service.status()["reason"]


async def test_zeroed_bytearray_passphrase_still_unlocks_and_status_doc(
        runtime: RuntimeShape) -> None:
    """The daemon zeroes its buffer right after building the runtime: the service copied it."""
    vault_of(runtime)
    secret = bytearray(PASSPHRASE.encode())
    service = WalletService(passphrase=secret, unlock_method="credentials")
    secret[:] = bytes(len(secret))
    await service.start(runtime)
    doc: dict[str, Any] = {"peer_id": None, "wallet": {"address": None, "state": "missing",
                                                        "unlock": "none", "earned": "0"}}
    merge_sections(doc, [("wallet", service.status_fields())])  # as NodeRuntime.status does
    assert doc["wallet"]["state"] == "unlocked" and doc["wallet"]["unlock"] == "credentials"
    assert doc["wallet"]["earned"] == "0"
    assert doc["peer_id"] == service.status()["peer_id"] is not None
