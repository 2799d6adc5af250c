"""The executor pool: sandboxed executor processes, one model each, driven from asyncio.

`await pool.run(task)` never blocks the event loop. An executor (`compute/executor.py`) stays
alive for the next task on the same model; after any failure it is killed and replaced by a fresh
one on demand. An executor that crashes, runs away or exhausts its memory fails only its task,
with a reason. Fail closed: with `sandbox` on (the default) and the sandbox not available here
(`compute/sandbox.py`), every task is refused with the reason.

Under the pool's condition only decisions are made: take an idle executor of the model, take a
free slot, or evict (the least recently used idle executor, and any idle one whose model file
changed). Evicted executors are stopped after the lock is released, in background tasks that
`close()` awaits, so no acquire, not even the one that evicted, waits for a stop (up to the
grace period, then a SIGKILL and a reap). Task and result types live in `compute/inference.py`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from oarn_tui.compute import bwrap, sandbox
from oarn_tui.compute.executor import STOP_GRACE_S, ExecutorProcess, TaskFailed, TokenCallback
from oarn_tui.compute.executor_main import ExecutorSpec
from oarn_tui.compute.inference import (
    InferenceResult,
    InferenceTask,
    SandboxSettings,
    build_result,
    checked_inputs,
    model_identity,
    model_identity_async,
    sandbox_report,
)

__all__ = ["ExecutorPool", "ExecutorProcess", "InferenceResult", "InferenceTask",
           "SandboxSettings", "TaskFailed", "TokenCallback", "model_identity"]
LOAD_TIMEOUT_S = 120.0  # spawning and loading a model is not part of a task's time limit
INLINE_RESULT_BYTES = 4 * 1024 * 1024  # larger results are verified and hashed in a thread


class ExecutorPool:
    """Runs inference tasks in sandboxed executors, at most `max_executors` at once.

    `entry` is the code each executor's interpreter runs (the real executor by default);
    `stop_grace_s` how long an evicted or closed executor may take to exit on request.
    `stats` keys are `status --json` fields and keep their names."""

    def __init__(self, settings: SandboxSettings | None = None, max_executors: int = 2, *,
                 entry: str = bwrap.BOOTSTRAP, stop_grace_s: float = STOP_GRACE_S) -> None:
        self.settings = settings or SandboxSettings()
        self.max_executors = max_executors
        self.entry = entry
        self.stop_grace_s = stop_grace_s
        self._executors: list[ExecutorProcess] = []
        self._stopping: set[asyncio.Task[None]] = set()
        self._condition: asyncio.Condition | None = None
        self.stats = {"tasks": 0, "failed": 0, "worker_starts": 0}

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    @property
    def executors(self) -> list[ExecutorProcess]:
        """The executors in the pool now (evicted ones that are still stopping excluded)."""
        return list(self._executors)

    def _spec(self, task: InferenceTask, model_format: str) -> ExecutorSpec:
        s = self.settings
        return ExecutorSpec(model_path=str(Path(task.model_path).absolute()),
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

    def _pick(self, spec: ExecutorSpec, sha: str
              ) -> tuple[ExecutorProcess | None, list[ExecutorProcess]]:
        """Under the lock: the executor to use (marked busy) or None to wait, and the victims
        taken out of the pool (the caller stops them after releasing the lock)."""
        key = (spec.model_path, sha)
        executors = self._executors
        victims = [e for e in executors if not e.busy and e.spec.model_path == spec.model_path
                   and (e.key != key or e.spec != spec)]  # its model file changed
        for victim in victims:
            executors.remove(victim)
        for executor in executors:
            if not executor.busy and executor.alive and executor.key == key \
                    and executor.spec == spec:
                executor.busy = True
                return executor, victims
        if len(executors) >= self.max_executors:
            idle = [e for e in executors if not e.busy]
            if not idle:
                return None, victims
            victim = min(idle, key=lambda e: e.last_used)
            executors.remove(victim)
            victims.append(victim)
        executor = ExecutorProcess(spec, sha, sandboxed=self.settings.sandbox, entry=self.entry)
        executor.busy = True
        executors.append(executor)
        return executor, victims

    async def _acquire(self, spec: ExecutorSpec, sha: str) -> ExecutorProcess:
        """An idle executor for this model, a free slot, or an evicted one's slot."""
        cond = self._cond()
        async with cond:
            while True:
                executor, victims = self._pick(spec, sha)
                self._stop_later(victims)  # runs once the lock is released
                if executor is not None:
                    return executor
                await cond.wait()

    def _stop_later(self, victims: list[ExecutorProcess]) -> None:
        """Stop `victims` in the background (a thread each), tracked for `close()`."""
        loop = asyncio.get_running_loop()
        for victim in victims:
            task = loop.create_task(self._stop(victim))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def _stop(self, executor: ExecutorProcess) -> None:
        await asyncio.get_running_loop().run_in_executor(None, executor.stop, self.stop_grace_s)

    async def _release(self, executor: ExecutorProcess, failed: bool) -> None:
        """Back to idle; a failed or dead executor leaves the pool and is killed outside the
        lock (its own task's caller waits for that kill, nobody else does)."""
        cond = self._cond()
        dead = failed or not executor.alive
        async with cond:
            executor.busy = False
            executor.last_used = time.monotonic()
            if dead and executor in self._executors:
                self._executors.remove(executor)
            cond.notify_all()
        if dead:
            await asyncio.get_running_loop().run_in_executor(None, executor.kill)

    async def run(self, task: InferenceTask, on_token: TokenCallback | None = None
                  ) -> InferenceResult:
        """Run one task in a sandboxed executor; raises `TaskFailed` with a reason."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        path = Path(task.model_path)
        if not path.is_file():
            raise TaskFailed(f"model file not found: {path}", "model")
        detected, sha = await model_identity_async(path)
        model_format = task.model_format or detected
        inputs = checked_inputs(task, model_format)
        assert model_format is not None  # checked_inputs refuses an unknown format
        await self._check_sandbox()
        spec = self._spec(task, model_format)
        timeout = float(task.timeout_s or self.settings.timeout_s)
        executor = await self._acquire(spec, sha)
        failed = True
        cold_ms = 0.0
        try:
            if not executor.alive:
                self.stats["worker_starts"] += 1
                cold_ms = await executor.start(max(timeout, LOAD_TIMEOUT_S))
            header = {"op": "generate", "prompt": task.prompt, "max_tokens": task.max_tokens} \
                if model_format == "gguf" else {"op": "run"}
            run_started = time.perf_counter()
            reply, body = await executor.request(header, inputs, timeout, on_token)
            run_ms = (time.perf_counter() - run_started) * 1000
            if not reply.get("ok"):
                raise TaskFailed(str(reply.get("error", "the task failed")),
                                 str(reply.get("kind", "runtime")))
            if len(body) <= INLINE_RESULT_BYTES:  # verify + hash: cheap enough for the loop
                result = build_result(task, executor, reply, body, cold_ms, run_ms, started)
            else:
                result = await loop.run_in_executor(None, build_result, task, executor, reply,
                                                    body, cold_ms, run_ms, started)
            failed = False
            return result
        except TaskFailed:
            self.stats["failed"] += 1
            raise
        finally:
            self.stats["tasks"] += 1
            await self._release(executor, failed)

    async def probe(self, task: InferenceTask, paths: list[str], connect: str | None = None,
                    unix: list[str] | None = None) -> dict[str, Any]:
        """Ask an executor of `task`'s model what it can read, reach (TCP `host:port`, Unix
        socket paths) and which environment variables it holds (sandbox check)."""
        await self._check_sandbox()
        path = Path(task.model_path)
        detected, sha = await model_identity_async(path)
        model_format = task.model_format or detected or "onnx"
        executor = await self._acquire(self._spec(task, model_format), sha)
        failed = True
        try:
            if not executor.alive:
                await executor.start(LOAD_TIMEOUT_S)
            reply, _ = await executor.request({"op": "probe", "paths": paths,
                                               "connect": connect, "unix": list(unix or [])},
                                              {}, self.settings.timeout_s)
            failed = not reply.get("ok")
            return {**reply, "sandbox": sandbox_report(executor), "pid": executor.pid}
        finally:
            await self._release(executor, failed)

    async def close(self) -> None:
        """Stop every executor, and wait for those being stopped already."""
        executors, self._executors = self._executors, []
        self._stop_later(executors)
        if self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
