"""Models screen: the local model store (`model.list`), pull by CID with a progress bar
(`model.pull`, progress with rate and ETA from `model.progress` events), remove with confirmation
(`model.remove`). The list is reloaded when the screen opens and after each change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Input, ProgressBar, Static

from oarn_tui.core.events import Event
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.storage.progress import describe
from oarn_tui.tui import format as fmt
from oarn_tui.tui.screens.base import NodeScreen, set_subtitle, show_message
from oarn_tui.tui.screens.confirm import ConfirmScreen
from oarn_tui.tui.table_sync import TableSync

PROGRESS_EVENT = "model.progress"


def model_cells(model: Mapping[str, Any]) -> tuple[Text | str, ...]:
    """Name, CID and format may come from the network: literal cells."""
    size = model.get("size", model.get("size_bytes"))
    size_text = fmt.megabytes(float(size) / 1024 / 1024) if isinstance(size, int | float) else "—"
    return (fmt.cell(model.get("name") or "—"),
            fmt.cell(fmt.short_id(str(model.get("cid", "")), 10, 6)),
            fmt.cell(model.get("format") or model.get("framework") or "—"), size_text,
            "yes" if model.get("pinned") else "no")


class ModelsScreen(NodeScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"),
                Binding("delete", "remove", "Remove")]

    def __init__(self) -> None:
        super().__init__()
        self.pulling: str | None = None
        self.sync: TableSync | None = None
        self.models: list[Mapping[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="models-screen"):
            table: DataTable[Any] = DataTable(id="models-table", cursor_type="row",
                                              zebra_stripes=True)
            table.border_title = "Models"
            yield table
            with Horizontal(classes="form-row"):
                yield Input(placeholder="model CID to pull (bafy…)", id="pull-cid")
                yield Button("Pull", id="pull", variant="primary")
                yield Button("Remove", id="remove", variant="error")
            yield ProgressBar(total=100, show_eta=False, id="pull-progress")
            yield Static("", id="models-message", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#models-table", DataTable)
        for key, label in (("name", "Name"), ("cid", "CID"), ("framework", "Framework"),
                           ("size", "Size"), ("pinned", "Pinned")):
            table.add_column(label, key=key)
        self.sync = TableSync(table, order_column="cid")
        super().on_mount()
        self.reload()

    def reload(self) -> None:
        self.run_worker(self._reload(), group="model-list", exclusive=True)

    async def _reload(self) -> None:
        try:
            models = await self.oarn.node.command("model.list")
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        self.show_models([m for m in models or () if isinstance(m, Mapping)])

    def show_models(self, models: list[Mapping[str, Any]]) -> None:
        if self.sync is None:
            return
        self.models = models
        self.sync.apply({str(m.get("cid", i)): model_cells(m) for i, m in enumerate(models)})
        table = self.query_one("#models-table", DataTable)
        set_subtitle(table, f"{len(models)} stored" if models else "no models stored")

    def say(self, message: str, error: bool = False) -> None:
        show_message(self.query_one("#models-message", Static), message, error)

    def show_snapshot(self, snapshot: NodeSnapshot | None, events: list[Event]) -> None:
        for event in events:
            if event.kind == PROGRESS_EVENT:
                self.show_progress(event.data)

    def show_progress(self, data: Mapping[str, Any]) -> None:
        bar = self.query_one("#pull-progress", ProgressBar)
        total, done = data.get("bytes_total"), data.get("bytes_done")
        if isinstance(total, int | float) and total > 0:
            bar.update(total=float(total), progress=float(done or 0))
            if self.pulling:
                self.say(f"pulling {fmt.short_id(self.pulling, 10, 6)}: {describe(dict(data))}")

    @on(Button.Pressed, "#pull")
    @on(Input.Submitted, "#pull-cid")
    def pull(self) -> None:
        cid = self.query_one("#pull-cid", Input).value.strip()
        if not cid:
            self.say("enter the CID of the model to pull", error=True)
            return
        self.pulling = cid
        self.query_one("#pull-progress", ProgressBar).update(total=100, progress=0)
        self.say(f"pulling {fmt.short_id(cid, 10, 6)}…")
        self.run_worker(self._pull(cid), group="model-pull", exclusive=True)

    async def _pull(self, cid: str) -> None:
        try:
            result = await self.oarn.node.command("model.pull", cid=cid)
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        finally:
            self.pulling = None
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=bar.total or 100, progress=bar.total or 100)
        name = result.get("name") if isinstance(result, dict) else None
        self.say(f"pulled {name or fmt.short_id(cid, 10, 6)}")
        self.reload()

    @on(Button.Pressed, "#remove")
    def action_remove(self) -> None:
        table = self.query_one("#models-table", DataTable)
        if not table.row_count:
            self.say("no model selected", error=True)
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        cid = str(row_key.value)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._remove(cid), group="model-remove")

        self.app.push_screen(ConfirmScreen(f"Remove model {cid} from this node?", "Remove"),
                             confirmed)

    async def _remove(self, cid: str) -> None:
        try:
            await self.oarn.node.command("model.remove", model=cid)
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        self.say(f"removed {fmt.short_id(cid, 10, 6)}")
        self.reload()
