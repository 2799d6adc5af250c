"""`oarn wallet`: the wallet's own commands plus the chain's `balance` and `send`."""

from __future__ import annotations

from oarn_tui.commands.chain import balance, send
from oarn_tui.commands.wallet import wallet

wallet.add_command(balance, "balance")
wallet.add_command(send, "send")

__all__ = ["wallet"]
