"""GPU/VRAM telemetry: per GPU utilisation and VRAM bars with sparklines, temperature and
power; CPU and RAM when the machine has no GPU (with the driver hint)."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from oarn_tui.runtime.snapshot import GpuView, TelemetryView
from oarn_tui.tui import format as fmt

LABEL = 5


def _fraction(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return used / total


def _bar_line(text: Text, label: str, fraction: float | None, suffix: str, width: int,
              style: str) -> None:
    bar_width = max(4, width - LABEL - len(suffix) - 1)
    text.append(f"{label:<{LABEL}}", style="bold")
    text.append(fmt.bar(fraction, bar_width), style=style)
    text.append(f" {suffix}\n")


def _spark_line(text: Text, values: tuple[float, ...], width: int, maximum: float | None,
                style: str) -> None:
    if not values:
        return
    text.append(" " * LABEL)
    text.append(fmt.sparkline(values, max(4, width - LABEL), maximum), style=style)
    text.append("\n")


def _load_style(fraction: float | None) -> str:
    if fraction is None:
        return "dim"
    return "red" if fraction >= 0.9 else "yellow" if fraction >= 0.7 else "green"


class TelemetryPane(Widget):
    """Renders a `TelemetryView` to fit the pane's width. (One widget, not one per line: per-line
    widgets measured slower, each update re-running layout.)"""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.telemetry: TelemetryView | None = None
        self._lines: list[str] | None = None

    def show(self, telemetry: TelemetryView) -> None:
        """Repaint only the lines whose text changed (usually the CPU bar and its sparkline):
        a whole-pane repaint every sample was most of the dashboard's idle cost."""
        if telemetry == self.telemetry:
            return
        self.telemetry = telemetry
        lines = self.render_text().plain.split("\n")
        previous, self._lines = self._lines, lines
        if previous is None or len(previous) != len(lines):
            self.refresh()
            return
        width = self.content_size.width
        changed = [Region(0, y, width, 1) for y, (old, new) in
                   enumerate(zip(previous, lines, strict=True)) if old != new]
        if changed:
            self.refresh(*changed)

    def render(self) -> Text:
        return self.render_text()

    def plain(self) -> str:
        """What the pane shows, as text (for tests)."""
        return self.render_text().plain

    def render_text(self) -> Text:
        telemetry = self.telemetry
        width = max(16, self.content_size.width)
        text = Text(no_wrap=True, overflow="ellipsis")
        if telemetry is None:
            text.append("waiting for telemetry…", style="dim")
            return text
        for gpu in telemetry.gpus:
            self._gpu(text, gpu, telemetry.history, width)
        self._cpu_ram(text, telemetry, width)
        if not telemetry.gpus and telemetry.gpu_hint:
            text.append(telemetry.gpu_hint, style="italic dim")
        text.rstrip()
        return text

    def _gpu(self, text: Text, gpu: GpuView, history: dict[str, tuple[float, ...]] | object,
             width: int) -> None:
        series = history if isinstance(history, dict) else {}
        name = gpu.name.replace("NVIDIA ", "").replace("GeForce ", "")
        heading = f"GPU{gpu.index} {name}"
        extras = []
        if gpu.temperature_c is not None:
            extras.append(f"{gpu.temperature_c:.0f}°C")
        if gpu.power_w is not None:
            extras.append(f"{gpu.power_w:.0f}W")
        tail = " ".join(extras)
        room = max(1, width - len(tail) - 1)
        text.append(f"{heading[:room]:<{room}}", style="bold")
        hot = gpu.temperature_c is not None and gpu.temperature_c >= 85
        text.append(f" {tail}\n", style="red bold" if hot else "")
        util = None if gpu.utilization_pct is None else gpu.utilization_pct / 100
        _bar_line(text, "util", util, f"{fmt.percent(gpu.utilization_pct):>4}", width,
                  _load_style(util))
        _spark_line(text, tuple(series.get(f"gpu{gpu.index}.util", ())), width, 100.0, "cyan")
        vram = _fraction(gpu.memory_used_mb, gpu.memory_total_mb)
        _bar_line(text, "vram", vram,
                  f"{fmt.megabytes(gpu.memory_used_mb)}/{fmt.megabytes(gpu.memory_total_mb)}",
                  width, _load_style(vram))
        _spark_line(text, tuple(series.get(f"gpu{gpu.index}.vram", ())), width,
                    gpu.memory_total_mb, "magenta")

    def _cpu_ram(self, text: Text, telemetry: TelemetryView, width: int) -> None:
        history = dict(telemetry.history)
        cpu = None if telemetry.cpu_percent is None else telemetry.cpu_percent / 100
        _bar_line(text, "CPU", cpu, f"{fmt.percent(telemetry.cpu_percent):>4}", width,
                  _load_style(cpu))
        _spark_line(text, tuple(history.get("cpu", ())), width, 100.0, "cyan")
        ram = _fraction(telemetry.ram_used_mb, telemetry.ram_total_mb)
        _bar_line(text, "RAM", ram,
                  f"{fmt.megabytes(telemetry.ram_used_mb)}/{fmt.megabytes(telemetry.ram_total_mb)}",
                  width, _load_style(ram))
        _spark_line(text, tuple(history.get("ram", ())), width, telemetry.ram_total_mb,
                    "magenta")
