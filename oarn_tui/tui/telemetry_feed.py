"""Telemetry from `hardware.sample` events (fresher than the status's `telemetry` block):
keeps the recent samples and turns them into the `TelemetryView` (with sparkline history) that
the GPU/VRAM pane draws. Events and the status share one vocabulary, so both go through
`TelemetryView.from_dict`; the GPU hint comes from the status (the hardware service's own
section), whether the node has a GPU from the typed `accelerator` field."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from oarn_tui.core.events import Event
from oarn_tui.hardware.samples import sample_points
from oarn_tui.runtime.snapshot import NodeSnapshot, TelemetryView

SAMPLE_EVENT = "hardware.sample"
HISTORY = 120


class TelemetryFeed:
    """The last `HISTORY` hardware samples seen on the event stream, with each sparkline
    series kept as samples arrive (not rebuilt from all samples every refresh)."""

    def __init__(self) -> None:
        self.samples: deque[Mapping[str, Any]] = deque(maxlen=HISTORY)
        self._series: dict[str, deque[float]] = {}
        self._view: TelemetryView | None = None

    def backfill(self, history: Mapping[str, Iterable[float]]) -> None:
        """Start the sparklines from the node's own history (its status has one) rather than
        empty, when this feed has seen nothing yet: attaching to a daemon that has run for an
        hour shows that hour's last samples at once."""
        if self.samples or self._series:
            return
        for name, values in history.items():
            self._series[name] = deque(values, maxlen=HISTORY)

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.kind == SAMPLE_EVENT:
                self._add(event.data)

    def _add(self, sample: Mapping[str, Any]) -> None:
        self.samples.append(sample)
        self._view = None
        for name, value in sample_points(sample).items():
            self._series.setdefault(name, deque(maxlen=HISTORY)).append(value)

    def view(self, hint: str = "") -> TelemetryView | None:
        if not self.samples:
            return None
        if self._view is not None and self._view.gpu_hint == hint:
            return self._view
        self._view = TelemetryView.from_dict(
            self.samples[-1], gpu_hint=hint,
            history={name: tuple(values) for name, values in self._series.items()})
        return self._view


def telemetry_for(snapshot: NodeSnapshot, feed: TelemetryFeed) -> TelemetryView:
    """What the sample events say, as they arrive; before the first one (or with no sampling
    service on this side), the status's own telemetry. Snapshots are reused while the node is
    quiet, so their telemetry can be seconds old."""
    own = snapshot.telemetry
    return feed.view(own.gpu_hint) or own
