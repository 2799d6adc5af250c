"""`wallet.create` / `wallet.import` on a running node: the wallet service writes the vault,
unlocks it, and refuses to overwrite one that exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from wallet_helpers import PASSPHRASE

from oarn_tui.config import load_config
from oarn_tui.core.service import CommandError
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.wallet.service import WalletService
from oarn_tui.wallet.vault import KdfParams

KEY = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


async def test_create_then_import_is_refused_and_the_vault_kept(tmp_path: Path) -> None:
    runtime = NodeRuntime(load_config(tmp_path, env={}), log_to_file=False)
    wallet = WalletService(env={}, new_vault_kdf=KdfParams.minimum())
    runtime.add_service(wallet)
    await runtime.start()
    try:
        assert wallet.status()["state"] == "missing"
        created = await runtime.commands.call("wallet.create", passphrase=PASSPHRASE, words=12)
        assert created["state"] == "unlocked" and len(created["mnemonic"].split()) == 12
        assert wallet.signer is not None and wallet.signer.address == created["address"]
        vault = Path(created["vault"]).read_bytes()
        with pytest.raises(CommandError, match="already exists"):
            await runtime.commands.call("wallet.import", passphrase=PASSPHRASE, secret=KEY)
        assert Path(created["vault"]).read_bytes() == vault
    finally:
        await runtime.stop()
        runtime.close()
