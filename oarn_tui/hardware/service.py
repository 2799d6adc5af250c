"""`HardwareService` ("hardware"): telemetry for the runtime, the dashboard and the policy.

Publishes a `hardware.sample` event per sample, keeps the ring buffer for sparklines (`latest`,
`history`) and answers the `hardware.report` command with the capability report
(computed in a thread: runtime probes import libraries). A machine without a GPU is normal, not
degraded: the status reason says the node runs on the CPU.

Its status section (`status_fields`) is the document's `hardware` block (the latest sample) and
`telemetry` block (the latest sample, the GPU entries with their legacy `utilization_pct` alias,
`history` for the sparklines and `gpu_hint`): all in the vocabulary of
`oarn_tui.hardware.samples`, the same keys as the `hardware.sample` event.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oarn_tui.core.service import ServiceBase, ServiceHost
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.report import capability_report
from oarn_tui.hardware.samples import gpu_document_entry, sample_points
from oarn_tui.hardware.telemetry import TelemetrySample, TelemetrySampler

HISTORY_POINTS = 60
"""Samples per sparkline series in the status document (an attached dashboard starts there)."""


class HardwareService(ServiceBase):
    name = "hardware"
    depends_on: tuple[str, ...] = ()

    def __init__(self, nvml: Nvml | None = None,
                 gguf_model: Callable[[], Path | None] | None = None) -> None:
        """`gguf_model` names the default GGUF model for the capability report; the compute
        layer knows where it lives and the runtime passes its lookup in (hardware sits below)."""
        self.nvml = nvml or Nvml()
        self.gguf_model = gguf_model
        self.sampler: TelemetrySampler | None = None
        self.runtime: Any = None
        self._state, self._reason = "stopped", "not started"
        self._telemetry: tuple[TelemetrySample, dict[str, Any]] | None = None

    async def start(self, runtime: ServiceHost) -> None:
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

    def status_fields(self) -> dict[str, Any]:
        """`hardware` (the latest sample) and `telemetry` (sample, sparkline history, GPU hint)
        for `status --json`; before the first sample only `hardware: null`. Built once per
        sample and shared between documents: read-only."""
        latest = self.latest
        if latest is None:
            return {"hardware": None}
        cached = self._telemetry
        if cached is None or cached[0] is not latest:
            cached = self._telemetry = (latest, self._telemetry_block(latest))
        return {"hardware": cached[1]["hardware"], "telemetry": cached[1]["telemetry"]}

    def _telemetry_block(self, latest: TelemetrySample) -> dict[str, Any]:
        history: dict[str, list[float]] = {}
        for sample in self.history()[-HISTORY_POINTS:]:
            for name, value in sample_points(sample.as_snapshot()).items():
                history.setdefault(name, []).append(round(value, 1))
        telemetry = latest.as_snapshot()
        telemetry.update(gpus=[gpu_document_entry(gpu) for gpu in latest.gpus], history=history,
                         gpu_hint="" if latest.gpus else self.nvml.hint())
        return {"hardware": latest.as_snapshot(), "telemetry": telemetry}

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
            self.runtime.events.publish("hardware.sample", **sample.as_snapshot())

    async def _report(self) -> dict[str, Any]:
        config = self.runtime.config

        def report() -> dict[str, Any]:
            model = self.gguf_model() if self.gguf_model is not None else None
            return capability_report(config.home, config.compute.ollama_url, self.nvml, model)

        return await asyncio.get_running_loop().run_in_executor(None, report)
