"""Telemetry from `hardware.sample` events, for when the status carries no `telemetry` block:
keeps the recent samples and turns them into the `TelemetryView` (with sparkline history) that
the GPU/VRAM pane draws."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from oarn_tui.runtime.events import Event
from oarn_tui.runtime.snapshot import GpuView, NodeSnapshot, TelemetryView

SAMPLE_EVENT = "hardware.sample"
HISTORY = 120


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


class TelemetryFeed:
    """The last `HISTORY` hardware samples seen on the event stream."""

    def __init__(self) -> None:
        self.samples: deque[Mapping[str, Any]] = deque(maxlen=HISTORY)
        self._view: TelemetryView | None = None

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.kind == SAMPLE_EVENT:
                self.samples.append(event.data)
                self._view = None

    def view(self, hint: str = "") -> TelemetryView | None:
        if not self.samples:
            return None
        if self._view is not None and self._view.gpu_hint == hint:
            return self._view
        latest = self.samples[-1]
        total = _number(latest.get("ram_total_mb"))
        available = _number(latest.get("ram_available_mb"))
        gpus = tuple(
            GpuView(index=int(g.get("index", i)), name=str(g.get("name") or "GPU"),
                    utilization_pct=_number(g.get("utilization_percent")),
                    memory_used_mb=_number(g.get("memory_used_mb")),
                    memory_total_mb=_number(g.get("memory_total_mb")),
                    temperature_c=_number(g.get("temperature_c")),
                    power_w=_number(g.get("power_w")),
                    power_limit_w=_number(g.get("power_limit_w")))
            for i, g in enumerate(latest.get("gpus") or ()))
        history: dict[str, tuple[float, ...]] = {
            "cpu": tuple(_number(s.get("cpu_percent")) or 0.0 for s in self.samples),
            "ram": tuple((_number(s.get("ram_total_mb")) or 0.0)
                         - (_number(s.get("ram_available_mb")) or 0.0) for s in self.samples)}
        for gpu in gpus:
            util: list[float] = []
            vram: list[float] = []
            for sample in self.samples:
                for g in sample.get("gpus") or ():
                    if g.get("index") == gpu.index:
                        util.append(_number(g.get("utilization_percent")) or 0.0)
                        vram.append(_number(g.get("memory_used_mb")) or 0.0)
            history[f"gpu{gpu.index}.util"] = tuple(util)
            history[f"gpu{gpu.index}.vram"] = tuple(vram)
        self._view = TelemetryView(
            cpu_percent=_number(latest.get("cpu_percent")),
            ram_used_mb=None if total is None or available is None else total - available,
            ram_total_mb=total, gpus=gpus, history=history, gpu_hint=hint)
        return self._view


def gpu_hint_of(snapshot: NodeSnapshot) -> str:
    """The hardware service's CPU-only reason (its status says why there is no GPU)."""
    for service in snapshot.services:
        if service.name == "hardware" and service.reason.startswith("CPU only"):
            return service.reason
    return ""


def telemetry_for(snapshot: NodeSnapshot, feed: TelemetryFeed) -> TelemetryView:
    """The status's own telemetry when it has any, else what the sample events say."""
    own = snapshot.telemetry
    if own.cpu_percent is not None or own.gpus:
        return own
    return feed.view(own.gpu_hint or gpu_hint_of(snapshot)) or own
