"""`ComputeService` ("compute"): the executor pool and the acceptance policy for the pipeline.

The pipeline asks `decide(requirements)` before claiming and `await run(task)` to execute; the
service counts running tasks for `max_concurrent_tasks` and reads live telemetry from the
"hardware" service. Workers are stopped with the node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from oarn_tui.compute import sandbox
from oarn_tui.compute.policy import AcceptancePolicy, Decision, TaskRequirements
from oarn_tui.compute.pool import (
    ExecutorPool,
    InferenceResult,
    InferenceTask,
    SandboxSettings,
    TokenCallback,
)
from oarn_tui.core.service import ServiceBase


class ComputeService(ServiceBase):
    name = "compute"
    depends_on: tuple[str, ...] = ("hardware",)

    def __init__(self) -> None:
        self.pool: ExecutorPool | None = None
        self.policy: AcceptancePolicy | None = None
        self.runtime: Any = None
        self.running = 0
        self._state, self._reason = "stopped", "not started"

    async def start(self, runtime: Any) -> None:
        self.runtime = runtime
        config = runtime.config
        self.pool = ExecutorPool(SandboxSettings.from_config(config),
                                 max_workers=config.compute.max_concurrent_tasks)
        self.policy = AcceptancePolicy.from_config(config)
        await asyncio.to_thread(sandbox.status)  # probe once, off the loop (cached)
        self._state, self._reason = "running", "ready"

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        self._state, self._reason = "stopped", "stopped"

    def status(self) -> dict[str, Any]:
        stats = self.pool.stats if self.pool else {}
        return {"state": self._state, "reason": self._reason, "running": self.running,
                "workers": len(self.pool.workers) if self.pool else 0, **stats}

    def contribute_status(self, doc: dict[str, Any]) -> None:
        """Adds `compute` to `status --json`: running tasks and live workers."""
        doc["compute"] = {"running": self.running,
                          "workers": [{"pid": w.pid, "model": w.spec.model_path,
                                       "busy": w.busy} for w in self.pool.workers]
                          if self.pool else []}
        doc["sandbox"] = (sandbox.peek() or sandbox.status()).to_dict()

    def config_changed(self, config: Any, live: list[str]) -> None:
        if self.policy is not None:
            self.policy.update(config.compute, config.min_reward_wei)
            self.policy.task_timeout_s = config.compute.task_timeout_s

    def decide(self, requirements: TaskRequirements) -> Decision:
        """Accept or refuse a task now, with the reason."""
        if self.policy is None:
            return Decision(False, "compute service not started")
        status = sandbox.peek() or sandbox.status()
        if not status.ok:  # fail closed: no network task runs outside the sandbox
            return Decision(False, status.refusal())
        if self.runtime is not None and not getattr(self.runtime, "accepting", True):
            return Decision(False, "paused: not accepting new tasks")
        hardware = self.runtime.services.get("hardware") if self.runtime else None
        telemetry = hardware.latest if hardware is not None else None
        return self.policy.decide(requirements, telemetry, self.running)

    async def run(self, task: InferenceTask, on_token: TokenCallback | None = None
                  ) -> InferenceResult:
        """Execute in the sandboxed pool; raises `TaskFailed` with the reason."""
        if self.pool is None:
            raise RuntimeError("compute service not started")
        self.running += 1
        try:
            return await self.pool.run(task, on_token)
        finally:
            self.running -= 1
