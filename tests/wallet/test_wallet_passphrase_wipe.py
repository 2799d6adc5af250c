"""The passphrase stays in a mutable buffer from `build_runtime` to the unlock, then is wiped.

Issue 13: `build_runtime` turned the daemon's passphrase bytearray into an immutable `str`, so
the daemon's zeroing of its own buffer left a copy nobody could wipe.
"""

from __future__ import annotations

from pathlib import Path

from wallet_helpers import FAST_KDF, PASSPHRASE

from oarn_tui.config import load_config
from oarn_tui.runtime.assemble import build_runtime
from oarn_tui.wallet import operations
from oarn_tui.wallet.unlock import open_wallet
from oarn_tui.wallet.vault import KdfParams, derive_key

KEY = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


async def test_build_runtime_hands_a_bytearray_that_is_zeroed_after_unlock(
        tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    operations.import_private_key(config.path(config.node.wallet_path), PASSPHRASE, KEY,
                                  FAST_KDF)
    given = bytearray(PASSPHRASE.encode())
    runtime = build_runtime(config, passphrase=given, unlock_source="password-file",
                            log_to_file=False)
    try:
        given[:] = bytes(len(given))  # what the daemon does right after build_runtime
        wallet = runtime.services["wallet"]
        held = wallet._passphrase
        assert isinstance(held, bytearray), f"the runtime holds the passphrase as {type(held)}"
        assert bytes(held) == PASSPHRASE.encode()
        await wallet.start(runtime)
        assert wallet.status()["state"] == "unlocked"
        assert wallet._passphrase is None
        assert held == bytearray(len(held)), "the passphrase buffer was not wiped after unlock"
        await wallet.stop()
    finally:
        runtime.close()


def test_a_refused_passphrase_is_wiped_too(tmp_path: Path) -> None:
    import asyncio

    config = load_config(tmp_path, env={})
    operations.import_private_key(config.path(config.node.wallet_path), PASSPHRASE, KEY,
                                  FAST_KDF)
    runtime = build_runtime(config, passphrase=bytearray(b"not the passphrase"),
                            log_to_file=False)
    try:
        wallet = runtime.services["wallet"]
        held = wallet._passphrase
        asyncio.run(wallet.start(runtime))
        assert wallet.status()["state"] == "locked"
        assert isinstance(held, bytearray) and held == bytearray(len(held))
    finally:
        runtime.close()


def test_a_bytearray_passphrase_opens_the_vault_in_place(tmp_path: Path) -> None:
    """`derive_key` reads a bytearray through a buffer view: same key as from the str, and
    the caller's buffer is left as it was (it is the caller's to wipe)."""
    vault = tmp_path / "wallet.vault"
    operations.import_private_key(vault, PASSPHRASE, KEY, FAST_KDF)
    secret = bytearray(PASSPHRASE.encode())
    with open_wallet(vault, secret, "prompt") as wallet:
        assert wallet.address.lower().startswith("0x")
    assert bytes(secret) == PASSPHRASE.encode()
    salt = b"s" * 16
    params = KdfParams.minimum()
    assert derive_key(secret, salt, params) == derive_key(PASSPHRASE, salt, params) \
        == derive_key(PASSPHRASE.encode(), salt, params)
