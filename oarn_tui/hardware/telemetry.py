"""Periodic hardware telemetry: immutable samples kept in a ring buffer for sparklines.

A sample costs a few psutil reads and one NVML read per GPU (well under 1 % of a core at 1 Hz;
`benchmarks/bench_compute.py` measures it). The sampler runs as an asyncio task; `sample_now()`
is the synchronous core, usable without a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from oarn_tui.hardware.nvml import NA, GpuSample, Nvml

log = logging.getLogger(__name__)
MIB = 1024 * 1024
DEFAULT_CAPACITY = 120


@dataclass(frozen=True)
class TelemetrySample:
    """One reading of the machine. CPU percent is system-wide since the previous sample."""

    timestamp: float
    cpu_percent: float
    ram_total_mb: int
    ram_available_mb: int
    gpus: tuple[GpuSample, ...] = ()

    @property
    def ram_used_mb(self) -> int:
        return self.ram_total_mb - self.ram_available_mb

    @property
    def vram_free_mb(self) -> int:
        """Most free VRAM on any one GPU (a task runs on one GPU); 0 without GPUs."""
        values = [g.memory_free_mb for g in self.gpus if g.memory_free_mb is not NA]
        return max(values, default=0)

    @property
    def hottest_gpu_c(self) -> int | None:
        values = [g.temperature_c for g in self.gpus if g.temperature_c is not NA]
        return max(values, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "cpu_percent": self.cpu_percent,
                "ram_total_mb": self.ram_total_mb, "ram_available_mb": self.ram_available_mb,
                "gpus": [gpu.to_dict() for gpu in self.gpus]}


def as_number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (missing, null, "N/A", a bool)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def sample_points(sample: Mapping[str, Any]) -> dict[str, float]:
    """The sparkline series of one sample in its dict form (`to_dict`, a `hardware.sample`
    event): CPU percent, RAM used (MB), and per GPU utilisation and VRAM used (MB)."""
    def point(value: Any) -> float:
        return as_number(value) or 0.0

    points = {"cpu": point(sample.get("cpu_percent")),
              "ram": point(sample.get("ram_total_mb")) - point(sample.get("ram_available_mb"))}
    for i, gpu in enumerate(sample.get("gpus") or ()):
        index = gpu.get("index", i)
        points[f"gpu{index}.util"] = point(gpu.get("utilization_percent"))
        points[f"gpu{index}.vram"] = point(gpu.get("memory_used_mb"))
    return points


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
            except Exception as exc:
                log.warning("telemetry sample failed: %s", exc)
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
