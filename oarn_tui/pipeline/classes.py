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
    """A stable id in 1..255 for a class key (the contract stores the class as uint8).

    Two different classes share an id with probability 1/255; a task is then still verified by
    its executors' hashes, which simply disagree."""
    return 1 + hashlib.sha256(key.encode()).digest()[0] % 255


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
