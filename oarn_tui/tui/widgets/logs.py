"""Logs pane: a tail of the node's JSON log entries with a minimum-level filter."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import RichLog

from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt

LEVELS = ("debug", "info", "warning", "error")
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red",
                "critical": "bold red"}
HIDDEN_FIELDS = {"ts", "level", "logger", "msg", "taskName"}
KEEP = 1000
LINE_LIMIT = 1000
"""A log line's message and extras are cut here: the pane shows one line per entry."""


def level_rank(level: str) -> int:
    level = level.lower()
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def log_line(entry: Mapping[str, Any]) -> Text:
    level = str(entry.get("level", "info")).lower()
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(fmt.clock_time(float(entry.get("ts", 0.0))) + " ", style="dim")
    text.append(f"{safe_text(level[:4].upper()):<4} ", style=LEVEL_STYLES.get(level, ""))
    text.append(safe_text(entry.get("msg", ""), limit=LINE_LIMIT))
    extras = [f"{safe_text(k)}={safe_text(v)}" for k, v in entry.items()
              if k not in HIDDEN_FIELDS]
    if extras:
        text.append(safe_text("  " + " ".join(extras), limit=LINE_LIMIT), style="dim")
    return text


class LogsPane(RichLog):
    """Keeps the last entries so changing the level filter re-renders what is already known."""

    @dataclass(eq=False)
    class LevelChanged(Message):
        level: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=KEEP, wrap=False, markup=False, auto_scroll=True)
        self.entries: deque[Mapping[str, Any]] = deque(maxlen=KEEP)
        self.min_level = "info"
        self._seen: set[tuple[float, str]] = set()

    def on_mount(self) -> None:
        self._update_title()

    def add_entries(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """Append new entries (duplicates by timestamp and message are skipped)."""
        added = 0
        threshold = level_rank(self.min_level)
        for entry in entries:
            key = (float(entry.get("ts", 0.0)), str(entry.get("msg", "")))
            if key in self._seen:
                continue
            self._seen.add(key)
            if len(self.entries) == self.entries.maxlen:
                old = self.entries[0]
                self._seen.discard((float(old.get("ts", 0.0)), str(old.get("msg", ""))))
            self.entries.append(entry)
            if level_rank(str(entry.get("level", "info"))) >= threshold:
                self.write(log_line(entry))
                added += 1
        return added

    def set_level(self, level: str) -> None:
        self.min_level = level
        threshold = level_rank(level)
        self.clear()
        for entry in self.entries:
            if level_rank(str(entry.get("level", "info"))) >= threshold:
                self.write(log_line(entry))
        self._update_title()
        self.post_message(self.LevelChanged(level))

    def cycle_level(self) -> str:
        self.set_level(LEVELS[(LEVELS.index(self.min_level) + 1) % len(LEVELS)])
        return self.min_level

    def _update_title(self) -> None:
        self.border_title = f"Logs ≥ {self.min_level}"
        self.border_subtitle = "l: level"
