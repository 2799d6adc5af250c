"""One way for a command to change the home: through its node — the daemon when one runs,
otherwise an embedded runtime under the home lock.

Every write of the CLI (`oarn config set`, `oarn wallet send`, `oarn stake|unstake`, the task
commands) goes through `node_for(...)` and then `await node.command(name, **args)`, the same
runtime commands the dashboard and the control API call. So the config file, the vault and the
account's nonces have one owner: a CLI send while the daemon claims tasks is sent by the
daemon's own chain client (issue 13), and with no daemon the embedded runtime holds the home
lock, so none can start meanwhile.

The embedded runtime is only as large as the command needs (`Embed`):
  - `"bare"`: the runtime's built-in commands (`config.set`, `config.reload`), no services;
  - `"wallet"`: bare plus the wallet service alone (no chain, no p2p), for `wallet.create` /
    `wallet.import` (`oarn wallet create|import`); a home without `config.toml` is allowed;
  - `"chain"`: the wallet (unlocked here: one KDF run) and the chain service; it signs with the
    unlocked key and does not register the node on chain (no peer ID is handed to it);
  - `"full"`: the whole node (`build_runtime(worker=False)`), for the requester commands, which
    serve the model and input over p2p.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from oarn_tui.cli_support import AppContext, UserError

Embed = Literal["bare", "wallet", "chain", "full"]
CHAIN_CONNECT_S = 30.0


class Node:
    """The home's node as a command sees it: `command(name, **args)`, one-line errors."""

    def __init__(self, *, client: Any = None, runtime: Any = None) -> None:
        self.client = client
        self.runtime = runtime

    @property
    def daemon(self) -> bool:
        """True when the home's daemon answers the commands (over its control socket)."""
        return self.client is not None

    async def command(self, name: str, **args: Any) -> Any:
        from oarn_tui.core.service import CommandError
        from oarn_tui.runtime.control import ControlError

        try:
            if self.client is not None:
                return await asyncio.to_thread(self.client.command, name, **args)
            return await self.runtime.commands.call(name, **args)
        except (ControlError, CommandError) as exc:
            raise UserError(str(exc)) from None


def daemon_client(app: AppContext, timeout: float = 600.0) -> Any | None:
    """A control client of the home's running daemon, or None when none answers."""
    from oarn_tui.runtime.control import ControlClient, ControlError

    try:
        client = ControlClient(app.home, timeout=timeout)
        return client if client.is_running() else None
    except ControlError:
        return None


@contextlib.asynccontextmanager
async def node_for(app: AppContext, embed: Embed, *, password_file: Path | None = None,
                   timeout: float = 600.0, new_vault_kdf: Any = None) -> AsyncIterator[Node]:
    """The home's daemon if it runs, else an embedded runtime of kind `embed` (started, and
    for "chain"/"full" connected to the chain), stopped again on exit. `new_vault_kdf`: the
    Argon2id costs of a vault an embedded "wallet" runtime writes."""
    config = app.config() if embed == "wallet" else app.require_initialised()
    client = daemon_client(app, timeout)
    if client is not None:
        yield Node(client=client)
        return
    from oarn_tui.runtime.pidfile import HomeLock, HomeLocked

    lock = HomeLock(app.home)
    try:
        lock.acquire()
    except HomeLocked as exc:
        raise UserError(str(exc)) from None
    try:
        runtime = _build(app, config, embed, password_file, new_vault_kdf)
        try:
            await runtime.start()
            if embed in ("chain", "full"):
                await _connected(runtime)
            yield Node(runtime=runtime)
        finally:
            await runtime.stop()
            runtime.close()
    finally:
        lock.release()


def _build(app: AppContext, config: Any, embed: Embed, password_file: Path | None,
           new_vault_kdf: Any = None) -> Any:
    from oarn_tui.runtime.node import NodeRuntime

    if embed == "bare":
        return NodeRuntime(config, log_to_file=False)
    if embed == "wallet":
        from oarn_tui.wallet.service import WalletService

        runtime = NodeRuntime(config, log_to_file=False)
        runtime.add_service(WalletService(new_vault_kdf=new_vault_kdf, use_keyring=False))
        return runtime
    if embed == "full":
        from oarn_tui.runtime.assemble import build_runtime
        from oarn_tui.runtime.daemon import obtain_passphrase

        passphrase, source = obtain_passphrase(app, password_file, interactive=True)
        if passphrase is None:
            raise UserError("this home has no wallet; run `oarn wallet create` first")
        try:
            return build_runtime(config, passphrase=passphrase, unlock_source=source,
                                 worker=False)
        finally:
            passphrase[:] = bytes(len(passphrase))
    from oarn_tui.chain.service import ChainService
    from oarn_tui.wallet.errors import WalletError
    from oarn_tui.wallet.service import WalletService
    from oarn_tui.wallet.unlock import unlock_signer

    try:
        unlocked = unlock_signer(app.home, config, password_file)
    except WalletError as exc:
        raise UserError(str(exc)) from None
    from oarn_tui.runtime.assemble import AssembledRuntime

    runtime = AssembledRuntime(config, log_to_file=False)
    chain = ChainService(signer=unlocked.signer, state_db=runtime.db)
    runtime.add_service(WalletService(unlocked=unlocked))
    runtime.add_service(chain)
    runtime.expose(chain=chain)  # `runtime.chain`, as on a node from build_runtime
    return runtime


async def _connected(runtime: Any) -> None:
    """Wait (bounded) for the chain service's first connection; one line if it failed."""
    chain = runtime.chain  # an AssembledRuntime's typed accessor (raises without a chain)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(chain.connected.wait(), CHAIN_CONNECT_S)
    if chain.contracts is None:
        raise UserError(f"cannot reach the chain: {chain.reason}")
