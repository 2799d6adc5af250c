"""CPU, RAM and disk of this machine (psutil + /proc/cpuinfo), JSON-ready.

The CPU *instruction-set class* (avx512, avx2, avx, sse, or the machine name on non-x86) matters
beyond display: ONNX Runtime picks kernels by it, so result bytes can differ between classes and
verifiers must know it. `cpu_class()` is that fact; the determinism classes built on it belong to
the layers above (hardware imports none of them).
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo ({} where it does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, sep, value = line.partition(":")
        if sep:
            info[name.strip()] = value.strip()
    return info


def cpu_flags() -> frozenset[str]:
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def isa_class(flags: frozenset[str] | None = None, machine: str | None = None) -> str:
    """The widest SIMD class the CPU offers: avx512, avx2, avx, sse, or the architecture."""
    flags = cpu_flags() if flags is None else flags
    machine = (machine or platform.machine()).lower()
    if machine in {"x86_64", "amd64", "i386", "i686"}:
        if "avx512f" in flags:
            return "avx512"
        if "avx2" in flags:
            return "avx2"
        if "avx" in flags:
            return "avx"
        return "sse"
    return machine or "unknown"


@functools.cache
def cpu_class() -> str:
    """Architecture plus ISA class, e.g. 'x86_64-avx2'; part of every determinism class."""
    machine = platform.machine().lower() or "unknown"
    isa = isa_class()
    return machine if isa == machine else f"{machine}-{isa}"


def cpu_model() -> str:
    info = _cpuinfo()
    return info.get("model name") or info.get("Hardware") or platform.processor() or "unknown"


def disk_target(path: Path) -> Path:
    """The nearest existing ancestor of `path` (the home may not exist yet)."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def system_report(home: Path | None = None) -> dict[str, Any]:
    """CPU, RAM and (for `home`) disk, with sizes in MiB."""
    memory = psutil.virtual_memory()
    report: dict[str, Any] = {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": {"model": cpu_model(), "physical_cores": psutil.cpu_count(logical=False),
                "logical_cores": psutil.cpu_count(logical=True), "machine": platform.machine(),
                "isa_class": isa_class(), "cpu_class": cpu_class(),
                "usable_cores": len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity") else psutil.cpu_count()},
        "ram": {"total_mb": memory.total // MIB, "available_mb": memory.available // MIB},
    }
    if home is not None:
        target = disk_target(home)
        usage = psutil.disk_usage(str(target))
        report["disk"] = {"path": str(target), "total_mb": usage.total // MIB,
                          "free_mb": usage.free // MIB}
    return report
