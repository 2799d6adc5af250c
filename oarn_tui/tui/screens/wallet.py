"""Wallet screen: balances and earnings, unlock with the passphrase, send with confirmation.

Unlocking and sending are runtime commands (`wallet.unlock`, `wallet.send`); the passphrase goes
straight to the command and the input is cleared, it is never kept or logged here."""

from __future__ import annotations

import re
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Select, Static

from oarn_tui.amounts import AmountError, parse_amount
from oarn_tui.core.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.tui import format as fmt
from oarn_tui.tui.screens.base import NodeScreen, set_subtitle, show_message
from oarn_tui.tui.screens.confirm import ConfirmScreen
from oarn_tui.tui.widgets.wallet_pane import TOKENS, render_wallet

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def check_send(to: str, amount_text: str) -> tuple[str, int]:
    """Validate a send form; returns (address, wei) or raises ValueError with one line."""
    to = to.strip()
    if not ADDRESS.match(to):
        raise ValueError("recipient must be a 0x address of 40 hex digits")
    try:
        wei = parse_amount(amount_text.strip())
    except AmountError as exc:
        raise ValueError(str(exc)) from None
    if wei <= 0:
        raise ValueError("amount must be greater than zero")
    return to, wei


class WalletScreen(NodeScreen):
    shown: tuple[object, ...] | None = None
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="wallet-screen"):
            summary = Static(id="wallet-summary")
            summary.border_title = "Wallet"
            yield summary
            with Vertical(id="wallet-unlock", classes="form"):
                yield Label("Unlock (passphrase)")
                with Horizontal(classes="form-row"):
                    yield Input(placeholder="vault passphrase", password=True,
                                id="unlock-passphrase")
                    yield Button("Unlock", id="unlock", variant="primary")
            with Vertical(id="wallet-send", classes="form"):
                yield Label("Send")
                with Horizontal(classes="form-row"):
                    yield Input(placeholder="0x recipient", id="send-to")
                    yield Input(placeholder="amount", id="send-amount")
                    yield Select([(t, t) for t in TOKENS], value="COMP", allow_blank=False,
                                 id="send-token")
                    yield Button("Send…", id="send", variant="warning")
            yield Static("", id="wallet-message", classes="message")
        yield Footer()

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        summary = self.query_one("#wallet-summary", Static)
        if snapshot is None:
            summary.update("waiting for the node…")
            return
        view = (snapshot.wallet, snapshot.earnings)
        if view != self.shown:
            self.shown = view
            summary.update(render_wallet(snapshot.wallet, snapshot.earnings, recent=5))
        set_subtitle(summary, f"unlock: {snapshot.wallet.unlock}")

    def say(self, message: str, error: bool = False) -> None:
        show_message(self.query_one("#wallet-message", Static), message, error)

    @on(Button.Pressed, "#unlock")
    @on(Input.Submitted, "#unlock-passphrase")
    def unlock(self) -> None:
        field = self.query_one("#unlock-passphrase", Input)
        passphrase = field.value
        field.value = ""
        if not passphrase:
            self.say("enter the vault passphrase", error=True)
            return
        self.say("unlocking…")
        self.run_worker(self._command("wallet.unlock", "wallet unlocked",
                                      passphrase=passphrase), group="wallet")

    @on(Button.Pressed, "#send")
    def send(self) -> None:
        to = self.query_one("#send-to", Input).value
        amount_text = self.query_one("#send-amount", Input).value
        token = str(self.query_one("#send-token", Select).value)
        try:
            address, wei = check_send(to, amount_text)
        except ValueError as exc:
            self.say(str(exc), error=True)
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                self.say("send cancelled")
                return
            self.say("sending…")
            self.run_worker(self._command("wallet.send", f"sent {fmt.amount(wei, token)}",
                                          to=address, amount=str(amount_text).strip(),
                                          token=token), group="wallet")

        self.app.push_screen(ConfirmScreen(
            f"Send {fmt.amount(wei, token)} to {address}?\nThis cannot be undone.", "Send"),
            confirmed)

    async def _command(self, name: str, done: str, **args: object) -> None:
        try:
            result = await self.oarn.node.command(name, **args)
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        tx = result.get("tx_hash") if isinstance(result, dict) else None
        self.say(f"{done}" + (f" (tx {tx})" if tx else ""))
        self.oarn.kick()
