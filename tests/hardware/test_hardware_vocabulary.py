"""One telemetry vocabulary: the sample dataclasses' snapshot keys reach the `hardware.sample`
event, the status document (`hardware` and `telemetry` blocks) and the dashboard's views unchanged;
the only other key is the documented legacy alias `utilization_pct`. The hardware service owns its
status section: a runtime with only that service has the `telemetry` block."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from oarn_tui.config import load_config
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.samples import (
    GPU_DOCUMENT_ALIASES,
    GpuSample,
    TelemetrySample,
    as_number,
)
from oarn_tui.hardware.service import HardwareService
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.snapshot import TELEMETRY_VIEW_EXTRAS, GpuView, NodeSnapshot, TelemetryView
from oarn_tui.tui.telemetry_feed import TelemetryFeed, telemetry_for
from oarn_tui.tui.widgets.telemetry import telemetry_lines
from tests.hardware.fake_nvml import make_fake_pynvml, two_gpus

pytestmark = pytest.mark.timeout(60)

HARDWARE = Path(__file__).resolve().parents[2] / "oarn_tui" / "hardware"


def fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_snapshot_keys_are_declared_once_on_the_samples() -> None:
    assert list(GpuSample.SNAPSHOT_KEYS) == fields(GpuSample)
    assert set(fields(TelemetrySample)) <= set(TelemetrySample.SNAPSHOT_KEYS)
    derived = set(TelemetrySample.SNAPSHOT_KEYS) - set(fields(TelemetrySample))
    assert derived == {"ram_used_mb", "accelerator"}  # properties, in the snapshot like nvitop's
    # the dashboard's views are the same names (plus what only the status adds)
    assert fields(GpuView) == list(GpuSample.SNAPSHOT_KEYS)
    assert set(fields(TelemetryView)) == set(TelemetrySample.SNAPSHOT_KEYS) \
        | set(TELEMETRY_VIEW_EXTRAS)
    assert set(GPU_DOCUMENT_ALIASES.values()) <= set(GpuSample.SNAPSHOT_KEYS)


async def sampled_runtime(tmp_path: Path, nvml: Nvml) -> tuple[NodeRuntime, HardwareService]:
    home = tmp_path / "home"
    home.mkdir()
    config = load_config(home, env={"OARN_COMPUTE_TELEMETRY_INTERVAL_S": "0.1"})
    hardware = HardwareService(nvml)
    runtime = NodeRuntime(config, [hardware], log_to_file=False)
    await runtime.start()
    for _ in range(100):  # bounded wait for a few samples and their events
        if len(hardware.history()) >= 3:
            break
        await asyncio.sleep(0.05)
    assert len(hardware.history()) >= 3
    return runtime, hardware


async def test_the_same_keys_reach_events_status_and_the_dashboard(tmp_path: Path) -> None:
    runtime, hardware = await sampled_runtime(tmp_path, Nvml(module=make_fake_pynvml(two_gpus())))
    try:
        status = json.loads(json.dumps(runtime.status()))  # what `status --json` prints
        latest = hardware.latest
        assert latest is not None
        gpu_keys = set(GpuSample.SNAPSHOT_KEYS)
        sample_keys = set(TelemetrySample.SNAPSHOT_KEYS)

        telemetry = status["telemetry"]  # the hardware service's own section: no glue service
        assert set(telemetry) == sample_keys | {"history", "gpu_hint"}
        assert len(telemetry["gpus"]) == 2
        for gpu in telemetry["gpus"]:
            assert set(gpu) - set(GPU_DOCUMENT_ALIASES) == gpu_keys
            for alias, key in GPU_DOCUMENT_ALIASES.items():
                assert gpu[alias] == gpu[key]  # the legacy key stays, with the same value
        assert telemetry["accelerator"] == "gpu" and telemetry["gpu_hint"] == ""

        assert set(status["hardware"]) == sample_keys
        assert all(set(gpu) == gpu_keys for gpu in status["hardware"]["gpus"])

        event = [e for e in runtime.events.recent(200) if e.kind == "hardware.sample"][-1]
        assert set(event.data) == sample_keys
        assert all(set(gpu) == gpu_keys for gpu in event.data["gpus"])

        # the dashboard's view holds the sample's values under the sample's names
        view = NodeSnapshot.from_dict(status).telemetry
        assert view.accelerator == "gpu"
        for shown, gpu in zip(view.gpus, latest.gpus, strict=True):
            snap = gpu.as_snapshot()
            assert dataclasses.asdict(shown) == {
                key: value if key in ("index", "name", "uuid") else as_number(value)
                for key, value in snap.items()}
        assert view.ram_used_mb == latest.ram_used_mb
        # GpuView is built by one parser: events and the status give the same views
        feed = TelemetryFeed()
        feed.add([e for e in runtime.events.recent(200) if e.kind == "hardware.sample"])
        from_events = feed.view()
        assert from_events is not None
        assert [dataclasses.asdict(g)["name"] for g in from_events.gpus] == \
            [g.name for g in latest.gpus]
        assert set(fields(GpuView)) == set(dataclasses.asdict(from_events.gpus[0]))
    finally:
        await runtime.stop()
        runtime.close()


async def test_cpu_only_is_a_typed_field_with_the_hint(tmp_path: Path) -> None:
    nvml = Nvml(module=make_fake_pynvml([], driver_loaded=False))
    runtime, _ = await sampled_runtime(tmp_path, nvml)
    try:
        telemetry = runtime.status()["telemetry"]
        assert telemetry["gpus"] == [] and telemetry["accelerator"] == "cpu"
        assert telemetry["gpu_hint"] == nvml.hint() and "Driver Not Loaded" in nvml.hint()
        snapshot = NodeSnapshot.from_dict(runtime.status())
        feed = TelemetryFeed()
        feed.add(runtime.events.recent(200))
        shown = telemetry_for(snapshot, feed)  # the event-fed view, the status's hint
        assert shown.accelerator == "cpu" and shown.gpu_hint == nvml.hint()
        text = " ".join("".join(t for t, _ in line) for line in telemetry_lines(shown, 200))
        assert "Driver Not Loaded" in text
    finally:
        await runtime.stop()
        runtime.close()
    # the pane decides on the typed field, not on the hint's wording
    hinted = TelemetryView(gpu_hint="CPU only: whatever the reason says", accelerator="gpu")
    assert "whatever" not in str(telemetry_lines(hinted, 80))
    assert "whatever" in str(telemetry_lines(dataclasses.replace(hinted, accelerator="cpu"), 80))


def test_an_old_daemons_document_still_parses() -> None:
    """A daemon from before the vocabulary wrote only `utilization_pct` and no `accelerator`."""
    old = {"telemetry": {"cpu_percent": 12, "ram_used_mb": 100, "ram_total_mb": 400,
                         "gpus": [{"index": 0, "name": "RTX", "utilization_pct": 71,
                                   "memory_used_mb": 9216, "memory_total_mb": 24564,
                                   "temperature_c": 64, "power_w": 285.0}],
                         "history": {"cpu": [1.0, 2.0]}, "gpu_hint": ""}}
    view = NodeSnapshot.from_dict(old).telemetry
    assert view.gpus[0].utilization_percent == 71.0 and view.accelerator == "gpu"
    assert view.history == {"cpu": (1.0, 2.0)}
    no_gpu = NodeSnapshot.from_dict({"telemetry": {"gpus": [], "gpu_hint": "no driver"}})
    assert no_gpu.telemetry.accelerator == "cpu"
    assert NodeSnapshot.from_dict({}).telemetry.accelerator == ""


def test_status_fields_before_the_first_sample() -> None:
    assert HardwareService(Nvml(module=make_fake_pynvml(two_gpus()))).status_fields() == \
        {"hardware": None}


def test_hardware_imports_nothing_from_the_layers_above() -> None:
    """hardware is the lower layer: compute (and runtime, tui) may import it, never back."""
    above = ("oarn_tui.compute", "oarn_tui.runtime", "oarn_tui.tui", "oarn_tui.pipeline")
    found = []
    for path in sorted(HARDWARE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {name}" for name in names if name.startswith(above)]
    assert found == []


def test_the_caller_names_the_default_gguf_model(tmp_path: Path) -> None:
    from oarn_tui.hardware.runtimes import probe_llama_cpp

    model = tmp_path / "model.gguf"
    probe = probe_llama_cpp(model)
    if not probe["available"]:
        pytest.skip(f"llama-cpp-python is not usable here: {probe['hint']}")
    assert probe["default_model"] == str(model)
    assert probe_llama_cpp()["default_model"] is None


def test_the_event_catalog_declares_the_samples_keys() -> None:
    """`hardware.sample`'s catalogued payload is the sample's snapshot, key for key."""
    catalog = pytest.importorskip("oarn_tui.core.catalog.events")
    assert set(fields(catalog.HardwareSample)) == set(TelemetrySample.SNAPSHOT_KEYS)
