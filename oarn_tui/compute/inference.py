"""What an inference task asks and what the node makes of an executor's reply.

`InferenceTask` in, `InferenceResult` out: the outputs are re-checked as canonical safetensors
and hashed by the node itself (nothing an executor sends is trusted as it is), together with the
determinism class and the isolation the task got. `SandboxSettings` are the executor settings
from `[compute]`. The pool (`compute/pool.py`) only schedules; this module holds the data.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oarn_tui.compute import sandbox
from oarn_tui.compute.determinism import DeterminismClass
from oarn_tui.compute.executor import ExecutorProcess, TaskFailed
from oarn_tui.compute.manifest import detect_format
from oarn_tui.compute.tensors import (
    TensorFormatError,
    decode_safetensors,
    encode_canonical,
    is_canonical,
    result_hash,
)
from oarn_tui.hardware.system import cpu_class

MODEL_FORMATS = ("onnx", "torchscript", "gguf")


@dataclass(frozen=True)
class SandboxSettings:
    """Executor settings, usually from `[compute]` (see `from_config`)."""

    memory_mb: int = 4096
    threads: int = 1
    onnx_optimization: str = "basic"
    timeout_s: float = 300.0
    use_cuda: bool = True
    sandbox: bool = True  # False only for `oarn local inference --no-sandbox`

    @classmethod
    def from_config(cls, config: Any) -> SandboxSettings:
        compute = config.compute
        return cls(memory_mb=compute.worker_memory_mb, threads=compute.onnx_threads,
                   onnx_optimization=compute.onnx_optimization,
                   timeout_s=float(compute.task_timeout_s))


@dataclass(frozen=True)
class InferenceTask:
    """One inference: tensors for tensor models, a prompt for GGUF language models."""

    model_path: Path
    inputs: dict[str, np.ndarray] | None = None
    prompt: str | None = None
    max_tokens: int = 128
    timeout_s: float | None = None
    model_format: str | None = None
    task_id: str = ""


@dataclass(frozen=True)
class InferenceResult:
    """Outputs in canonical encoding, their hash, determinism class and how the task ran."""

    task_id: str
    outputs: dict[str, np.ndarray]
    encoded: bytes
    result_hash: str
    determinism: DeterminismClass
    sandbox: dict[str, Any]
    timings: dict[str, float]
    executor_pid: int
    text: str | None = None
    tokens: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (without the tensor bytes). `worker_pid` is the executor's
        PID under the key `oarn local --json` has always printed."""
        return {"task_id": self.task_id, "result_hash": self.result_hash,
                "outputs": {name: {"dtype": a.dtype.name, "shape": list(a.shape)}
                            for name, a in sorted(self.outputs.items())},
                "determinism": self.determinism.to_dict(), "sandbox": self.sandbox,
                "timings_ms": self.timings, "worker_pid": self.executor_pid,
                **({"text": self.text, "tokens": self.tokens} if self.text is not None else {})}


_IDENTITY_CACHE: dict[tuple[str, int, int], tuple[str | None, str]] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def model_identity(path: Path) -> tuple[str | None, str]:
    """(format, SHA-256) of a model file, cached by (path, size, mtime). Blocking on a miss."""
    key = _stat_key(path)
    if key not in _IDENTITY_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _IDENTITY_CACHE[key] = (detect_format(path), digest.hexdigest())
    return _IDENTITY_CACHE[key]


async def model_identity_async(path: Path) -> tuple[str | None, str]:
    """Cache hits answer at once (one stat); misses hash the file in a thread."""
    try:
        hit = _IDENTITY_CACHE.get(_stat_key(path))
    except OSError:
        raise TaskFailed(f"model file not found: {path}", "model") from None
    if hit is not None:
        return hit
    return await asyncio.get_running_loop().run_in_executor(None, model_identity, path)


def checked_inputs(task: InferenceTask, model_format: str | None) -> dict[str, np.ndarray]:
    """The task's tensors as arrays, refused with the reason before any executor works."""
    path = Path(task.model_path)
    if model_format not in MODEL_FORMATS:
        raise TaskFailed(f"{path.name} is not an ONNX, TorchScript or GGUF model", "model")
    if model_format == "gguf" and task.prompt is None:
        raise TaskFailed("a GGUF model needs a prompt, not tensors", "input")
    if model_format != "gguf" and task.inputs is None:
        raise TaskFailed("a tensor model needs input tensors", "input")
    if task.inputs is None:
        return {}
    try:
        inputs = {str(name): np.asarray(value) for name, value in task.inputs.items()}
        encode_canonical({name: a.reshape(-1)[:0] for name, a in inputs.items()})
    except TensorFormatError as exc:  # an unsupported dtype, found before any work
        raise TaskFailed(str(exc), "input") from None
    return inputs


def sandbox_report(executor: ExecutorProcess) -> dict[str, Any]:
    """What isolation this executor got, for the result."""
    status = sandbox.peek() if executor.sandboxed else None
    layers = status.layers if status is not None and status.ok else sandbox.PLAIN_LAYERS
    notes = [] if executor.sandboxed else ["run without the sandbox (--no-sandbox): the model "
                                           "could reach the network and the node's files"]
    return sandbox.SandboxReport(executor.sandboxed, layers,
                                 dict(executor.ready.get("limits", {})), notes).to_dict()


def build_result(task: InferenceTask, executor: ExecutorProcess, reply: dict[str, Any],
                 body: memoryview, cold_ms: float, run_ms: float, started: float
                 ) -> InferenceResult:
    """Verify the executor's outputs (canonical or re-encoded), hash them, say how it ran."""
    text = None
    if "text" in reply:
        text = str(reply["text"])
        outputs = {"text": np.frombuffer(text.encode(), dtype=np.uint8).copy()}
        encoded = encode_canonical(outputs)
    else:
        try:
            outputs = decode_safetensors(body, copy=False)
        except TensorFormatError as exc:
            raise TaskFailed(f"the executor returned unreadable outputs: {exc}", "protocol") \
                from None
        encoded = body if isinstance(body, bytes) else bytes(body)
        if not is_canonical(encoded, outputs):
            encoded = encode_canonical(outputs)
        outputs = decode_safetensors(encoded, copy=False)
    ready = executor.ready
    determinism = DeterminismClass(
        model_sha256=executor.model_sha256, runtime=str(ready["runtime"]),
        runtime_version=str(ready["runtime_version"]),
        optimization_level=str(ready["optimization_level"]),
        execution_provider=str(ready["execution_provider"]), cpu_class=cpu_class())
    timings = {"cold_start_ms": round(cold_ms, 3), "run_ms": round(run_ms, 3),
               "worker_run_ms": float(reply.get("run_ms", 0.0)),
               "engine_ms": float(reply.get("engine_ms", 0.0)),
               "total_ms": round((time.perf_counter() - started) * 1000, 3)}
    return InferenceResult(task_id=task.task_id, outputs=outputs, encoded=encoded,
                           result_hash=result_hash(encoded), determinism=determinism,
                           sandbox=sandbox_report(executor), timings=timings,
                           executor_pid=executor.pid, text=text,
                           tokens=int(reply.get("tokens", 0)))
