"""The one telemetry vocabulary: hardware samples and the keys they are known by everywhere.

As in nvitop (`SNAPSHOT_KEYS` + `as_snapshot()`), each sample dataclass declares its snapshot
keys once; `as_snapshot()` is the JSON-ready dict under exactly those keys. The same names reach
every reader unchanged: the `hardware.sample` event, the status document's `hardware` and
`telemetry` blocks, the capability report and the dashboard's `GpuView`/`TelemetryView`
(`oarn_tui.runtime.snapshot`, whose fields are these keys).

Legacy alias (the only one): the status document's `telemetry.gpus[*]` said `utilization_pct`
before this vocabulary existed, and `status --json` fields are never renamed, so that block keeps
`utilization_pct` beside the canonical `utilization_percent` (`GPU_DOCUMENT_ALIASES`). Readers
use the canonical key; the alias is written for old readers and read only as a fallback from old
daemons. `accelerator` ("gpu" or "cpu") is the typed answer to "does this node lend a GPU": front
ends check it instead of matching a reason string.

Pure data, standard library only: the runtime's snapshot parser and the front ends import it
without psutil or pynvml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal


class NaType(str):
    """The value of a field the GPU or driver cannot report (falsy, prints as N/A)."""

    _instance: NaType | None = None

    def __new__(cls) -> NaType:
        if cls._instance is None:
            cls._instance = super().__new__(cls, "N/A")
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NA"


NA = NaType()

Accelerator = Literal["gpu", "cpu"]


def json_value(value: Any) -> Any:
    """`NA` becomes None so JSON readers see null, everything else unchanged."""
    return None if value is NA else value


def as_number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (missing, null, "N/A", a bool)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU. Memory in MiB, power in watts, temperature in °C."""

    SNAPSHOT_KEYS: ClassVar[tuple[str, ...]] = (
        "index", "name", "uuid", "memory_total_mb", "memory_used_mb", "memory_free_mb",
        "utilization_percent", "temperature_c", "power_w", "power_limit_w")

    index: int
    name: str
    uuid: str
    memory_total_mb: int | NaType
    memory_used_mb: int | NaType
    memory_free_mb: int | NaType
    utilization_percent: int | NaType
    temperature_c: int | NaType
    power_w: float | NaType
    power_limit_w: float | NaType

    def as_snapshot(self) -> dict[str, Any]:
        """The sample under `SNAPSHOT_KEYS`, `NA` as None."""
        return {key: json_value(getattr(self, key)) for key in self.SNAPSHOT_KEYS}

    to_dict = as_snapshot


GPU_DOCUMENT_ALIASES: Mapping[str, str] = {"utilization_pct": "utilization_percent"}
"""Legacy key in the status document's `telemetry.gpus[*]` → the canonical key it copies."""


def gpu_document_entry(gpu: GpuSample) -> dict[str, Any]:
    """One `telemetry.gpus[*]` entry: the snapshot plus its legacy aliases."""
    entry = gpu.as_snapshot()
    for alias, key in GPU_DOCUMENT_ALIASES.items():
        entry[alias] = entry[key]
    return entry


def gpu_value(gpu: Mapping[str, Any], key: str) -> Any:
    """`gpu[key]`, else the legacy alias an older daemon wrote for it."""
    if key in gpu:
        return gpu[key]
    for alias, canonical in GPU_DOCUMENT_ALIASES.items():
        if canonical == key and alias in gpu:
            return gpu[alias]
    return None


@dataclass(frozen=True)
class TelemetrySample:
    """One reading of the machine. CPU percent is system-wide since the previous sample."""

    SNAPSHOT_KEYS: ClassVar[tuple[str, ...]] = (
        "timestamp", "cpu_percent", "ram_total_mb", "ram_available_mb", "ram_used_mb",
        "accelerator", "gpus")

    timestamp: float
    cpu_percent: float
    ram_total_mb: int
    ram_available_mb: int
    gpus: tuple[GpuSample, ...] = ()

    @property
    def ram_used_mb(self) -> int:
        return self.ram_total_mb - self.ram_available_mb

    @property
    def accelerator(self) -> Accelerator:
        """'gpu' when NVML reports at least one GPU, else 'cpu'."""
        return "gpu" if self.gpus else "cpu"

    @property
    def vram_free_mb(self) -> int:
        """Most free VRAM on any one GPU (a task runs on one GPU); 0 without GPUs."""
        values = [g.memory_free_mb for g in self.gpus if isinstance(g.memory_free_mb, int)]
        return max(values, default=0)

    @property
    def hottest_gpu_c(self) -> int | None:
        values = [g.temperature_c for g in self.gpus if isinstance(g.temperature_c, int)]
        return max(values, default=None)

    def as_snapshot(self) -> dict[str, Any]:
        """The sample under `SNAPSHOT_KEYS` (GPUs as their own snapshots)."""
        snapshot = {key: getattr(self, key) for key in self.SNAPSHOT_KEYS}
        snapshot["gpus"] = [gpu.as_snapshot() for gpu in self.gpus]
        return snapshot

    to_dict = as_snapshot


def sample_points(sample: Mapping[str, Any]) -> dict[str, float]:
    """The sparkline series of one sample in its snapshot form (`as_snapshot`, a
    `hardware.sample` event): CPU percent, RAM used (MB), and per GPU utilisation and VRAM used
    (MB)."""
    def point(value: Any) -> float:
        return as_number(value) or 0.0

    points = {"cpu": point(sample.get("cpu_percent")),
              "ram": point(sample.get("ram_total_mb")) - point(sample.get("ram_available_mb"))}
    for i, gpu in enumerate(sample.get("gpus") or ()):
        index = gpu.get("index", i)
        points[f"gpu{index}.util"] = point(gpu_value(gpu, "utilization_percent"))
        points[f"gpu{index}.vram"] = point(gpu_value(gpu, "memory_used_mb"))
    return points
