"""`wallet.create` and `wallet.import`: the running node writes its own vault, then unlocks it.

The vault is the wallet service's: while a node runs on the home, the dashboard's onboarding
asks the node to create or import it (issue 13) instead of writing the file itself, so the
service that holds the keys is the one that made them, and the services that sign restart with
them at once. A home that already has a vault is refused (nothing is overwritten).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from oarn_tui.core.service import CommandError
from oarn_tui.wallet.errors import WalletError
from oarn_tui.wallet.vault import KdfParams

MNEMONIC_MIN_WORDS = 12
Adopt = Callable[[str], Awaitable[dict[str, Any]]]


class Provisioner:
    """Creates or imports the vault at `vault_path()`, then `adopt(passphrase)` unlocks it."""

    def __init__(self, vault_path: Callable[[], Path], adopt: Adopt,
                 kdf: KdfParams | None = None) -> None:
        self.vault_path = vault_path
        self.adopt = adopt
        self.kdf = kdf

    def _target(self) -> Path:
        path = self.vault_path()
        if path.exists():
            raise CommandError(f"a wallet vault already exists at {path}; refusing to "
                               "overwrite it")
        return path

    async def create(self, passphrase: str, words: int = 24) -> dict[str, Any]:
        """`wallet.create`: a fresh recovery phrase (returned once, for the user to write
        down), sealed under `passphrase`, then unlocked."""
        from oarn_tui.wallet import operations

        path = self._target()
        try:
            public, mnemonic = await asyncio.to_thread(
                operations.create, path, passphrase, num_words=int(words), kdf=self.kdf)
        except (WalletError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        status = await self.adopt(passphrase)
        return {"address": public["address"], "peer_id": public["peer_id"], "vault": str(path),
                "mnemonic": mnemonic, "state": status["state"]}

    async def import_(self, passphrase: str, secret: str, eth_path: str = "",
                      keystore_password: str = "") -> dict[str, Any]:
        """`wallet.import`: a recovery phrase (12+ words, account at `eth_path`), a hex private
        key, or a v3 keystore JSON (a `secret` starting with "{") under `keystore_password`."""
        from oarn_tui.wallet import identity, operations

        path = self._target()
        words = secret.split()
        try:
            if keystore_password or secret.lstrip().startswith("{"):
                public = await asyncio.to_thread(operations.import_keystore, path, passphrase,
                                                 secret, keystore_password, kdf=self.kdf)
            elif len(words) >= MNEMONIC_MIN_WORDS:
                public = await asyncio.to_thread(operations.import_mnemonic, path, passphrase,
                                                 " ".join(words),
                                                 eth_path or identity.ETH_DEFAULT_PATH,
                                                 kdf=self.kdf)
            else:
                public = await asyncio.to_thread(operations.import_private_key, path,
                                                 passphrase, secret.strip(), kdf=self.kdf)
        except (WalletError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        status = await self.adopt(passphrase)
        return {"address": public["address"], "peer_id": public["peer_id"],
                "origin": public["origin"], "vault": str(path), "state": status["state"]}
