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
