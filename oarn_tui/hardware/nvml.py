"""NVML access in the style of nvitop: lazy init, `is_available()` instead of exceptions.

`pynvml` (package nvidia-ml-py) is imported on first use, so machines without an NVIDIA driver pay
nothing and never see a traceback: `is_available()` returns False and `hint()` says once, in one
line, what is missing. Fields that are slow to read and never change (name, total memory, driver
and CUDA versions) are cached with a TTL. A field a GPU does not support reads as `NA`.
Only NVML's own errors (`pynvml.NVMLError` and its subclasses, e.g. `NVMLError_LibraryNotFound`)
and a missing `pynvml` mean "not available"; any other exception is a bug and propagates.
The sample dataclasses and their snapshot keys live in `oarn_tui.hardware.samples`.
Tests inject a fake module through the `module` parameter or `sys.modules["pynvml"]`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from oarn_tui.hardware.samples import NA, GpuSample, NaType, json_value

__all__ = ["DRIVER_HINT", "NA", "GpuSample", "NaType", "Nvml", "json_value"]

log = logging.getLogger(__name__)

SLOW_FIELD_TTL_S = 60.0
DRIVER_HINT = ("no NVIDIA driver found: GPU features are off and the node runs on the CPU "
               "(install the NVIDIA driver to lend a GPU)")


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
            except ImportError:
                self._reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            else:
                self._start(self._module)
            if not self._available and not self._hint_logged:
                self._hint_logged = True
                log.info("%s", self._reason)
            return self._available

    def _start(self, module: ModuleType) -> None:
        """`nvmlInit()`; an NVML error (no driver, library not found, no permission) leaves
        NVML unavailable with its reason. Any other exception is a bug and propagates."""
        try:
            module.nvmlInit()
            self._available = True
        except nvml_errors(module) as exc:
            self._reason = f"{DRIVER_HINT} [{exc}]" if _is_driver_error(exc) \
                else f"NVML failed to start: {exc}"
        except Exception as exc:
            self._reason = f"NVML failed unexpectedly (a bug, not a missing GPU): {exc!r}"
            raise

    def is_available(self) -> bool:
        """True when NVML initialised. A missing library or driver is False, never an
        exception; an exception that is not NVML's own (a bug) propagates."""
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
                except nvml_errors(self._module) as exc:
                    log.debug("nvmlShutdown failed: %s", exc)
            self._initialised = self._available = False

    # -- reads -----------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        """Call an NVML function; an NVML error (not supported, lost GPU) becomes `NA`. Any
        other exception is a bug (in this code or the binding) and propagates."""
        function = getattr(self._module, name)
        try:
            return function(*args)
        except nvml_errors(self._module):
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
        version = self._slow(("driver",), "nvmlSystemGetDriverVersion")
        return NA if version is NA else str(version)

    def cuda_version(self) -> str | NaType:
        """CUDA driver API version as 'major.minor'."""
        if not self._init():
            return NA
        raw = self._slow(("cuda",), "nvmlSystemGetCudaDriverVersion")
        if not isinstance(raw, int):
            return NA
        number = raw
        return f"{number // 1000}.{(number % 1000) // 10}"

    def samples(self) -> list[GpuSample]:
        """A fresh reading of every GPU (empty without NVML)."""
        return [self.sample(index) for index in range(self.device_count())]

    def sample(self, index: int) -> GpuSample:
        handle = self._call("nvmlDeviceGetHandleByIndex", index)
        if handle is NA:  # the GPU went away between the count and now: nothing to ask it
            return GpuSample(index=index, name=str(NA), uuid=str(NA), memory_total_mb=NA,
                             memory_used_mb=NA, memory_free_mb=NA, utilization_percent=NA,
                             temperature_c=NA, power_w=NA, power_limit_w=NA)
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


def nvml_errors(module: ModuleType | None) -> tuple[type[BaseException], ...]:
    """The exception classes that mean "NVML says no": pynvml's `NVMLError` (its subclasses
    include `NVMLError_LibraryNotFound`, `NVMLError_DriverNotLoaded`, `NVMLError_NotSupported`).
    A module without it has no NVML errors to catch."""
    error = getattr(module, "NVMLError", None)
    return (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()


def _is_driver_error(exc: BaseException) -> bool:
    name = type(exc).__name__
    return any(part in name for part in ("DriverNotLoaded", "LibraryNotFound", "NoPermission")) \
        or "Driver Not Loaded" in str(exc) or "Shared Library Not Found" in str(exc)
