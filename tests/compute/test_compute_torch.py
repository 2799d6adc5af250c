"""TorchScript through the sandboxed pool (torch CPU wheel; skipped without the `torch` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oarn_tui.compute.manifest import build_manifest
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings, TaskFailed

torch = pytest.importorskip("torch", reason="torch not installed: pip install 'oarn-tui[torch]'")
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")]


class Scaler(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(5)
        self.weight = torch.nn.Parameter(torch.randn(4, 2, generator=generator))

    def forward(self, features: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        hidden = features @ self.weight + bias
        return torch.relu(hidden), hidden.sum(dim=1)


async def test_scripted_module_runs_in_the_sandbox_and_matches_direct_torch(
        tmp_path: Path) -> None:
    module = torch.jit.script(Scaler().eval())
    path = tmp_path / "scaler.pt"
    module.save(str(path))
    assert build_manifest(path)["format"] == "torchscript"
    features = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    bias = np.array([0.5, -0.5], dtype=np.float32)
    pool = ExecutorPool(SandboxSettings(timeout_s=60))
    try:
        result = await pool.run(InferenceTask(path, inputs={"features": features, "bias": bias}))
        again = await pool.run(InferenceTask(path, inputs={"features": features, "bias": bias}))
        with pytest.raises(TaskFailed, match="missing input 'bias'"):
            await pool.run(InferenceTask(path, inputs={"features": features}))
    finally:
        await pool.close()
    with torch.inference_mode():
        relu, total = module(torch.from_numpy(features), torch.from_numpy(bias))
    assert np.array_equal(result.outputs["output_0"], relu.numpy())
    assert np.array_equal(result.outputs["output_1"], total.numpy())
    assert result.result_hash == again.result_hash
    assert result.determinism.runtime == "torch"
    assert result.determinism.runtime_version == torch.__version__
