"""Periodic hardware telemetry: immutable samples kept in a ring buffer for sparklines.

A sample costs a few psutil reads and one NVML read per GPU (well under 1 % of a core at 1 Hz;
`benchmarks/bench_compute.py` measures it). The sampler runs as an asyncio task; `sample_now()`
is the synchronous core, usable without a loop. The sample types and their snapshot keys are in
`oarn_tui.hardware.samples` (re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

import psutil

from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.samples import TelemetrySample, as_number, sample_points

__all__ = ["TelemetrySample", "TelemetrySampler", "as_number", "sample_points"]

log = logging.getLogger(__name__)
MIB = 1024 * 1024
DEFAULT_CAPACITY = 120


class TelemetrySampler:
    """Samples the machine every `interval_s`; keeps the last `capacity` samples."""

    def __init__(self, nvml: Nvml | None = None, interval_s: float = 1.0,
                 capacity: int = DEFAULT_CAPACITY,
                 on_sample: Callable[[TelemetrySample], None] | None = None) -> None:
        self.nvml = nvml or Nvml()
        self.interval_s = interval_s
        self.on_sample = on_sample
        self._history: deque[TelemetrySample] = deque(maxlen=capacity)
        self._task: asyncio.Task[None] | None = None
        psutil.cpu_percent(None)  # primes the counter so the first sample is meaningful

    def sample_now(self) -> TelemetrySample:
        memory = psutil.virtual_memory()
        sample = TelemetrySample(
            timestamp=time.time(), cpu_percent=psutil.cpu_percent(None),
            ram_total_mb=memory.total // MIB, ram_available_mb=memory.available // MIB,
            gpus=tuple(self.nvml.samples()) if self.nvml.is_available() else ())
        self._history.append(sample)
        return sample

    @property
    def latest(self) -> TelemetrySample | None:
        return self._history[-1] if self._history else None

    def history(self) -> tuple[TelemetrySample, ...]:
        return tuple(self._history)

    def series(self, field: str) -> list[float]:
        """One numeric field over the buffered samples (for sparklines), oldest first."""
        return [float(getattr(s, field)) for s in self._history]

    async def run(self) -> None:
        """Sample until cancelled; a failing sample is logged and skipped, never fatal."""
        while True:
            try:
                sample = self.sample_now()
                if self.on_sample is not None:
                    self.on_sample(sample)
            except Exception:  # NVML's own errors read as N/A: anything reaching here is a bug
                log.exception("telemetry sample failed (a bug: skipped, sampling goes on)")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="telemetry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
