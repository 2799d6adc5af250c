"""Determinism classes: when two results of one task must be byte-identical.

ONNX Runtime output bytes are identical across runs, sessions and thread counts on one CPU type,
but differ across optimisation levels, execution providers and CPU instruction sets. So a
verifier compares result hashes exactly only when every field of the class agrees and the
provider is deterministic; otherwise it compares the decoded tensors within a tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Providers whose kernels give the same bits run after run on the same hardware.
DETERMINISTIC_PROVIDERS = frozenset({"CPUExecutionProvider", "cpu", "llama.cpp-cpu"})
DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5


@dataclass(frozen=True)
class DeterminismClass:
    """What decides an output's exact bytes."""

    model_sha256: str
    runtime: str
    runtime_version: str
    optimization_level: str
    execution_provider: str
    cpu_class: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeterminismClass:
        return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})


def must_match_exactly(a: DeterminismClass, b: DeterminismClass) -> bool:
    """True when results of the two classes must have equal hashes (same class, CPU-exact)."""
    return a == b and a.execution_provider in DETERMINISTIC_PROVIDERS


def tensors_close(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], *,
                  rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> tuple[bool, str]:
    """Compare two output sets within a tolerance; returns (agree, reason)."""
    if sorted(a) != sorted(b):
        return False, f"output names differ: {sorted(a)} vs {sorted(b)}"
    for name in sorted(a):
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.shape != y.shape:
            return False, f"output {name!r}: shape {x.shape} vs {y.shape}"
        if x.dtype != y.dtype:
            return False, f"output {name!r}: dtype {x.dtype} vs {y.dtype}"
        if np.issubdtype(x.dtype, np.floating):
            if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
                worst = float(np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64))))
                return False, f"output {name!r}: max difference {worst:.3g} beyond tolerance"
        elif not np.array_equal(x, y):
            return False, f"output {name!r}: values differ"
    return True, "equal within tolerance"


def results_agree(hash_a: str, class_a: DeterminismClass, outputs_a: Mapping[str, np.ndarray],
                  hash_b: str, class_b: DeterminismClass, outputs_b: Mapping[str, np.ndarray],
                  *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> tuple[bool, str]:
    """How a verifier judges two results: exact hashes when required, else tolerance."""
    if class_a.model_sha256 != class_b.model_sha256:
        return False, "results come from different models"
    if must_match_exactly(class_a, class_b):
        if hash_a == hash_b:
            return True, "identical bytes (same determinism class)"
        return False, "hashes differ although the determinism class requires identical bytes"
    return tensors_close(outputs_a, outputs_b, rtol=rtol, atol=atol)
