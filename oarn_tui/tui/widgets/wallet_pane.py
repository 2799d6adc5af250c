"""Wallet pane: address and lock state, ETH/GOV/COMP balances, pending rewards, recent earnings."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from oarn_tui.runtime.snapshot import EarningView, WalletView
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt

TOKENS = ("ETH", "GOV", "COMP")
WALLET_STATE_STYLES = {"unlocked": "green", "locked": "yellow", "missing": "red"}


def balance_of(wallet: WalletView, token: str) -> int | None:
    for name, value in wallet.balances_wei.items():
        if name.upper() == token:
            return value
    return None


def render_wallet(wallet: WalletView, earnings: tuple[EarningView, ...], recent: int) -> Text:
    """Address, balances, pending and earned COMP, then the `recent` latest earnings."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(fmt.short_id(wallet.address, 8, 6) if wallet.address else "no wallet",
                style="bold")
    text.append(f"  {safe_text(wallet.state)}\n", style=WALLET_STATE_STYLES.get(wallet.state, ""))
    for token in TOKENS:
        value = balance_of(wallet, token)
        text.append(f"{token:<8}", style="bold")
        text.append(fmt.amount(value) if value is not None else "—")
        text.append("\n")
    text.append(f"{'pending':<8}", style="bold")
    text.append(fmt.amount(wallet.pending_rewards_wei, "COMP") + "\n", style="yellow")
    text.append(f"{'earned':<8}", style="bold")
    text.append(fmt.amount(wallet.earned_wei, "COMP") + "\n", style="green")
    for earning in earnings[:recent]:
        text.append(f"+{fmt.amount(earning.amount_wei)} ", style="green")
        text.append(f"task {fmt.short_id(earning.task_id, 6, 4)}", style="dim")
        text.append("\n")
    text.rstrip()
    return text


class WalletPane(Widget):
    """Shows the wallet part of the latest snapshot."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: tuple[WalletView, tuple[EarningView, ...]] | None = None

    def show(self, wallet: WalletView, earnings: tuple[EarningView, ...]) -> None:
        if (wallet, earnings) != self.view:
            self.view = (wallet, earnings)
            self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return Text("waiting for the node…", style="dim")
        wallet, earnings = self.view
        return render_wallet(wallet, earnings, recent=max(0, self.content_size.height - 6))
