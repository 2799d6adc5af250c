"""The main screen: header, Tasks, Peers, GPU/VRAM telemetry, Wallet and Logs panes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Grid
from textual.widgets import Footer

from oarn_tui.core.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.tui.screens.base import NodeScreen, set_subtitle
from oarn_tui.tui.telemetry_feed import telemetry_for
from oarn_tui.tui.widgets.header import NodeHeader
from oarn_tui.tui.widgets.logs import LogsPane
from oarn_tui.tui.widgets.peers import PeersTable
from oarn_tui.tui.widgets.tasks import TasksTable
from oarn_tui.tui.widgets.telemetry import TelemetryPane
from oarn_tui.tui.widgets.wallet_pane import WalletPane


class Cell(Container):
    """Holds one pane (or the header, or the footer). A repaint is composited over every
    widget whose parent overlaps it, so with the panes side by side in one container each
    telemetry sample re-composited all of them; in their own cells the others are skipped.
    Blank: the pane fills it."""

    BLANK = True


class Panes(Grid):
    """The grid of cells; blank (its cells cover it), so a repaint skips drawing it."""

    BLANK = True


class DashboardScreen(NodeScreen):
    """Everything at a glance; panes are refreshed incrementally from each snapshot. Blank:
    header, panes and footer cover it."""

    BLANK = True

    # textual's Screen declares this an instance variable (`ClassVar[...] | None`)
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"),  # noqa: RUF012
                                                            (110, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "app.toggle_accepting", "Pause/Resume"),
        Binding("c", "claim", "Claim"),
        Binding("w", "app.open_wallet", "Wallet"),
        Binding("m", "app.open_models", "Models"),
        Binding("s", "app.open_settings", "Settings"),
        Binding("l", "cycle_log_level", "Log level"),
        Binding("t", "app.toggle_theme", "Theme", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.header = NodeHeader(id="header")
        self.tasks = TasksTable(self.oarn.clock, id="tasks")
        self.tasks.border_title = "Tasks"
        self.telemetry = TelemetryPane(id="telemetry")
        self.telemetry.border_title = "GPU / VRAM"
        self.peers = PeersTable(id="peers")
        self.peers.border_title = "Peers"
        self.wallet = WalletPane(id="wallet")
        self.wallet.border_title = "Wallet"
        self.logs = LogsPane(id="logs")
        self._shown: NodeSnapshot | None = None
        self._shown_error = ""

    def compose(self) -> ComposeResult:
        with Cell(id="header-cell"):
            yield self.header
        with Panes(id="panes"):
            for pane in (self.tasks, self.telemetry, self.peers, self.wallet, self.logs):
                with Cell(id=f"{pane.id}-cell"):
                    yield pane
        with Cell(id="footer-cell"):
            yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.tasks.focus()

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        """Logs and telemetry every tick; the rest only when the runtime handed over a new
        snapshot (an idle runtime returns the same one), bar the running tasks' clocks."""
        logs = [dict(e.data) for e in events if e.kind == "log"]
        if logs:
            self.logs.add_entries(logs)
        fresh = snapshot is not self._shown or self.oarn.poll_error != self._shown_error
        self._shown, self._shown_error = snapshot, self.oarn.poll_error
        if fresh:
            self.header.show(snapshot, self.oarn.poll_error)
        if snapshot is None:
            return
        self.telemetry.show(telemetry_for(snapshot, self.oarn.telemetry_feed))
        if fresh or self.tasks.has_running_clock:
            self.tasks.show(snapshot.tasks)
        if not fresh:
            return
        counts = ", ".join(f"{n} {stage}" for stage, n in sorted(snapshot.task_counts.items()))
        set_subtitle(self.tasks, counts or "no tasks yet")
        self.peers.show(snapshot.peers)
        set_subtitle(self.peers, f"{len(snapshot.peers)} connected")
        self.wallet.show(snapshot.wallet, snapshot.earnings)

    def on_tasks_table_task_chosen(self, message: TasksTable.TaskChosen) -> None:
        self.oarn.open_task(message.task_id)

    def action_claim(self) -> None:
        self.oarn.claim_selected()

    def action_cycle_log_level(self) -> None:
        level = self.logs.cycle_level()
        self.notify(f"showing logs at {level} and above", timeout=2)
