"""Tasks pane: id, model, stage, progress, reward, elapsed; Enter opens the task's detail."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from oarn_tui.core.ledger import END_STAGES, TaskRecord
from oarn_tui.tui import format as fmt
from oarn_tui.tui.table_sync import TableSync

TASK_COLUMNS = (("id", "Task"), ("model", "Model"), ("stage", "Stage"),
                ("progress", "Progress"), ("reward", "Reward"), ("elapsed", "Elapsed"))
STAGE_STYLES = {"failed": "red", "rejected": "red", "released": "yellow", "cancelled": "yellow",
                "refunded": "yellow", "rewarded": "green", "verified": "green",
                "finalized": "green", "running": "bold cyan"}


@functools.lru_cache(maxsize=64)
def stage_text(stage: str) -> Text:
    return fmt.literal(stage, STAGE_STYLES.get(stage, ""))


def task_cells(task: TaskRecord, now: float) -> tuple[Any, ...]:
    finished = task.stage in END_STAGES
    elapsed = task.elapsed_s if finished else max(0.0, now - task.created_at)
    progress = f"{fmt.bar(task.progress, 6)} {task.progress * 100:3.0f}%"
    return (fmt.cell(fmt.short_id(task.task_id, 8, 4)), fmt.cell(task.model or "—"),
            stage_text(task.stage),
            progress, fmt.amount(task.reward_wei, "COMP"), fmt.duration(elapsed))


class TasksTable(DataTable[Any]):
    """Tasks the node knows (the snapshot's most recently updated), newest first."""

    @dataclass(eq=False)
    class TaskChosen(Message):
        """The user asked to see one task (Enter on a row)."""

        task_id: str

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.clock = clock
        self._cells: dict[str, tuple[TaskRecord, tuple[Any, ...]]] = {}
        self.has_running_clock = False
        """Some shown task is unfinished: its elapsed time moves even with no new snapshot."""
        for key, label in TASK_COLUMNS:
            self.add_column(label, key=key)
        self.sync = TableSync(self, order_column="id")

    def show(self, tasks: tuple[TaskRecord, ...]) -> None:
        """Newest first by creation, so rows keep their place while tasks progress; cells of
        finished, unchanged tasks are reused instead of re-formatted every refresh."""
        now = self.clock()
        cache = self._cells
        rows: dict[str, tuple[Any, ...]] = {}
        for task in sorted(tasks, key=lambda t: (-t.created_at, t.task_id)):
            cached = cache.get(task.task_id)
            if cached is not None and cached[0] == task and task.stage in END_STAGES:
                rows[task.task_id] = cached[1]
                continue
            cells = task_cells(task, now)
            cache[task.task_id] = (task, cells)
            rows[task.task_id] = cells
        if len(cache) > len(rows):
            for gone in [k for k in cache if k not in rows]:
                del cache[gone]
        self.has_running_clock = any(t.stage not in END_STAGES for t in tasks)
        self.sync.apply(rows)

    @property
    def selected_task_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return None if row_key.value is None else str(row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.TaskChosen(str(event.row_key.value)))
