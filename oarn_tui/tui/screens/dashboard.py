"""The main screen: header, Tasks, Peers, GPU/VRAM telemetry, Wallet and Logs panes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Footer

from oarn_tui.runtime.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.tui.screens.base import NodeScreen, set_subtitle
from oarn_tui.tui.telemetry_feed import telemetry_for
from oarn_tui.tui.widgets.header import NodeHeader
from oarn_tui.tui.widgets.logs import LogsPane
from oarn_tui.tui.widgets.peers import PeersTable
from oarn_tui.tui.widgets.tasks import TasksTable
from oarn_tui.tui.widgets.telemetry import TelemetryPane
from oarn_tui.tui.widgets.wallet_pane import WalletPane


class DashboardScreen(NodeScreen):
    """Everything at a glance; panes are refreshed incrementally from each snapshot."""

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-narrow"),
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

    def compose(self) -> ComposeResult:
        yield self.header
        with Grid(id="panes"):
            yield self.tasks
            yield self.telemetry
            yield self.peers
            yield self.wallet
            yield self.logs
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.tasks.focus()

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        self.header.show(snapshot, self.oarn.poll_error)
        logs = [dict(e.data) for e in events if e.kind == "log"]
        if logs:
            self.logs.add_entries(logs)
        if snapshot is None:
            return
        self.tasks.show(snapshot.tasks)
        counts = ", ".join(f"{n} {stage}" for stage, n in sorted(snapshot.task_counts.items()))
        set_subtitle(self.tasks, counts or "no tasks yet")
        self.peers.show(snapshot.peers)
        set_subtitle(self.peers, f"{len(snapshot.peers)} connected")
        self.telemetry.show(telemetry_for(snapshot, self.oarn.telemetry_feed))
        self.wallet.show(snapshot.wallet, snapshot.earnings)

    def on_tasks_table_task_chosen(self, message: TasksTable.TaskChosen) -> None:
        self.oarn.open_task(message.task_id)

    def action_claim(self) -> None:
        task_id = self.tasks.selected_task_id
        if task_id is None:
            self.notify("no task selected", severity="warning")
            return
        self.oarn.claim_task(task_id)

    def action_cycle_log_level(self) -> None:
        level = self.logs.cycle_level()
        self.notify(f"showing logs at {level} and above", timeout=2)
