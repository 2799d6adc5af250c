"""The executor pool: sandboxed executor processes, one model each, driven from asyncio.

`await pool.run(task)` never blocks the event loop. An executor (`compute/channel.py`) stays
alive for the next task on the same model; after any failure it is killed and replaced by a fresh
one on demand. A worker that crashes, runs away or exhausts its memory fails only its task, with
a reason. Nothing an executor sends is unpickled, and its outputs are re-checked as canonical and
hashed by the node itself. Fail closed: with `sandbox` on (the default) and the sandbox not
available here (`compute/sandbox.py`), every task is refused with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oarn_tui.compute import sandbox
from oarn_tui.compute.channel import ExecutorProcess, TaskFailed, TokenCallback
from oarn_tui.compute.determinism import DeterminismClass
from oarn_tui.compute.manifest import detect_format
from oarn_tui.compute.tensors import (
    TensorFormatError,
    decode_safetensors,
    encode_canonical,
    is_canonical,
    result_hash,
)
from oarn_tui.compute.worker import WorkerSpec
from oarn_tui.hardware.system import cpu_class

__all__ = ["ExecutorPool", "ExecutorProcess", "InferenceResult", "InferenceTask",
           "SandboxSettings", "TaskFailed", "TokenCallback", "model_identity"]
LOAD_TIMEOUT_S = 120.0  # spawning and loading a model is not part of a task's time limit


@dataclass(frozen=True)
class SandboxSettings:
    """Worker settings, usually from `[compute]` (see `from_config`)."""

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
    worker_pid: int
    text: str | None = None
    tokens: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (without the tensor bytes)."""
        return {"task_id": self.task_id, "result_hash": self.result_hash,
                "outputs": {name: {"dtype": a.dtype.name, "shape": list(a.shape)}
                            for name, a in sorted(self.outputs.items())},
                "determinism": self.determinism.to_dict(), "sandbox": self.sandbox,
                "timings_ms": self.timings, "worker_pid": self.worker_pid,
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


async def _model_identity(path: Path) -> tuple[str | None, str]:
    """Cache hits answer at once (one stat); misses hash the file in a thread."""
    try:
        hit = _IDENTITY_CACHE.get(_stat_key(path))
    except OSError:
        raise TaskFailed(f"model file not found: {path}", "model") from None
    if hit is not None:
        return hit
    return await asyncio.get_running_loop().run_in_executor(None, model_identity, path)


INLINE_RESULT_BYTES = 4 * 1024 * 1024  # larger results are verified and hashed in a thread


@dataclass
class _PoolState:
    workers: list[ExecutorProcess] = field(default_factory=list)


class ExecutorPool:
    """Runs inference tasks in sandboxed workers, at most `max_workers` at once."""

    def __init__(self, settings: SandboxSettings | None = None, max_workers: int = 2) -> None:
        self.settings = settings or SandboxSettings()
        self.max_workers = max_workers
        self._state = _PoolState()
        self._condition: asyncio.Condition | None = None
        self.stats = {"tasks": 0, "failed": 0, "worker_starts": 0}

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    @property
    def workers(self) -> list[ExecutorProcess]:
        return list(self._state.workers)

    def _spec(self, task: InferenceTask, model_format: str) -> WorkerSpec:
        s = self.settings
        return WorkerSpec(model_path=str(Path(task.model_path).absolute()),
                          model_format=model_format, memory_mb=s.memory_mb,
                          threads=s.threads, onnx_optimization=s.onnx_optimization,
                          use_cuda=s.use_cuda)

    def _sandbox_refusal(self) -> str | None:
        """The refusal line when the sandbox is required and does not hold, else None."""
        if not self.settings.sandbox:
            return None
        status = sandbox.peek() or sandbox.status()
        return None if status.ok else status.refusal()

    async def _check_sandbox(self) -> None:
        if self.settings.sandbox and sandbox.peek() is None:
            await asyncio.get_running_loop().run_in_executor(None, sandbox.status)
        refusal = self._sandbox_refusal()
        if refusal is not None:
            raise TaskFailed(refusal, "sandbox")

    async def _acquire(self, spec: WorkerSpec, sha: str) -> ExecutorProcess:
        """An idle executor for this model, a new slot, or the least recently used idle one
        evicted; evictions stop their process outside the condition's lock."""
        cond = self._cond()
        loop = asyncio.get_running_loop()
        while True:
            victim = None
            async with cond:
                workers = self._state.workers
                for worker in workers:
                    if not worker.busy and worker.alive and worker.key == (spec.model_path, sha) \
                            and worker.spec == spec:
                        worker.busy = True
                        return worker
                if len(workers) < self.max_workers:
                    worker = ExecutorProcess(spec, sha, sandboxed=self.settings.sandbox)
                    worker.busy = True
                    workers.append(worker)
                    return worker
                idle = [w for w in workers if not w.busy]
                if idle:
                    victim = min(idle, key=lambda w: w.last_used)
                    workers.remove(victim)
                else:
                    await cond.wait()
            if victim is not None:
                await loop.run_in_executor(None, victim.stop)

    async def _release(self, worker: ExecutorProcess, failed: bool) -> None:
        cond = self._cond()
        dead = failed or not worker.alive
        async with cond:
            worker.busy = False
            worker.last_used = time.monotonic()
            if dead and worker in self._state.workers:
                self._state.workers.remove(worker)
            cond.notify_all()
        if dead:
            await asyncio.get_running_loop().run_in_executor(None, worker.kill)

    async def run(self, task: InferenceTask, on_token: TokenCallback | None = None
                  ) -> InferenceResult:
        """Run one task in a sandboxed worker; raises `TaskFailed` with a reason."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        path = Path(task.model_path)
        if not path.is_file():
            raise TaskFailed(f"model file not found: {path}", "model")
        detected, sha = await _model_identity(path)
        model_format = task.model_format or detected
        if model_format not in {"onnx", "torchscript", "gguf"}:
            raise TaskFailed(f"{path.name} is not an ONNX, TorchScript or GGUF model", "model")
        if model_format == "gguf" and task.prompt is None:
            raise TaskFailed("a GGUF model needs a prompt, not tensors", "input")
        if model_format != "gguf" and task.inputs is None:
            raise TaskFailed("a tensor model needs input tensors", "input")
        inputs: dict[str, np.ndarray] = {}
        if task.inputs is not None:
            try:
                inputs = {str(name): np.asarray(value) for name, value in task.inputs.items()}
                encode_canonical({name: a.reshape(-1)[:0] for name, a in inputs.items()})
            except TensorFormatError as exc:  # an unsupported dtype, found before any work
                raise TaskFailed(str(exc), "input") from None
        await self._check_sandbox()
        spec = self._spec(task, model_format)
        timeout = float(task.timeout_s or self.settings.timeout_s)
        worker = await self._acquire(spec, sha)
        failed = True
        cold_ms = 0.0
        try:
            if not worker.alive:
                self.stats["worker_starts"] += 1
                cold_ms = await worker.start(max(timeout, LOAD_TIMEOUT_S))
            header = {"op": "generate", "prompt": task.prompt, "max_tokens": task.max_tokens} \
                if model_format == "gguf" else {"op": "run"}

            run_started = time.perf_counter()
            reply, body = await worker.request(header, inputs, timeout, on_token)
            run_ms = (time.perf_counter() - run_started) * 1000
            if not reply.get("ok"):
                raise TaskFailed(str(reply.get("error", "the task failed")),
                                 str(reply.get("kind", "runtime")))
            if len(body) <= INLINE_RESULT_BYTES:  # verify + hash: cheap enough for the loop
                result = self._result(task, worker, reply, body, cold_ms, run_ms, started)
            else:
                result = await loop.run_in_executor(None, self._result, task, worker, reply,
                                                    body, cold_ms, run_ms, started)
            failed = False
            return result
        except TaskFailed:
            self.stats["failed"] += 1
            raise
        finally:
            self.stats["tasks"] += 1
            await self._release(worker, failed)

    def _result(self, task: InferenceTask, worker: ExecutorProcess, reply: dict[str, Any],
                body: memoryview,
                cold_ms: float, run_ms: float, started: float) -> InferenceResult:
        text = None
        if "text" in reply:
            text = str(reply["text"])
            outputs = {"text": np.frombuffer(text.encode(), dtype=np.uint8).copy()}
            encoded = encode_canonical(outputs)
        else:
            try:
                outputs = decode_safetensors(body, copy=False)
            except TensorFormatError as exc:
                raise TaskFailed(f"worker returned unreadable outputs: {exc}", "protocol") \
                    from None
            encoded = body if isinstance(body, bytes) else bytes(body)
            if not is_canonical(encoded, outputs):
                encoded = encode_canonical(outputs)
            outputs = decode_safetensors(encoded, copy=False)
        ready = worker.ready
        determinism = DeterminismClass(
            model_sha256=worker.model_sha256, runtime=str(ready["runtime"]),
            runtime_version=str(ready["runtime_version"]),
            optimization_level=str(ready["optimization_level"]),
            execution_provider=str(ready["execution_provider"]), cpu_class=cpu_class())
        timings = {"cold_start_ms": round(cold_ms, 3), "run_ms": round(run_ms, 3),
                   "worker_run_ms": float(reply.get("run_ms", 0.0)),
                   "engine_ms": float(reply.get("engine_ms", 0.0)),
                   "total_ms": round((time.perf_counter() - started) * 1000, 3)}
        return InferenceResult(task_id=task.task_id, outputs=outputs, encoded=encoded,
                               result_hash=result_hash(encoded), determinism=determinism,
                               sandbox=self._report(worker), timings=timings,
                               worker_pid=worker.pid, text=text,
                               tokens=int(reply.get("tokens", 0)))

    async def probe(self, task: InferenceTask, paths: list[str], connect: str | None = None,
                    unix: list[str] | None = None) -> dict[str, Any]:
        """Ask a worker of `task`'s model what it can read, reach (TCP `host:port`, Unix
        socket paths) and which environment variables it holds (sandbox check)."""
        await self._check_sandbox()
        path = Path(task.model_path)
        detected, sha = await _model_identity(path)
        model_format = task.model_format or detected or "onnx"
        worker = await self._acquire(self._spec(task, model_format), sha)
        failed = True
        try:
            if not worker.alive:
                await worker.start(LOAD_TIMEOUT_S)
            reply, _ = await worker.request({"op": "probe", "paths": paths, "connect": connect,
                                             "unix": list(unix or [])},
                                            {}, self.settings.timeout_s)
            failed = not reply.get("ok")
            return {**reply, "sandbox": self._report(worker), "pid": worker.pid}
        finally:
            await self._release(worker, failed)

    def _report(self, worker: ExecutorProcess) -> dict[str, Any]:
        """What isolation this executor got, for the result."""
        status = sandbox.peek() if worker.sandboxed else None
        layers = status.layers if status is not None and status.ok else sandbox.PLAIN_LAYERS
        notes = [] if worker.sandboxed else ["run without the sandbox (--no-sandbox): the model "
                                             "could reach the network and the node's files"]
        return sandbox.SandboxReport(worker.sandboxed, layers,
                                     dict(worker.ready.get("limits", {})), notes).to_dict()

    async def close(self) -> None:
        """Stop every worker."""
        workers, self._state.workers = self._state.workers, []
        loop = asyncio.get_running_loop()
        for worker in workers:
            await loop.run_in_executor(None, worker.stop)

