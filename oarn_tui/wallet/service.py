"""`WalletService`: the wallet inside the node runtime (name "wallet", no dependencies).

Wallet states: `missing` (no vault), `locked` (vault present, not opened — no passphrase source,
a wrong one, or a damaged vault; `reason` says which), `unlocked`. A missing or locked wallet never
stops the node: the service reports `service_state` "degraded" and the node does what it can
without keys. The daemon unlocks *before* forking (prompt, keyring or password file) and passes
either the `UnlockedWallet` or the passphrase; without either the service tries the headless
sources itself (password file variable, systemd credential, keyring).

Other services are handed this service as their `WalletFace` (`wallet/face.py`) and read
`.unlocked` (an `UnlockedWallet` or None) or `.signer`. Events: `wallet.state` with `state`,
`address`, `unlock`. Commands: `wallet.status`, `wallet.lock`. `status_fields()` is
`status --json`'s `wallet` block (and `peer_id`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oarn_tui.core.service import ServiceBase, ServiceHost
from oarn_tui.wallet.errors import VaultMissing, WalletError
from oarn_tui.wallet.signer import LocalSigner
from oarn_tui.wallet.unlock import UnlockedWallet, open_wallet, unlock_vault_path, vault_path_of
from oarn_tui.wallet.vault import KdfParams, read_vault

log = logging.getLogger(__name__)


class WalletService(ServiceBase):
    """Holds the unlocked wallet for the runtime; degraded, never dead, without one."""

    name = "wallet"
    depends_on: tuple[str, ...] = ()

    def __init__(self, *, unlocked: UnlockedWallet | None = None,
                 passphrase: str | bytes | bytearray | None = None,
                 unlock_method: str = "prompt", password_file: Path | None = None,
                 use_keyring: bool = True, env: Mapping[str, str] | None = None,
                 new_vault_kdf: KdfParams | None = None) -> None:
        """`passphrase` is copied at once into a `bytearray` the service owns (the caller may
        zero its buffer right after); the copy is zeroed as soon as the unlock has used it.
        `new_vault_kdf`: Argon2id costs of a vault `wallet.create|import` writes (tests)."""
        self.new_vault_kdf = new_vault_kdf
        self._unlocked = unlocked
        self._passphrase: bytearray | None = None
        if passphrase is not None:
            self._passphrase = bytearray(passphrase.encode("utf-8") if isinstance(
                passphrase, str) else passphrase)
        self._unlock_method = unlock_method
        self._password_file = password_file
        self._use_keyring = use_keyring
        self._env = env
        self._state = "locked"
        self._reason = "not started"
        self._address: str | None = None
        self._peer_id: str | None = None
        self._runtime: Any = None

    @property
    def unlocked(self) -> UnlockedWallet | None:
        wallet = self._unlocked
        return wallet if wallet is not None and not wallet.closed else None

    @property
    def signer(self) -> LocalSigner | None:
        wallet = self.unlocked
        return wallet.signer if wallet is not None else None

    async def start(self, runtime: ServiceHost) -> None:
        self._runtime = runtime
        await self.open(vault_path_of(runtime.config))
        register = getattr(getattr(runtime, "commands", None), "register", None)
        if register is not None:
            register("wallet.status", self._status_command)
            register("wallet.lock", self._lock_command)
            register("wallet.unlock", self._unlock_command)
            from oarn_tui.wallet.provision import Provisioner

            provisioner = Provisioner(lambda: vault_path_of(runtime.config),
                                      self._unlock_command, self.new_vault_kdf)
            register("wallet.create", provisioner.create)
            register("wallet.import", provisioner.import_)

    async def open(self, vault_path: Path) -> None:
        """Move to missing/locked/unlocked for `vault_path`; never raises for user problems."""
        passphrase, self._passphrase = self._passphrase, None
        try:
            public = read_vault(vault_path).public
            self._address, self._peer_id = public.get("address"), public.get("peer_id")
            if self._unlocked is None:
                self._unlocked = await asyncio.to_thread(self._unlock, vault_path, passphrase)
        except VaultMissing:
            self._set("missing", f"no wallet vault at {vault_path}; run `oarn wallet create`")
            return
        except WalletError as exc:
            self._set("locked", str(exc))
            return
        finally:
            if passphrase is not None:
                passphrase[:] = bytes(len(passphrase))  # used (or refused): wipe it now
        self._address = self._unlocked.address
        self._set("unlocked", "")

    def _unlock(self, vault_path: Path, passphrase: bytearray | None) -> UnlockedWallet:
        if passphrase is not None:
            return open_wallet(vault_path, passphrase, self._unlock_method)
        return unlock_vault_path(vault_path, self._password_file, interactive=False,
                                 use_keyring=self._use_keyring, env=self._env)

    def _set(self, state: str, reason: str) -> None:
        self._state, self._reason = state, reason
        if state != "unlocked":
            log.warning("wallet %s: %s", state, reason)
        events = getattr(self._runtime, "events", None)
        if events is not None:
            events.publish("wallet.state", state=state, address=self._address,
                           unlock=self._method())

    def _method(self) -> str:
        wallet = self.unlocked
        return wallet.unlock_method if wallet is not None else "none"

    async def stop(self) -> None:
        self.lock()

    def lock(self) -> None:
        """Drop the keys (the vault stays on disk)."""
        if self._unlocked is not None:
            self._unlocked.close()
            self._unlocked = None
        if self._state == "unlocked":
            self._set("locked", "locked by request")

    def status(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "service_state": "running" if self._state == "unlocked" else "degraded",
            "reason": self._reason,
            "address": self._address,
            "peer_id": self._peer_id,
            "unlock": self._method(),
        }

    def status_fields(self) -> Mapping[str, Any]:
        """`wallet {address, state, unlock, reason}` and the vault's `peer_id` (the runtime
        prefers the running p2p host's, see `NodeRuntime.status`)."""
        status = self.status()
        fields: dict[str, Any] = {"wallet": {key: status[key] for key in
                                             ("address", "state", "unlock", "reason")}}
        if status["peer_id"]:
            fields["peer_id"] = status["peer_id"]
        return fields

    async def _status_command(self, **_params: Any) -> dict[str, Any]:
        return self.status()

    async def _unlock_command(self, passphrase: str) -> dict[str, Any]:
        """Unlock a running node (the dashboard's Wallet screen), then restart the services
        that use the keys so the chain client signs and the p2p host carries the identity."""
        from oarn_tui.core.service import CommandError

        if self.unlocked is not None:
            return self.status()
        self._passphrase, self._unlock_method = bytearray(passphrase.encode("utf-8")), "prompt"
        await self.open(vault_path_of(self._runtime.config))
        if self._state != "unlocked":
            raise CommandError(self._reason)
        restart = getattr(self._runtime, "restart_dependents", None)
        if restart is not None:
            await restart(self.name)
        return self.status()

    async def _lock_command(self, **_params: Any) -> dict[str, Any]:
        self.lock()
        return self.status()
