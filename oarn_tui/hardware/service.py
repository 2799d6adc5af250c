"""`HardwareService` ("hardware"): telemetry for the runtime, the dashboard and the policy.

Publishes a `hardware.sample` event per sample, keeps the ring buffer for sparklines (`latest`,
`history`) and answers the `hardware.report` command with the capability report
(computed in a thread: runtime probes import libraries). A machine without a GPU is normal, not
degraded: the status reason says the node runs on the CPU.
"""

from __future__ import annotations

import asyncio
from typing import Any

from oarn_tui.core.service import ServiceBase
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.report import capability_report
from oarn_tui.hardware.telemetry import TelemetrySample, TelemetrySampler


class HardwareService(ServiceBase):
    name = "hardware"
    depends_on: tuple[str, ...] = ()

    def __init__(self, nvml: Nvml | None = None) -> None:
        self.nvml = nvml or Nvml()
        self.sampler: TelemetrySampler | None = None
        self.runtime: Any = None
        self._state, self._reason = "stopped", "not started"

    async def start(self, runtime: Any) -> None:
        self.runtime = runtime
        interval = float(runtime.config.compute.telemetry_interval_s)
        self.sampler = TelemetrySampler(self.nvml, interval, on_sample=self._publish)
        await asyncio.get_running_loop().run_in_executor(None, self.nvml.is_available)
        self.sampler.sample_now()
        self.sampler.start()
        runtime.commands.register("hardware.report", self._report)
        gpus = len(self.sampler.latest.gpus) if self.sampler.latest else 0
        self._state = "running"
        self._reason = f"{gpus} GPU(s)" if gpus else f"CPU only: {self.nvml.hint()}"

    async def stop(self) -> None:
        if self.sampler is not None:
            await self.sampler.stop()
        self.nvml.shutdown()
        self._state, self._reason = "stopped", "stopped"

    def status(self) -> dict[str, Any]:
        latest = self.latest
        return {"state": self._state, "reason": self._reason,
                "gpus": len(latest.gpus) if latest else 0,
                "interval_s": self.sampler.interval_s if self.sampler else None}

    def contribute_status(self, doc: dict[str, Any]) -> None:
        """Adds `hardware` to `status --json`: the latest sample (GPUs, CPU, RAM)."""
        latest = self.latest
        doc["hardware"] = latest.to_dict() if latest else None

    def config_changed(self, config: Any, live: list[str]) -> None:
        """Live key: `compute.telemetry_interval_s` takes effect from the next sample."""
        if self.sampler is not None and "compute.telemetry_interval_s" in live:
            self.sampler.interval_s = float(config.compute.telemetry_interval_s)

    @property
    def latest(self) -> TelemetrySample | None:
        return self.sampler.latest if self.sampler else None

    def history(self) -> tuple[TelemetrySample, ...]:
        return self.sampler.history() if self.sampler else ()

    def _publish(self, sample: TelemetrySample) -> None:
        if self.runtime is not None:
            self.runtime.events.publish("hardware.sample", **sample.to_dict())

    async def _report(self) -> dict[str, Any]:
        config = self.runtime.config
        return await asyncio.get_running_loop().run_in_executor(
            None, capability_report, config.home, config.compute.ollama_url, self.nvml)
