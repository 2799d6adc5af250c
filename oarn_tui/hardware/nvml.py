"""NVML access in the style of nvitop: lazy init, `is_available()` instead of exceptions.

`pynvml` (package nvidia-ml-py) is imported on first use, so machines without an NVIDIA driver pay
nothing and never see a traceback: `is_available()` returns False and `hint()` says once, in one
line, what is missing. Fields that are slow to read and never change (name, total memory, driver
and CUDA versions) are cached with a TTL. A field a GPU does not support reads as `NA`.
Tests inject a fake module through the `module` parameter or `sys.modules["pynvml"]`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

SLOW_FIELD_TTL_S = 60.0
DRIVER_HINT = ("no NVIDIA driver found: GPU features are off and the node runs on the CPU "
               "(install the NVIDIA driver to lend a GPU)")


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


def json_value(value: Any) -> Any:
    """`NA` becomes None so JSON readers see null, everything else unchanged."""
    return None if value is NA else value


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU. Memory in MiB, power in watts, temperature in °C."""

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

    def to_dict(self) -> dict[str, Any]:
        return {name: json_value(getattr(self, name)) for name in self.__dataclass_fields__}


class _TtlCache:
    """A tiny per-key TTL cache for slow NVML reads."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._values: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = compute()
        self._values[key] = (now, value)
        return value


class Nvml:
    """Lazy NVML session. All methods are safe to call without a GPU or driver."""

    def __init__(self, module: ModuleType | None = None, *, ttl_s: float = SLOW_FIELD_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._module = module
        self._lock = threading.Lock()
        self._initialised = False
        self._available = False
        self._reason = ""
        self._hint_logged = False
        self._cache = _TtlCache(ttl_s, clock)
        self.read_count = 0  # slow-field reads that reached NVML (tests check the cache)

    # -- lifecycle -------------------------------------------------------------------------

    def _init(self) -> bool:
        with self._lock:
            if self._initialised:
                return self._available
            self._initialised = True
            try:
                if self._module is None:
                    self._module = importlib.import_module("pynvml")
                self._module.nvmlInit()
                self._available = True
            except ImportError:
                self._reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            except Exception as exc:  # NVMLError_DriverNotLoaded, LibraryNotFound, ...
                self._reason = f"{DRIVER_HINT} [{exc}]" if _is_driver_error(exc) \
                    else f"NVML failed to start: {exc}"
            if not self._available and not self._hint_logged:
                self._hint_logged = True
                log.info("%s", self._reason)
            return self._available

    def is_available(self) -> bool:
        """True when NVML initialised; never raises."""
        return self._init()

    def hint(self) -> str:
        """Why GPUs are unavailable, in one line ('' when they are available)."""
        self._init()
        return "" if self._available else self._reason

    def shutdown(self) -> None:
        with self._lock:
            if self._available and self._module is not None:
                try:
                    self._module.nvmlShutdown()
                except Exception as exc:
                    log.debug("nvmlShutdown failed: %s", exc)
            self._initialised = self._available = False

    # -- reads -----------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        """Call an NVML function; any NVML error (not supported, lost GPU) becomes `NA`."""
        try:
            return getattr(self._module, name)(*args)
        except Exception:
            return NA

    def _slow(self, key: tuple[Any, ...], name: str, *args: Any) -> Any:
        def compute() -> Any:
            self.read_count += 1
            return _text(self._call(name, *args))

        return self._cache.get(key, compute)

    def device_count(self) -> int:
        if not self._init():
            return 0
        count = self._call("nvmlDeviceGetCount")
        return 0 if count is NA else int(count)

    def driver_version(self) -> str | NaType:
        if not self._init():
            return NA
        return self._slow(("driver",), "nvmlSystemGetDriverVersion")

    def cuda_version(self) -> str | NaType:
        """CUDA driver API version as 'major.minor'."""
        if not self._init():
            return NA
        raw = self._slow(("cuda",), "nvmlSystemGetCudaDriverVersion")
        if raw is NA:
            return NA
        number = int(raw)
        return f"{number // 1000}.{(number % 1000) // 10}"

    def samples(self) -> list[GpuSample]:
        """A fresh reading of every GPU (empty without NVML)."""
        return [self.sample(index) for index in range(self.device_count())]

    def sample(self, index: int) -> GpuSample:
        handle = self._call("nvmlDeviceGetHandleByIndex", index)
        name = self._slow(("name", index), "nvmlDeviceGetName", handle)
        uuid = self._slow(("uuid", index), "nvmlDeviceGetUUID", handle)
        total = self._cache.get(("total", index), lambda: self._memory(handle)[0])
        _, used, free = self._memory(handle)
        rates = self._call("nvmlDeviceGetUtilizationRates", handle)
        temperature = self._call("nvmlDeviceGetTemperature", handle,
                                 getattr(self._module, "NVML_TEMPERATURE_GPU", 0))
        power = self._call("nvmlDeviceGetPowerUsage", handle)
        limit = self._cache.get(("limit", index),
                                lambda: self._call("nvmlDeviceGetEnforcedPowerLimit", handle))
        return GpuSample(
            index=index, name=str(name), uuid=str(uuid),
            memory_total_mb=total, memory_used_mb=used, memory_free_mb=free,
            utilization_percent=NA if rates is NA else int(rates.gpu),
            temperature_c=NA if temperature is NA else int(temperature),
            power_w=NA if power is NA else round(power / 1000.0, 1),
            power_limit_w=NA if limit is NA else round(limit / 1000.0, 1))

    def _memory(self, handle: Any) -> tuple[Any, Any, Any]:
        info = self._call("nvmlDeviceGetMemoryInfo", handle)
        if info is NA:
            return NA, NA, NA
        mib = 1024 * 1024
        return info.total // mib, info.used // mib, info.free // mib

    def report(self) -> dict[str, Any]:
        """Everything about the GPUs, JSON-ready."""
        available = self.is_available()
        return {"available": available, "hint": self.hint(),
                "driver_version": json_value(self.driver_version()),
                "cuda_version": json_value(self.cuda_version()),
                "gpus": [gpu.to_dict() for gpu in self.samples()] if available else []}


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _is_driver_error(exc: Exception) -> bool:
    name = type(exc).__name__
    return any(part in name for part in ("DriverNotLoaded", "LibraryNotFound", "NoPermission")) \
        or "Driver Not Loaded" in str(exc) or "Shared Library Not Found" in str(exc)
