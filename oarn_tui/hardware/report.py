"""The full capability report behind `oarn hardware` and the runtime's `hardware.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.runtimes import runtimes_report
from oarn_tui.hardware.system import system_report


def capability_report(home: Path, ollama_url: str, nvml: Nvml | None = None,
                      gguf_model: Path | None = None) -> dict[str, Any]:
    """System, GPUs and usable runtimes in one JSON-ready dict (blocking: probes import).
    `gguf_model` is the compute layer's default GGUF model, shown with the llama.cpp probe."""
    nvml = nvml or Nvml()
    return {**system_report(home), "gpu": nvml.report(),
            "runtimes": runtimes_report(ollama_url, gguf_model)}


def render_report(report: dict[str, Any]) -> str:
    """A short human rendering of `capability_report`."""
    cpu, ram = report["cpu"], report["ram"]
    lines = [f"CPU     {cpu['model']} — {cpu['physical_cores']} cores / "
             f"{cpu['logical_cores']} threads, class {cpu['cpu_class']}",
             f"RAM     {ram['available_mb'] / 1024:.1f} GiB free of "
             f"{ram['total_mb'] / 1024:.1f} GiB"]
    if "disk" in report:
        disk = report["disk"]
        lines.append(f"Disk    {disk['free_mb'] / 1024:.1f} GiB free of "
                     f"{disk['total_mb'] / 1024:.1f} GiB at {disk['path']}")
    gpu = report["gpu"]
    if not gpu["available"]:
        lines.append(f"GPU     none — {gpu['hint']}")
    else:
        lines.append(f"GPU     driver {gpu['driver_version']}, CUDA {gpu['cuda_version']}")
        for g in gpu["gpus"]:
            lines.append(
                f"  [{g['index']}] {g['name']}: {_mb(g['memory_free_mb'])} free of "
                f"{_mb(g['memory_total_mb'])}, {_na(g['utilization_percent'], '%')} busy, "
                f"{_na(g['temperature_c'], ' °C')}, {_na(g['power_w'], ' W')}")
    lines.append("Runtimes")
    for name, probe in report["runtimes"].items():
        if probe["available"]:
            detail = ", ".join(f"{k}={v}" for k, v in probe.items()
                               if k not in {"available"} and v not in (None, [], ""))
            lines.append(f"  {name:<12} yes  {detail}")
        else:
            lines.append(f"  {name:<12} no   {probe['hint']}")
    return "\n".join(lines)


def _mb(value: int | None) -> str:
    return "N/A" if value is None else f"{value / 1024:.1f} GiB"


def _na(value: Any, unit: str) -> str:
    return "N/A" if value is None else f"{value}{unit}"
