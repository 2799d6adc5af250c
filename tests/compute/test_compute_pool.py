"""The sandboxed executor pool on real ONNX Runtime executors (spawned processes).

Outputs must equal a direct ONNX Runtime run; bad models, bad inputs, memory exhaustion, runaway
loops and crashes fail only their task, with a reason, and the pool keeps working.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from oarn_tui.compute import sandbox
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings, TaskFailed
from oarn_tui.compute.tensors import encode_canonical, result_hash
from oarn_tui.hardware.system import cpu_class
from tests.compute import onnx_models

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / "models").mkdir(parents=True)
    (path / "wallet.vault").write_text("secret key material")
    return path


def make_pool(home: Path, **changes: object) -> ExecutorPool:
    settings = SandboxSettings(timeout_s=30.0, memory_mb=2048)
    return ExecutorPool(SandboxSettings(**{**settings.__dict__, **changes}), max_executors=2)


def direct_run(model: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


async def test_outputs_equal_direct_onnxruntime_and_the_executor_is_reused(home: Path) -> None:
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    pool = make_pool(home)
    try:
        rng = np.random.default_rng(1)
        first_pid = None
        for batch in (1, 7):
            x = rng.standard_normal((batch, 4)).astype(np.float32)
            result = await pool.run(InferenceTask(model, inputs={"x": x}, task_id=f"t{batch}"))
            probs, label = direct_run(model, {"x": x})
            assert np.array_equal(result.outputs["probs"], probs)
            assert np.array_equal(result.outputs["label"], label)
            assert result.encoded == encode_canonical({"probs": probs, "label": label})
            assert result.result_hash == result_hash(result.encoded)
            first_pid = first_pid or result.executor_pid
            assert result.executor_pid == first_pid  # one model per executor, reused
        d = result.determinism
        assert (d.runtime, d.runtime_version, d.optimization_level, d.execution_provider) == \
            ("onnxruntime", ort.__version__, "basic", "CPUExecutionProvider")
        assert d.cpu_class == cpu_class() and len(d.model_sha256) == 64
        assert pool.stats["worker_starts"] == 1
    finally:
        await pool.close()


async def test_same_bytes_across_runs_and_executor_restarts_wrong_shape_reason(home: Path) -> None:
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    pool = make_pool(home)
    x = np.linspace(-3, 3, 40, dtype=np.float32).reshape(10, 4)
    try:
        first = await pool.run(InferenceTask(model, inputs={"x": x}))
        second = await pool.run(InferenceTask(model, inputs={"x": x}))
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"x": x[:, :3]}))
        assert failure.value.kind == "input"
        assert failure.value.reason == "input 'x' has shape [10, 3], model expects " \
                                       "float32['N', 4]"
        with pytest.raises(TaskFailed, match="input 'x' is float64, model expects float32"):
            await pool.run(InferenceTask(model, inputs={"x": x.astype(np.float64)}))
        with pytest.raises(TaskFailed, match="missing input 'x'"):
            await pool.run(InferenceTask(model, inputs={"y": x}))
        third = await pool.run(InferenceTask(model, inputs={"x": x}))
        assert third.executor_pid != first.executor_pid  # restarted after the failure
        assert first.encoded == second.encoded == third.encoded
        assert first.result_hash == second.result_hash == third.result_hash
        assert first.determinism == third.determinism
    finally:
        await pool.close()


async def test_corrupt_and_unknown_models_fail_with_a_reason(home: Path) -> None:
    corrupt = home / "models" / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07" + os.urandom(300))
    garbage = home / "models" / "notes.bin"
    garbage.write_bytes(b"hello, this is not a model")
    good = onnx_models.mlp(home / "models" / "mlp.onnx")
    pool = make_pool(home)
    x = np.ones((2, 4), dtype=np.float32)
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(corrupt, inputs={"x": x}))
        assert failure.value.kind == "model"
        assert failure.value.reason.startswith("ONNX Runtime cannot load the model:")
        with pytest.raises(TaskFailed, match="is not an ONNX, TorchScript or GGUF model"):
            await pool.run(InferenceTask(garbage, inputs={"x": x}))
        with pytest.raises(TaskFailed, match="model file not found"):
            await pool.run(InferenceTask(home / "missing.onnx", inputs={"x": x}))
        result = await pool.run(InferenceTask(good, inputs={"x": x}))
        assert result.outputs["probs"].shape == (2, 3)
        assert pool.executors and all(e.alive for e in pool.executors)
    finally:
        await pool.close()


async def test_memory_exhaustion_fails_the_task_not_the_pool(home: Path) -> None:
    model = onnx_models.memory_hog(home / "models" / "hog.onnx")
    pool = make_pool(home, memory_mb=1024)
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"shape": np.array([2**30])}))
        assert failure.value.kind == "memory"
        assert "out of memory" in failure.value.reason and "1024 MiB" in failure.value.reason
        small = await pool.run(InferenceTask(model, inputs={"shape": np.array([5])}))
        assert small.outputs["y"].tolist() == [1.0] * 5
    finally:
        await pool.close()


async def test_runaway_model_is_killed_at_the_timeout_without_blocking_the_loop(
        home: Path) -> None:
    model = onnx_models.runaway(home / "models" / "loop.onnx")
    pool = make_pool(home)
    try:
        warm = await pool.run(InferenceTask(model, inputs={"trips": np.array(3)}))
        assert warm.outputs["total"] == np.float32(3.0)
        pid = warm.executor_pid
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            for _ in range(1000):
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"trips": np.array(2**62)},
                                         timeout_s=1.0))
        ticking.cancel()
        assert failure.value.kind == "timeout"
        assert failure.value.reason == "timed out after 1 s while running the task; " \
                                       "executor killed"
        assert ticks >= 20  # the event loop kept running during the task
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        again = await pool.run(InferenceTask(model, inputs={"trips": np.array(4)}))
        assert again.outputs["total"] == np.float32(4.0) and again.executor_pid != pid
    finally:
        await pool.close()


async def test_crashing_executor_fails_its_task_with_the_signal(home: Path) -> None:
    model = onnx_models.runaway(home / "models" / "loop.onnx")
    pool = make_pool(home)
    try:
        await pool.run(InferenceTask(model, inputs={"trips": np.array(1)}))
        pid = pool.executors[0].pid
        running = asyncio.create_task(
            pool.run(InferenceTask(model, inputs={"trips": np.array(2**62)}, timeout_s=60)))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGSEGV)  # what a runtime bug on a hostile model looks like
        with pytest.raises(TaskFailed) as failure:
            await asyncio.wait_for(running, 30)
        assert failure.value.kind == "crash"
        assert "the executor crashed with SIGSEGV while running the task" in failure.value.reason
        after = await pool.run(InferenceTask(model, inputs={"trips": np.array(2)}))
        assert after.outputs["total"] == np.float32(2.0)
    finally:
        await pool.close()


@pytest.mark.skipif(not sandbox.status().ok, reason=f"no sandbox here: {sandbox.status().reason}")
async def test_executor_sees_an_allow_list_filesystem_and_no_network(home: Path) -> None:
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pool = make_pool(home)
    try:
        report = await pool.probe(InferenceTask(model, inputs={}),
                                  [str(home / "wallet.vault"), "/etc/passwd", str(model),
                                   f"/proc/{os.getpid()}/root{home}/wallet.vault"],
                                  f"127.0.0.1:{port}")
        sandbox_report = report["sandbox"]
        assert sandbox_report["sandboxed"] is True and sandbox_report["network_isolated"] is True
        assert set(report["readable"].values()) == {False}  # not even /etc or the model path
        assert report["connected"] is False
        assert sandbox_report["user"] == "uid 65534 in a user namespace, no capabilities"
        assert sandbox_report["limits"] == {"address_space_mb": 2048, "open_files": 256,
                                            "core_dumps": 0, "file_size_mb": 64,
                                            "cpu_seconds_per_task": "timeout × threads + 1"}
        # the model itself still loads through its descriptor
        result = await pool.run(InferenceTask(model, inputs={"x": np.ones((1, 4), np.float32)}))
        assert result.sandbox["layers"] == list(sandbox.SANDBOX_LAYERS)
    finally:
        listener.close()
        await pool.close()


async def test_one_executor_slot_is_shared_between_models(home: Path) -> None:
    mlp = onnx_models.mlp(home / "models" / "mlp.onnx")
    loop_model = onnx_models.runaway(home / "models" / "loop.onnx")
    pool = ExecutorPool(SandboxSettings(timeout_s=30), max_executors=1)
    try:
        results = await asyncio.gather(
            pool.run(InferenceTask(mlp, inputs={"x": np.zeros((1, 4), np.float32)})),
            pool.run(InferenceTask(loop_model, inputs={"trips": np.array(6)})))
        assert results[0].outputs["probs"].shape == (1, 3)
        assert results[1].outputs["total"] == np.float32(6.0)
        assert len(pool.executors) == 1 and pool.stats["worker_starts"] == 2
    finally:
        await pool.close()


async def test_evicting_a_stuck_idle_executor_does_not_hold_up_the_pool(home: Path) -> None:
    """Eviction stops the victim outside the pool's lock: while a frozen idle executor is being
    stopped (its 2 s grace, then SIGKILL), a task for another idle executor still runs."""
    first = onnx_models.mlp(home / "models" / "first.onnx", seed=1)
    second = onnx_models.mlp(home / "models" / "second.onnx", seed=2)
    third = onnx_models.mlp(home / "models" / "third.onnx", seed=4)
    x = {"x": np.ones((1, 4), np.float32)}
    pool = make_pool(home)
    try:
        await pool.run(InferenceTask(first, inputs=x))
        await pool.run(InferenceTask(second, inputs=x))
        victim = next(e for e in pool.executors if e.spec.model_path == str(first))
        os.kill(victim.pid, signal.SIGSTOP)  # it will not answer the exit request
        evicting = asyncio.create_task(pool.run(InferenceTask(third, inputs=x)))
        for _ in range(200):  # bounded: until the eviction has taken the victim out
            if victim not in pool.executors:
                break
            await asyncio.sleep(0.01)
        assert victim not in pool.executors
        await pool.run(InferenceTask(second, inputs=x))
        assert victim.alive  # still in its stop grace period: the lock was not held meanwhile
        await asyncio.wait_for(evicting, 60)
        await pool.close()  # waits for the evicted executor's stop, which ends in a SIGKILL
        assert not victim.alive and victim.exited()
    finally:
        await pool.close()
