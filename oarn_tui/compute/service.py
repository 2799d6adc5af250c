"""`ComputeService` ("compute"): the executor pool and the acceptance policy for the pipeline.

The pipeline asks `decide(requirements)` before claiming and `await run(task)` to execute; the
service counts running tasks for `max_concurrent_tasks` and reads live telemetry from the
hardware face it was handed (`ComputeService(hardware=...)`). Executors are stopped with the
node. Its status section is the document's `compute` and `sandbox` blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oarn_tui.compute import sandbox
from oarn_tui.compute.policy import AcceptancePolicy, Decision, TaskRequirements
from oarn_tui.compute.pool import (
    ExecutorPool,
    InferenceResult,
    InferenceTask,
    SandboxSettings,
    TokenCallback,
)
from oarn_tui.core.service import ServiceBase, ServiceHost

if TYPE_CHECKING:
    from oarn_tui.config import NodeConfig
    from oarn_tui.hardware.face import HardwareFace


class ComputeService(ServiceBase):
    name = "compute"
    depends_on: tuple[str, ...] = ("hardware",)

    def __init__(self, hardware: HardwareFace | None = None) -> None:
        """`hardware` gives the live telemetry the policy decides on (None: decide without)."""
        self.hardware = hardware
        self.pool: ExecutorPool | None = None
        self.policy: AcceptancePolicy | None = None
        self.runtime: ServiceHost | None = None
        self.running = 0
        self._state, self._reason = "stopped", "not started"

    async def start(self, runtime: ServiceHost) -> None:
        self.runtime = runtime
        config = runtime.config
        self.pool = ExecutorPool(SandboxSettings.from_config(config),
                                 max_executors=config.compute.max_concurrent_tasks)
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
                "workers": len(self.pool.executors) if self.pool else 0, **stats}

    def status_fields(self) -> Mapping[str, Any]:
        """`compute` (running tasks and live executors; field names unchanged) and `sandbox`
        for `status --json`."""
        return {"compute": {"running": self.running,
                            "workers": [{"pid": w.pid, "model": w.spec.model_path,
                                         "busy": w.busy} for w in self.pool.executors]
                            if self.pool else []},
                "sandbox": (sandbox.peek() or sandbox.status()).to_dict()}

    def config_changed(self, config: NodeConfig, live: list[str]) -> None:
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
        if self.runtime is not None and not self.runtime.accepting:
            return Decision(False, "paused: not accepting new tasks")
        telemetry = self.hardware.latest if self.hardware is not None else None
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
