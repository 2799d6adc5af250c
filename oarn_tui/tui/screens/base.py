"""What every dashboard screen shares: it is told about each new snapshot and event batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from oarn_tui.core.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt

if TYPE_CHECKING:
    from oarn_tui.tui.app import OarnApp


def set_subtitle(widget: Widget, text: str) -> None:
    """Border labels are costly to re-render: touch them only when the text changes. The text
    goes in as `Content` (a `str` border label is parsed as markup) made safe."""
    subtitle = Content(safe_text(text))
    if widget.border_subtitle != subtitle.markup:
        widget.border_subtitle = subtitle


def show_message(label: Static, message: str, error: bool = False) -> None:
    """A screen's one-line status message; it often embeds an error or a peer's words, so it
    is shown literally (a `str` given to `Static.update` is parsed as markup)."""
    label.update(fmt.literal(message, multiline=True, limit=None))
    label.set_class(error, "error")


class NodeView:
    """Mixin: `show_snapshot` receives every refresh (snapshot may be None before the first)."""

    @property
    def oarn(self) -> OarnApp:
        return self.app  # type: ignore[attr-defined,no-any-return]

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        """Override to render; called on the UI loop after each poll."""

    def settle_inputs(self) -> None:
        """Apply the app's cursor-blink setting to every input (off in snapshot tests)."""
        for field in self.query(Input):  # type: ignore[attr-defined]
            field.cursor_blink = self.oarn.cursor_blink


class NodeScreen(NodeView, Screen[Any]):
    def on_mount(self) -> None:
        self.settle_inputs()
        self.show_snapshot(self.oarn.snapshot, [])


class NodeModal(NodeView, ModalScreen[Any]):
    def on_mount(self) -> None:
        self.settle_inputs()
        self.show_snapshot(self.oarn.snapshot, [])
