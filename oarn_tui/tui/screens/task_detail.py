"""Task detail: fields, CIDs, transaction hashes, the stage timeline and any failure reason,
from the runtime's `task.get` command (reloaded when the task changes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from oarn_tui.core.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt
from oarn_tui.tui.screens.base import NodeScreen

REASON_LIMIT = 1000
FIELDS = (("stage", "Stage"), ("role", "Role"), ("model", "Model"), ("model_cid", "Model CID"),
          ("input_cid", "Input CID"), ("result_cid", "Result CID"),
          ("result_hash", "Result hash"))


def render_task(task: Mapping[str, Any]) -> Text:
    """Every value here came from the ledger (so from peers or the chain): made safe."""
    text = Text()
    text.append(f"{safe_text(task.get('task_id', ''))}\n", style="bold")
    for key, label in FIELDS:
        value = safe_text(task.get(key) or "—")
        text.append(f"{label:<12}", style="bold")
        text.append(value + "\n", style="cyan" if key.endswith(("cid", "hash")) else "")
    progress = float(task.get("progress") or 0.0)
    text.append(f"{'Progress':<12}", style="bold")
    text.append(f"{fmt.bar(progress, 20)} {progress * 100:.0f}%\n")
    reward = task.get("reward") or {}
    wei = int(reward.get("wei", 0)) if isinstance(reward, Mapping) else int(reward or 0)
    text.append(f"{'Reward':<12}", style="bold")
    text.append(fmt.amount(wei, "COMP") + "\n")
    created, updated = float(task.get("created_at") or 0), float(task.get("updated_at") or 0)
    text.append(f"{'Elapsed':<12}", style="bold")
    text.append(f"{fmt.duration(updated - created)} (created {fmt.clock_time(created)}, "
                f"updated {fmt.clock_time(updated)})\n")
    for key, value in sorted((task.get("details") or {}).items(), key=lambda kv: str(kv[0])):
        text.append(f"{safe_text(key):<12}", style="bold")
        text.append(f"{safe_text(value)}\n", style="cyan" if "tx" in key or "hash" in key else "")
    reason = safe_text(task.get("failure_reason") or "", limit=REASON_LIMIT)
    if reason:
        text.append(f"{'Failure':<12}", style="bold red")
        text.append(reason + "\n", style="red")
    text.rstrip()
    return text


class TaskDetailScreen(NodeScreen):
    """One task in full; Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"),
                Binding("c", "claim", "Claim")]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.loaded_at: float | None = None
        self.task_data: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="task-detail"):
            info = Static(fmt.literal(f"loading task {self.task_id}…", "dim", limit=None),
                          id="task-info")
            info.border_title = "Task"
            yield info
            timeline: DataTable[Any] = DataTable(id="task-timeline", cursor_type="row",
                                                 zebra_stripes=True)
            timeline.border_title = "Stage timeline"
            yield timeline
        yield Footer()

    def on_mount(self) -> None:
        timeline = self.query_one("#task-timeline", DataTable)
        timeline.add_column("Time", key="time")
        timeline.add_column("Stage", key="stage")
        timeline.add_column("Note", key="note")
        timeline.add_column("Transaction", key="tx")
        super().on_mount()
        self.load()

    def load(self) -> None:
        self.run_worker(self._load(), group="task-detail", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            task = await self.oarn.node.command("task.get", task_id=self.task_id)
        except Exception as exc:
            self.query_one("#task-info", Static).update(
                fmt.literal(self.oarn.one_line(exc), "red", limit=None))
            return
        self.show_task(dict(task))

    def show_task(self, task: dict[str, Any]) -> None:
        self.task_data = task
        self.loaded_at = float(task.get("updated_at") or 0.0)
        self.query_one("#task-info", Static).update(render_task(task))
        timeline = self.query_one("#task-timeline", DataTable)
        timeline.clear()
        for number, event in enumerate(task.get("timeline") or ()):
            timeline.add_row(fmt.clock_time(float(event.get("ts", 0.0))),
                             fmt.cell(event.get("stage", ""), "bold"),
                             fmt.cell(event.get("note") or ""),
                             fmt.cell(event.get("tx_hash") or "—"), key=str(number))

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        if snapshot is None or self.loaded_at is None:
            return
        for task in snapshot.tasks:
            if task.task_id == self.task_id and task.updated_at != self.loaded_at:
                self.load()
                return

    def action_claim(self) -> None:
        self.oarn.claim_task(self.task_id)
