"""Prometheus `/metrics`: read from the runtime at scrape time, so nothing is double-counted.

The pipeline reports inference wall times through `observe_inference` (it is handed the metrics
service as its `InferenceTimer`); the status section is `metrics {url}`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from oarn_tui.core.service import ServiceBase, ServiceHost

if TYPE_CHECKING:
    from oarn_tui.runtime.node import NodeRuntime

log = logging.getLogger("oarn.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class RuntimeCollector(Collector):
    """Gauges and counters computed from the runtime's ledger, peers and telemetry."""

    def __init__(self, runtime: NodeRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        runtime = self.runtime
        tasks = GaugeMetricFamily("oarn_tasks", "Tasks in the ledger by stage", labels=["stage"])
        for stage, count in runtime.ledger.counts().items():
            tasks.add_metric([stage], count)
        yield tasks
        failures = GaugeMetricFamily("oarn_task_failures", "Failed tasks by reason",
                                     labels=["reason"])
        for row in runtime.db.execute("SELECT failure_reason, COUNT(*) FROM tasks WHERE "
                                      "stage IN ('failed', 'released') GROUP BY failure_reason"):
            failures.add_metric([row[0][:80] or "unknown"], row[1])
        yield failures
        earned = CounterMetricFamily("oarn_comp_earned", "COMP earned (tokens)")
        earned.add_metric([], runtime.ledger.total_earned_wei() / 10**18)
        yield earned
        peers = GaugeMetricFamily("oarn_peers", "Connected peers")
        peers.add_metric([], len(runtime.peers.connected()))
        yield peers
        status = runtime.status(task_limit=0, peer_limit=0)
        telemetry = status.get("telemetry") or {}
        if telemetry.get("cpu_percent") is not None:
            cpu = GaugeMetricFamily("oarn_cpu_percent", "Host CPU use")
            cpu.add_metric([], float(telemetry["cpu_percent"]))
            yield cpu
        gpu_util = GaugeMetricFamily("oarn_gpu_utilization_percent", "GPU use", labels=["gpu"])
        gpu_mem = GaugeMetricFamily("oarn_gpu_memory_used_mb", "GPU memory used", labels=["gpu"])
        for gpu in telemetry.get("gpus") or ():
            if gpu.get("utilization_percent") is not None:
                gpu_util.add_metric([str(gpu.get("index", 0))], float(gpu["utilization_percent"]))
            if gpu.get("memory_used_mb") is not None:
                gpu_mem.add_metric([str(gpu.get("index", 0))], float(gpu["memory_used_mb"]))
        yield gpu_util
        yield gpu_mem
        transferred = CounterMetricFamily("oarn_bytes_transferred", "Bytes moved by bitswap",
                                          labels=["direction"])
        for direction, value in (status.get("transfer") or {}).items():
            transferred.add_metric([direction], float(value))
        yield transferred


class MetricsService(ServiceBase):
    """Serves `/metrics` on `metrics.listen_host:metrics.port` (0 = a free port)."""

    name = "metrics"
    depends_on: tuple[str, ...] = ()

    def __init__(self, runtime: NodeRuntime | None = None) -> None:
        """`runtime` is what the collector reads at scrape time (None: only the histograms)."""
        self.runtime = runtime
        self.registry = CollectorRegistry()
        self.inference_seconds = Histogram("oarn_inference_seconds", "Inference wall time",
                                           buckets=LATENCY_BUCKETS, registry=self.registry)
        self.url = ""
        self._runner: Any = None
        self._collector: RuntimeCollector | None = None
        self._state, self._reason = "stopped", ""

    def observe_inference(self, seconds: float) -> None:
        """One inference took `seconds` of wall time (the pipeline calls this)."""
        self.inference_seconds.observe(seconds)

    async def start(self, host: ServiceHost) -> None:
        from aiohttp import web

        config = host.config.metrics
        if not config.enabled:
            self._state, self._reason = "stopped", "disabled in config (metrics.enabled)"
            return
        if self.runtime is not None and self._collector is None:
            self._collector = RuntimeCollector(self.runtime)
            self.registry.register(self._collector)

        async def metrics(_request: Any) -> Any:
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, config.listen_host, config.port)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}/metrics"
        self._state = "running"
        log.info("metrics serving", extra={"url": self.url})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._state = "stopped"

    def status(self) -> dict[str, Any]:
        return {"state": self._state, "reason": self._reason}

    def status_fields(self) -> Mapping[str, Any]:
        return {"metrics": {"url": self.url or None}}
