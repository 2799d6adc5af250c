"""`HardwareService` and `ComputeService` inside a real `NodeRuntime` (fake NVML, real ONNX)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from oarn_tui.compute.policy import TaskRequirements
from oarn_tui.compute.pool import InferenceTask
from oarn_tui.compute.service import ComputeService
from oarn_tui.config import load_config
from oarn_tui.hardware.nvml import Nvml
from oarn_tui.hardware.service import HardwareService
from oarn_tui.runtime.node import NodeRuntime
from tests.compute import onnx_models
from tests.hardware.fake_nvml import make_fake_pynvml, two_gpus

pytestmark = pytest.mark.timeout(120)


async def test_services_sample_decide_run_and_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = load_config(home, env={"OARN_COMPUTE_TELEMETRY_INTERVAL_S": "0.1"})
    hardware = HardwareService(Nvml(module=make_fake_pynvml(two_gpus())))
    compute = ComputeService(hardware=hardware)
    runtime = NodeRuntime(config, [compute, hardware], log_to_file=False)
    await runtime.start()
    try:
        assert runtime.service_states()["hardware"] == {"state": "running",
                                                        "reason": "2 GPU(s)"}
        assert runtime.service_states()["compute"]["state"] == "running"
        for _ in range(100):  # bounded wait for a few samples
            if len(hardware.history()) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(hardware.history()) >= 3
        samples = [e for e in runtime.events.recent(100) if e.kind == "hardware.sample"]
        assert samples and len(samples[-1].data["gpus"]) == 2
        # the status carries every sparkline series (an attached dashboard starts from them)
        history = runtime.status()["telemetry"]["history"]
        assert set(history) == {"cpu", "ram", "gpu0.util", "gpu0.vram", "gpu1.util", "gpu1.vram"}
        assert {len(values) for values in history.values()} == {len(hardware.history())}
        assert history["gpu0.vram"][-1] == hardware.history()[-1].gpus[0].memory_used_mb
        report = await runtime.commands.call("hardware.report")
        assert len(report["gpu"]["gpus"]) == 2 and report["runtimes"]["onnx"]["available"]

        need = TaskRequirements(framework="onnx", min_vram_mb=12 * 1024, model_name="mlp")
        assert compute.decide(need).reason == \
            "needs 12 GiB VRAM + 0.5 GiB headroom, 7.5 GiB free"
        small = dataclasses.replace(need, min_vram_mb=1024, min_ram_mb=0)
        assert compute.decide(small).accepted
        await runtime.commands.call("pause")
        assert compute.decide(small).reason == "paused: not accepting new tasks"
        await runtime.commands.call("resume")

        model = onnx_models.mlp(home / "mlp.onnx")
        result = await compute.run(InferenceTask(model, inputs={
            "x": np.ones((2, 4), dtype=np.float32)}))
        assert result.sandbox["home_hidden"] in (True, False)
        status = runtime.status()
        assert len(status["hardware"]["gpus"]) == 2
        assert status["compute"]["running"] == 0 and len(status["compute"]["workers"]) == 1

        live = load_config(home, env={"OARN_COMPUTE_TELEMETRY_INTERVAL_S": "2.5",
                                      "OARN_COMPUTE_MAX_TEMPERATURE_C": "60"})
        runtime.apply_config(live)
        assert hardware.sampler is not None and hardware.sampler.interval_s == 2.5
        assert compute.decide(small).reason == "GPU at 71 °C, limit 60 °C"
    finally:
        await runtime.stop()
        runtime.close()
    assert hardware.status()["state"] == "stopped" and compute.pool is not None
    assert compute.pool.executors == []
