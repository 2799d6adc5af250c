"""The top bar: node name, profile, short peer ID, chain block and state, attached badge."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt

STATE_STYLES = {"running": "green", "connected": "green", "degraded": "yellow",
                "stopped": "dim", "disabled": "dim", "failed": "red", "unreachable": "red"}


def state_style(state: str) -> str:
    return STATE_STYLES.get(state, "")


class NodeHeader(Widget):
    """One line (two on narrow terminals wrap) describing the node at a glance."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: NodeSnapshot | None = None
        self.error = ""
        self._shown: Text | None = None

    def show(self, snapshot: NodeSnapshot | None, error: str = "") -> None:
        """Re-render only when what the header says changes (uptime moves once a minute)."""
        self.snapshot, self.error = snapshot, error
        text = self.describe()
        if text != self._shown:
            self._shown = text
            self.refresh()

    def render(self) -> Text:
        return self._shown if self._shown is not None else self.describe()

    def describe(self) -> Text:
        snap = self.snapshot
        text = Text(no_wrap=False, overflow="ellipsis")
        if snap is None:
            text.append(" oarn ", style="bold reverse")
            text.append("  connecting to the node…", style="dim")
            return text
        text.append(f" {safe_text(snap.node_name or 'oarn', limit=40)} ", style="bold reverse")
        if snap.attached:
            text.append(" ATTACHED ", style="bold black on cyan")
        text.append(f" {safe_text(snap.profile)}", style="bold")
        text.append("  ")
        if snap.accepting:
            text.append("● accepting", style="green")
        else:
            text.append("‖ paused", style="yellow bold")
        chain = snap.chain
        block = f"#{safe_text(chain.block)}" if chain.block is not None else "#—"
        text.append("  chain ")
        text.append(f"{block} {safe_text(chain.state)}", style=state_style(chain.state))
        text.append(f"  {len(snap.peers)} peers ", style=state_style(snap.network_state))
        text.append(f"({safe_text(snap.network_state)})", style=state_style(snap.network_state))
        text.append(f"  {safe_text(snap.short_peer_id or 'no peer id')}", style="cyan")
        text.append(f"  up {fmt.uptime(snap.uptime_s)}", style="dim")
        if self.error:
            text.append(f"  ⚠ {safe_text(self.error)}", style="bold red")
        return text
