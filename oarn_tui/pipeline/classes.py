"""The determinism class a node offers, as the small integer tasks name on chain.

A task that needs byte-identical results (R > 1) names the class of runtime, runtime version,
optimisation level, execution provider and CPU instruction set; only nodes of that class claim
it. Class 0 means "any": results are then compared within a tolerance, never by hash alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

ANY_CLASS = 0


def class_key(runtime: str, runtime_version: str, optimization_level: str,
              execution_provider: str, cpu_class: str) -> str:
    return "|".join((runtime, runtime_version, optimization_level, execution_provider, cpu_class))


def class_id(key: str) -> int:
    """A stable non-zero 32-bit id for a class key."""
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    return value or 1


def node_class(config: Any) -> tuple[int, str]:
    """(id, key) of the ONNX determinism class this node runs tasks in."""
    import onnxruntime

    from oarn_tui.hardware.system import cpu_class

    providers = onnxruntime.get_available_providers()
    provider = "CUDAExecutionProvider" if "CUDAExecutionProvider" in providers \
        else "CPUExecutionProvider"
    key = class_key("onnxruntime", onnxruntime.__version__, config.compute.onnx_optimization,
                    provider, cpu_class())
    return class_id(key), key
