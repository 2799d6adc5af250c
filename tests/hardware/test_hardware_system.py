"""System report, ISA classes, telemetry ring buffer, the `oarn hardware` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.hardware import hardware
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.report import capability_report, render_report
from oarn_tui.hardware.system import isa_class, system_report
from oarn_tui.hardware.telemetry import TelemetrySampler
from tests.hardware.fake_nvml import make_fake_pynvml, two_gpus


def test_isa_class_picks_the_widest_simd_set() -> None:
    assert isa_class(frozenset({"sse2", "avx", "avx2", "avx512f"}), "x86_64") == "avx512"
    assert isa_class(frozenset({"sse2", "avx", "avx2"}), "x86_64") == "avx2"
    assert isa_class(frozenset({"sse2", "avx"}), "x86_64") == "avx"
    assert isa_class(frozenset({"sse2"}), "x86_64") == "sse"
    assert isa_class(frozenset({"neon"}), "aarch64") == "aarch64"


def test_system_report_reads_this_machine(tmp_path: Path) -> None:
    report = system_report(tmp_path / "not-yet" / "home")
    assert report["cpu"]["logical_cores"] >= 1
    assert report["ram"]["total_mb"] > report["ram"]["available_mb"] > 0
    assert report["disk"]["path"] == str(tmp_path) and report["disk"]["free_mb"] > 0


async def test_sampler_keeps_a_bounded_ring_of_immutable_samples() -> None:
    sampler = TelemetrySampler(Nvml(module=make_fake_pynvml(two_gpus())), interval_s=0.01,
                               capacity=5)
    seen = []
    sampler.on_sample = seen.append
    sampler.start()
    for _ in range(200):
        if len(seen) >= 8:
            break
        await asyncio.sleep(0.01)
    await sampler.stop()
    assert len(seen) >= 8 and len(sampler.history()) == 5
    latest = sampler.latest
    assert latest is not None and latest.vram_free_mb == 7680  # the freer of the two GPUs
    assert latest.hottest_gpu_c == 71
    assert len(sampler.series("cpu_percent")) == 5
    try:
        latest.cpu_percent = 1.0  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("samples must be immutable")


def test_capability_report_with_fake_gpus_renders(tmp_path: Path) -> None:
    report = capability_report(tmp_path, "http://127.0.0.1:9",
                               Nvml(module=make_fake_pynvml(two_gpus())))
    assert report["gpu"]["available"] and len(report["gpu"]["gpus"]) == 2
    assert report["runtimes"]["onnx"]["available"]
    assert "CPUExecutionProvider" in report["runtimes"]["onnx"]["providers"]
    assert report["runtimes"]["ollama"]["available"] is False
    assert "ollama serve" in report["runtimes"]["ollama"]["hint"]
    text = render_report(report)
    assert "RTX 4090" in text and "N/A" in text  # second GPU has no temperature sensor


def test_hardware_command_json(tmp_path: Path) -> None:
    root = click.Group()
    root.add_command(hardware)
    result = CliRunner().invoke(root, ["hardware", "--json"], obj=AppContext(home=tmp_path))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"cpu", "ram", "disk", "gpu", "runtimes"}
    assert data["gpu"]["available"] in (True, False)
    human = CliRunner().invoke(root, ["hardware"], obj=AppContext(home=tmp_path))
    assert human.exit_code == 0 and "Runtimes" in human.output
