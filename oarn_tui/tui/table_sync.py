"""Incremental `DataTable` updates: add new rows, remove gone ones and rewrite only the cells
that changed, instead of clearing and rebuilding thousands of rows on every refresh."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textual.widgets import DataTable


@dataclass
class TableSync:
    """Remembers what a table shows so each refresh touches only what changed.

    `order_column` names the column whose (unique-enough) cell value ranks rows in the order the
    snapshot lists them; the table is re-sorted only when membership or that order changes."""

    table: DataTable[Any]
    order_column: str
    shown: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    cell_updates: int = 0

    def apply(self, rows: Mapping[str, Sequence[Any]]) -> bool:
        """Make the table show `rows` (key → cells, in display order). True if anything changed."""
        table = self.table
        columns = list(table.columns)
        changed = False
        for key in [k for k in self.shown if k not in rows]:
            table.remove_row(key)
            del self.shown[key]
            changed = True
        for key, cells in rows.items():
            values = tuple(cells)
            before = self.shown.get(key)
            if before is None:
                table.add_row(*values, key=key)
                changed = True
            elif before != values:
                for column, old, new in zip(columns, before, values, strict=True):
                    if old != new:
                        table.update_cell(key, column, new)
                        self.cell_updates += 1
                changed = True
            self.shown[key] = values
        order = list(rows)
        if order != self.order:
            self._sort(rows, columns)
            self.order = order
        return changed

    def _sort(self, rows: Mapping[str, Sequence[Any]], columns: list[Any]) -> None:
        index = [str(c.value if hasattr(c, "value") else c) for c in columns].index(
            self.order_column)
        rank: dict[Hashable, int] = {}
        for position, cells in enumerate(rows.values()):
            rank.setdefault(_hashable(cells[index]), position)
        self.table.sort(self.order_column, key=lambda cell: rank.get(_hashable(cell), len(rank)))

    def clear(self) -> None:
        self.table.clear()
        self.shown.clear()
        self.order = []


def _hashable(cell: Any) -> Hashable:
    plain: Hashable | None = getattr(cell, "plain", None)
    return plain if plain is not None else cell
