"""NVML layer against a fake pynvml: two GPUs, a missing driver, N/A fields, TTL caches."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from oarn_tui.hardware.nvml import NA, Nvml
from tests.hardware.fake_nvml import make_fake_pynvml, two_gpus


def test_two_fake_gpus_are_read_with_every_field() -> None:
    nvml = Nvml(module=make_fake_pynvml(two_gpus()))
    assert nvml.is_available() and nvml.hint() == ""
    first, second = nvml.samples()
    assert first.name == "NVIDIA GeForce RTX 4090"
    assert (first.memory_total_mb, first.memory_used_mb, first.memory_free_mb) == \
        (24564, 16884, 7680)
    assert (first.utilization_percent, first.temperature_c, first.power_w) == (97, 71, 312.5)
    assert first.power_limit_w == 300.0
    assert second.temperature_c is NA and not second.temperature_c
    assert second.to_dict()["temperature_c"] is None
    assert nvml.driver_version() == "550.54.14"
    assert nvml.cuda_version() == "12.4"


def test_slow_fields_are_cached_until_the_ttl_expires() -> None:
    now = [100.0]
    module = make_fake_pynvml(two_gpus())
    nvml = Nvml(module=module, ttl_s=10.0, clock=lambda: now[0])
    for _ in range(5):
        nvml.samples()
        nvml.driver_version()
    assert module.state.calls["nvmlDeviceGetName"] == 2  # once per GPU
    assert module.state.calls["nvmlSystemGetDriverVersion"] == 1
    module.state.gpus[0].used_mb = 20000  # fast fields are always fresh
    assert nvml.sample(0).memory_free_mb == 4564
    now[0] += 11
    nvml.samples()
    assert module.state.calls["nvmlDeviceGetName"] == 4


def test_missing_driver_gives_false_and_one_hint(caplog: pytest.LogCaptureFixture) -> None:
    nvml = Nvml(module=make_fake_pynvml([], driver_loaded=False))
    with caplog.at_level(logging.INFO, logger="oarn_tui.hardware.nvml"):
        assert nvml.is_available() is False
        assert nvml.is_available() is False
        assert nvml.samples() == [] and nvml.device_count() == 0
        assert nvml.driver_version() is NA
    assert "no NVIDIA driver found" in nvml.hint() and "Driver Not Loaded" in nvml.hint()
    hints = [r for r in caplog.records if "NVIDIA driver" in r.getMessage()]
    assert len(hints) == 1
    report = nvml.report()
    assert report["available"] is False and report["gpus"] == []
    json.dumps(report)


def test_lazy_import_honours_sys_modules_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = make_fake_pynvml(two_gpus())
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nvml = Nvml()
    assert "nvmlInit" not in fake.state.calls  # nothing happens before first use
    assert nvml.device_count() == 2
    assert fake.state.calls["nvmlInit"] == 1
    nvml.shutdown()
    assert fake.state.calls["nvmlShutdown"] == 1


def test_real_pynvml_without_driver_never_raises() -> None:
    nvml = Nvml()
    available = nvml.is_available()
    assert isinstance(available, bool)
    if not available:
        assert nvml.hint() and nvml.samples() == []


# -- only NVML's own errors mean "not available" ----------------------------------------------


def test_library_not_found_is_not_available_with_its_reason() -> None:
    module = make_fake_pynvml(two_gpus())
    module.state.init_error = module.NVMLError_LibraryNotFound()
    nvml = Nvml(module=module)
    assert nvml.is_available() is False and nvml.samples() == []
    assert nvml.hint().startswith("no NVIDIA driver found")
    assert "NVML Shared Library Not Found" in nvml.hint()


def test_a_bug_at_nvml_init_propagates_instead_of_reading_as_no_gpu() -> None:
    module = make_fake_pynvml(two_gpus())
    module.state.init_error = RuntimeError("a bug in the binding")
    nvml = Nvml(module=module)
    with pytest.raises(RuntimeError, match="a bug in the binding"):
        nvml.is_available()
    assert "a bug" in nvml.hint() and "not a missing GPU" in nvml.hint()


def test_a_bug_in_a_field_read_propagates_while_nvml_errors_read_as_na() -> None:
    module = make_fake_pynvml(two_gpus())
    nvml = Nvml(module=module)
    assert nvml.sample(1).temperature_c is NA  # NVMLError_NotSupported: a real "N/A"

    def broken_power(handle: int) -> int:
        raise TypeError("unsupported operand")  # not an NVMLError: a bug

    module.nvmlDeviceGetPowerUsage = broken_power
    with pytest.raises(TypeError, match="unsupported operand"):
        nvml.sample(0)


def test_a_lost_gpu_handle_reads_every_field_as_na() -> None:
    module = make_fake_pynvml(two_gpus())

    def lost(index: int) -> int:
        raise module.NVMLError(15, "GPU is lost")

    module.nvmlDeviceGetHandleByIndex = lost
    sample = Nvml(module=module).sample(0)
    assert sample.index == 0 and sample.memory_used_mb is NA and sample.power_w is NA
    assert set(sample.as_snapshot().values()) == {0, "N/A", None}


async def test_the_sampler_logs_a_bug_with_its_traceback_and_keeps_sampling(
        caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from oarn_tui.hardware.telemetry import TelemetrySampler

    module = make_fake_pynvml(two_gpus())
    module.nvmlDeviceGetUtilizationRates = lambda handle: None  # `.gpu` of None: a bug
    sampler = TelemetrySampler(Nvml(module=module), interval_s=0.01)
    with caplog.at_level(logging.ERROR, logger="oarn_tui.hardware.telemetry"):
        sampler.start()
        for _ in range(200):  # bounded: a few failing rounds at 10 ms
            if len(caplog.records) >= 2:
                break
            await asyncio.sleep(0.01)
        await sampler.stop()
    bugs = [r for r in caplog.records if "telemetry sample failed" in r.getMessage()]
    assert len(bugs) >= 2 and all(r.levelno == logging.ERROR and r.exc_info for r in bugs)
    assert bugs[0].exc_info is not None and bugs[0].exc_info[0] is AttributeError
