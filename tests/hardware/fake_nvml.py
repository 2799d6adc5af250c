"""A fake `pynvml` module with the names and behaviour of nvidia-ml-py (this machine has no GPU).

It is injected where `oarn_tui.hardware.nvml` imports pynvml: passed as `module=` or placed in
`sys.modules["pynvml"]` before the lazy import.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

NVML_TEMPERATURE_GPU = 0
MIB = 1024 * 1024


class NVMLError(Exception):
    def __init__(self, value: int = 999, text: str = "Unknown Error") -> None:
        super().__init__(text)
        self.value = value


class NVMLError_DriverNotLoaded(NVMLError):
    def __init__(self) -> None:
        super().__init__(9, "Driver Not Loaded")


class NVMLError_NotSupported(NVMLError):
    def __init__(self) -> None:
        super().__init__(3, "Not Supported")


class NVMLError_LibraryNotFound(NVMLError):
    def __init__(self) -> None:
        super().__init__(12, "NVML Shared Library Not Found")


@dataclass
class FakeGpu:
    name: str
    total_mb: int
    used_mb: int
    utilization: int
    temperature: int | None  # None: "not supported"
    power_mw: int
    limit_mw: int = 300_000
    uuid: str = "GPU-fake"


@dataclass
class Memory:
    total: int
    used: int
    free: int


@dataclass
class Rates:
    gpu: int
    memory: int = 0


@dataclass
class FakeNvmlState:
    gpus: list[FakeGpu] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    driver_loaded: bool = True
    init_error: Exception | None = None  # raised by nvmlInit (an NVML error or a bug)


def make_fake_pynvml(gpus: list[FakeGpu], driver_loaded: bool = True) -> types.ModuleType:
    """A module object that behaves like pynvml for `gpus`."""
    state = FakeNvmlState(gpus=gpus, driver_loaded=driver_loaded)
    module = types.ModuleType("pynvml")

    def count(name: str) -> None:
        state.calls[name] = state.calls.get(name, 0) + 1

    def nvmlInit() -> None:
        count("nvmlInit")
        if state.init_error is not None:
            raise state.init_error
        if not state.driver_loaded:
            raise NVMLError_DriverNotLoaded()

    def gpu(handle: int) -> FakeGpu:
        return state.gpus[handle]

    def get_name(handle: int) -> str:
        count("nvmlDeviceGetName")
        return gpu(handle).name

    def get_temperature(handle: int, sensor: int) -> int:
        value = gpu(handle).temperature
        if value is None:
            raise NVMLError_NotSupported()
        return value

    def get_memory(handle: int) -> Memory:
        g = gpu(handle)
        return Memory(g.total_mb * MIB, g.used_mb * MIB, (g.total_mb - g.used_mb) * MIB)

    def driver_version() -> bytes:
        count("nvmlSystemGetDriverVersion")
        return b"550.54.14"

    module.__dict__.update(
        NVML_TEMPERATURE_GPU=NVML_TEMPERATURE_GPU, NVMLError=NVMLError,
        NVMLError_DriverNotLoaded=NVMLError_DriverNotLoaded,
        NVMLError_NotSupported=NVMLError_NotSupported,
        NVMLError_LibraryNotFound=NVMLError_LibraryNotFound, state=state,
        nvmlInit=nvmlInit, nvmlShutdown=lambda: count("nvmlShutdown"),
        nvmlDeviceGetCount=lambda: len(state.gpus),
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetName=get_name,
        nvmlDeviceGetUUID=lambda handle: gpu(handle).uuid,
        nvmlDeviceGetMemoryInfo=get_memory,
        nvmlDeviceGetUtilizationRates=lambda handle: Rates(gpu(handle).utilization),
        nvmlDeviceGetTemperature=get_temperature,
        nvmlDeviceGetPowerUsage=lambda handle: gpu(handle).power_mw,
        nvmlDeviceGetEnforcedPowerLimit=lambda handle: gpu(handle).limit_mw,
        nvmlSystemGetDriverVersion=driver_version,
        nvmlSystemGetCudaDriverVersion=lambda: 12040)
    return module


def two_gpus() -> list[FakeGpu]:
    return [FakeGpu("NVIDIA GeForce RTX 4090", 24564, 16884, 97, 71, 312_500, uuid="GPU-0"),
            FakeGpu("NVIDIA RTX A2000", 6144, 1024, 3, None, 25_000, uuid="GPU-1")]
