"""Settings: every config key with its value; edit one and the node's `config.set` validates it
(a bad value shows the one-line error and writes nothing), writes it and applies it live."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Input, Static

from oarn_tui.config import SCHEMA, ConfigError, NodeConfig, load_config
from oarn_tui.tui import format as fmt
from oarn_tui.tui.screens.base import NodeScreen, show_message


def raw_value(value: Any) -> str:
    """A config value as the user would type it (`set_key` parses it as TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


class SettingsScreen(NodeScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-screen"):
            table: DataTable[Any] = DataTable(id="settings-table", cursor_type="row",
                                              zebra_stripes=True)
            table.border_title = "Settings"
            yield table
            yield Static("", id="settings-help")
            with Horizontal(classes="form-row"):
                yield Input(placeholder="select a key, type its new value", id="settings-value")
                yield Button("Save", id="settings-save", variant="primary")
            yield Static("", id="settings-message", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#settings-table", DataTable)
        table.add_column("Key", key="key")
        table.add_column("Value", key="value")
        table.add_column("Applies", key="applies")
        self.fill(self.oarn.config)
        super().on_mount()
        table.focus()

    def fill(self, config: NodeConfig) -> None:
        table = self.query_one("#settings-table", DataTable)
        for dotted, spec in SCHEMA.items():
            cells = (fmt.cell(dotted), fmt.cell(raw_value(config.get(dotted))),
                     "live" if spec.meta["live"] else "restart")
            if dotted in table.rows:
                table.update_cell(dotted, "value", cells[1])
            else:
                table.add_row(*cells, key=dotted)

    @on(DataTable.RowHighlighted, "#settings-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        dotted = str(event.row_key.value)
        self.selected = dotted
        spec = SCHEMA[dotted]
        choices = f" ({' | '.join(spec.meta['choices'])})" if spec.meta["choices"] else ""
        self.query_one("#settings-help", Static).update(
            fmt.literal(f"{dotted}: {spec.meta['help']}{choices}", multiline=True, limit=None))
        self.query_one("#settings-value", Input).value = raw_value(self.oarn.config.get(dotted))

    @on(DataTable.RowSelected, "#settings-table")
    def selected_row(self) -> None:
        self.query_one("#settings-value", Input).focus()

    @on(Button.Pressed, "#settings-save")
    @on(Input.Submitted, "#settings-value")
    def save(self) -> None:
        if self.selected is None:
            self.say("select a key first", error=True)
            return
        self.run_worker(self._save(self.selected, self.query_one("#settings-value", Input).value),
                        group="settings", exclusive=True)

    def say(self, message: str, error: bool = False) -> None:
        show_message(self.query_one("#settings-message", Static), message, error)

    async def _save(self, dotted: str, raw: str) -> None:
        """The node validates, writes and applies the key (`config.set`): the screen never
        writes config.toml itself, so the embedded node and an attached daemon are alike."""
        try:
            result = await self.oarn.node.command("config.set", key=dotted, value=raw)
        except Exception as exc:  # a bad value: the node's one-line reason, nothing written
            self.say(self.oarn.one_line(exc), error=True)
            return
        try:
            config = await asyncio.to_thread(load_config, self.oarn.home, None)
        except ConfigError as exc:
            self.say(str(exc), error=True)
            return
        self.oarn.config_changed(config)
        self.fill(config)
        restart = result.get("restart_needed") if isinstance(result, dict) else None
        self.say(f"saved {dotted}" + ("; takes effect after a restart" if restart else
                                      "; applied live"))
