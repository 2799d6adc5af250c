"""The command palette's node commands (Textual `Provider`): pause/resume, claim, wallet, models,
settings, reload config, theme."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from oarn_tui.tui.app import OarnApp


class NodeCommands(Provider):
    """Everything the dashboard can ask the node to do, searchable by name."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: OarnApp = self.app  # type: ignore[assignment]
        return [
            ("Pause accepting tasks", "Stop taking new tasks (running ones finish)",
             partial(app.send_command, "pause", "accepting paused")),
            ("Resume accepting tasks", "Take new tasks again",
             partial(app.send_command, "resume", "accepting resumed")),
            ("Claim selected task", "Claim the task highlighted in the Tasks pane",
             app.claim_selected),
            ("Open task detail", "Stage timeline, CIDs and transactions of the selected task",
             app.open_selected_task),
            ("Wallet: unlock or send", "Balances, unlock with the passphrase, send funds",
             app.action_open_wallet),
            ("Models: pull or remove", "The local model store", app.action_open_models),
            ("Settings", "Edit config.toml with validation", app.action_open_settings),
            ("Reload config", "Apply config.toml changes that can change live",
             partial(app.send_command, "config.reload", "config reloaded")),
            ("Toggle dark/light theme", "Switch the dashboard theme", app.action_toggle_theme),
        ]

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
