"""Builds a `NodeRuntime` with every service the config asks for (the daemon, the dashboard and
`oarn local` all use this, so they run the same node)."""

from __future__ import annotations

from oarn_tui.config import NodeConfig
from oarn_tui.runtime.node import NodeRuntime


def build_runtime(config: NodeConfig, *, passphrase: bytearray | None = None,
                  unlock_source: str = "none", log_to_file: bool = True) -> NodeRuntime:
    """A runtime with its services added (not started). `passphrase` unlocks the wallet."""
    from oarn_tui.runtime.metrics import MetricsService
    from oarn_tui.wallet.service import WalletService

    runtime = NodeRuntime(config, log_to_file=log_to_file)
    secret = bytes(passphrase).decode("utf-8") if passphrase is not None else None
    runtime.add_service(WalletService(passphrase=secret, unlock_method=unlock_source))
    runtime.add_service(MetricsService())
    return runtime
