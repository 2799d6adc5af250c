"""GPU/VRAM telemetry: per GPU utilisation and VRAM bars with sparklines, temperature and
power; CPU and RAM when the machine has no GPU (with the driver hint)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from oarn_tui.runtime.snapshot import GpuView, TelemetryView
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt

LABEL = 5

Line = tuple[tuple[str, str], ...]
"""One pane line: (text, rich style) pieces."""


@lru_cache(maxsize=64)
def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style()


@lru_cache(maxsize=16)
def _wrapped(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width)


def _fraction(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return used / total


def _load_style(fraction: float | None) -> str:
    if fraction is None:
        return "dim"
    return "red" if fraction >= 0.9 else "yellow" if fraction >= 0.7 else "green"


def _bar_line(label: str, fraction: float | None, suffix: str, width: int) -> Line:
    bar_width = max(4, width - LABEL - len(suffix) - 1)
    return ((f"{label:<{LABEL}}", "bold"), (fmt.bar(fraction, bar_width), _load_style(fraction)),
            (f" {suffix}", ""))


def _spark_line(values: tuple[float, ...], width: int, maximum: float | None,
                style: str) -> list[Line]:
    if not values:
        return []
    return [((" " * LABEL, ""),
             (fmt.sparkline(values, max(4, width - LABEL), maximum), style))]


def _gpu_lines(gpu: GpuView, history: Mapping[str, tuple[float, ...]], width: int
               ) -> list[Line]:
    name = safe_text(gpu.name).replace("NVIDIA ", "").replace("GeForce ", "")
    heading = f"GPU{gpu.index} {name}"
    extras = []
    if gpu.temperature_c is not None:
        extras.append(f"{gpu.temperature_c:.0f}°C")
    if gpu.power_w is not None:
        extras.append(f"{gpu.power_w:.0f}W")
    tail = " ".join(extras)
    room = max(1, width - len(tail) - 1)
    hot = gpu.temperature_c is not None and gpu.temperature_c >= 85
    util = None if gpu.utilization_percent is None else gpu.utilization_percent / 100
    vram = _fraction(gpu.memory_used_mb, gpu.memory_total_mb)
    vram_text = f"{fmt.megabytes(gpu.memory_used_mb)}/{fmt.megabytes(gpu.memory_total_mb)}"
    return [((f"{heading[:room]:<{room}}", "bold"), (f" {tail}", "red bold" if hot else "")),
            _bar_line("util", util, f"{fmt.percent(gpu.utilization_percent):>4}", width),
            *_spark_line(history.get(f"gpu{gpu.index}.util", ()), width, 100.0, "cyan"),
            _bar_line("vram", vram, vram_text, width),
            *_spark_line(history.get(f"gpu{gpu.index}.vram", ()), width, gpu.memory_total_mb,
                         "magenta")]


def _cpu_ram_lines(telemetry: TelemetryView, width: int) -> list[Line]:
    history = telemetry.history
    cpu = None if telemetry.cpu_percent is None else telemetry.cpu_percent / 100
    ram = _fraction(telemetry.ram_used_mb, telemetry.ram_total_mb)
    ram_text = f"{fmt.megabytes(telemetry.ram_used_mb)}/{fmt.megabytes(telemetry.ram_total_mb)}"
    return [_bar_line("CPU", cpu, f"{fmt.percent(telemetry.cpu_percent):>4}", width),
            *_spark_line(history.get("cpu", ()), width, 100.0, "cyan"),
            _bar_line("RAM", ram, ram_text, width),
            *_spark_line(history.get("ram", ()), width, telemetry.ram_total_mb,
                         "magenta")]


def telemetry_lines(telemetry: TelemetryView | None, width: int) -> list[Line]:
    """The pane's lines for `telemetry` at `width` cells."""
    width = max(16, width)
    if telemetry is None:
        return [(("waiting for telemetry…", "dim"),)]
    lines: list[Line] = []
    for gpu in telemetry.gpus:
        lines += _gpu_lines(gpu, telemetry.history, width)
    lines += _cpu_ram_lines(telemetry, width)
    if telemetry.accelerator == "cpu" and telemetry.gpu_hint:
        lines += [((part, "italic dim"),)
                  for part in _wrapped(safe_text(telemetry.gpu_hint), width)]
    return lines


class TelemetryPane(Widget):
    """Draws a `TelemetryView` line by line (Textual's line API): a new sample rebuilds the
    pane's few short lines and repaints only those that changed — going through `render()`
    re-rendered the whole pane every sample, most of the dashboard's idle cost."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.telemetry: TelemetryView | None = None
        self._lines: list[Line] = []
        self._width = -1
        self._strips: dict[int, Strip] = {}
        self._base: Style | None = None

    def show(self, telemetry: TelemetryView) -> None:
        if telemetry == self.telemetry:
            return
        self.telemetry = telemetry
        width = self.content_size.width
        previous, self._lines = self._lines, telemetry_lines(telemetry, width)
        if width != self._width or len(previous) != len(self._lines):
            self._width = width
            self._strips.clear()
            self.refresh()
            return
        changed = [y for y, (old, new) in enumerate(zip(previous, self._lines, strict=True))
                   if old != new]
        for y in changed:
            self._strips.pop(y, None)
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def plain(self) -> str:
        """What the pane shows, as text (for tests)."""
        lines = telemetry_lines(self.telemetry, self.content_size.width)
        return "\n".join("".join(text for text, _ in line).rstrip() for line in lines)

    def notify_style_update(self) -> None:
        """The theme or CSS changed: drop the strips drawn with the old base style."""
        super().notify_style_update()
        self._base = None
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if width != self._width:
            self._width = width
            self._lines = telemetry_lines(self.telemetry, width)
            self._strips.clear()
        strip = self._strips.get(y)
        if strip is None:
            if self._base is None:
                self._base = self.rich_style  # costly to look up: once per style change
            base = self._base
            pieces = self._lines[y] if y < len(self._lines) else ()
            strip = Strip([Segment(text, base + _style(spec)) for text, spec in pieces])
            strip = strip.crop_extend(0, width, base)
            self._strips[y] = strip
        return strip
