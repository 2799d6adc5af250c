"""`ComputeFace`: what the pipeline uses of the compute service (decide, then run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.compute.policy import Decision, TaskRequirements
    from oarn_tui.compute.pool import InferenceResult, InferenceTask, TokenCallback


class ComputeFace(Protocol):
    """Acceptance by policy and live telemetry, and sandboxed execution."""

    def decide(self, requirements: TaskRequirements) -> Decision:
        """Accept or refuse a task now, with the reason."""
        ...

    async def run(self, task: InferenceTask, on_token: TokenCallback | None = None
                  ) -> InferenceResult:
        """Execute in the sandboxed pool; raises `TaskFailed` with the reason."""
        ...
