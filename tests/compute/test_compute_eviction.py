"""Eviction never makes a caller wait for an executor's stop (issue 13, item 7).

Real executor processes throughout: `SLOW_EXIT` is the real executor (`executor_main`) followed
by a slow teardown, the way a runtime that frees a large model or a GPU context takes seconds to
exit after it was asked to.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import numpy as np
import pytest

from oarn_tui.compute import bwrap
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings
from tests.compute import onnx_models

pytestmark = pytest.mark.timeout(180)
SLOW_EXIT_S = 10.0
SLOW_EXIT = bwrap.BOOTSTRAP + f";import time;time.sleep({SLOW_EXIT_S})"
X = {"x": np.ones((1, 4), np.float32)}


def running(pid: int) -> bool:
    """True while `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def wait_gone(pid: int, timeout_s: float) -> None:
    """Bounded wait until `pid` has exited."""
    deadline = time.monotonic() + timeout_s
    while running(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_evicting_a_slow_to_exit_executor_delays_neither_the_evictor_nor_others(
        tmp_path: Path) -> None:
    """Pool of two: `first` (least recently used, slow to exit) and `second` idle. A task for
    `third` evicts `first`, and one for `second` runs meanwhile: both return while the evicted
    executor is still exiting (its stop takes ≥ 3 s), and `close()` then waits for it."""
    first = onnx_models.mlp(tmp_path / "first.onnx", seed=1)
    second = onnx_models.mlp(tmp_path / "second.onnx", seed=2)
    third = onnx_models.mlp(tmp_path / "third.onnx", seed=4)
    pool = ExecutorPool(SandboxSettings(timeout_s=30.0, memory_mb=2048), max_executors=2,
                        entry=SLOW_EXIT, stop_grace_s=60.0)
    try:
        await pool.run(InferenceTask(first, inputs=X))
        await pool.run(InferenceTask(second, inputs=X))
        victim = next(e for e in pool.executors if e.spec.model_path == str(first))
        victim_pid = victim.pid
        started = time.monotonic()
        evictor, other = await asyncio.wait_for(asyncio.gather(
            pool.run(InferenceTask(third, inputs=X)),
            pool.run(InferenceTask(second, inputs=X))), 60)
        returned_s = time.monotonic() - started
        assert victim not in pool.executors
        assert evictor.timings["cold_start_ms"] > 0  # `third` got a fresh executor ...
        assert running(victim_pid), "the evicting task waited for the evicted executor's stop"
        assert other.executor_pid != victim_pid
        await wait_gone(victim_pid, 60)  # ... while `first` was still exiting
        joined_s = time.monotonic() - started
        assert not running(victim_pid)
        assert joined_s >= 3.0 and returned_s < joined_s, (returned_s, joined_s)
        print(f"tasks returned after {returned_s:.2f} s; the evicted executor exited after "
              f"{joined_s:.2f} s")
    finally:
        await pool.close()
    assert not victim.alive and victim.exited()


async def test_close_waits_for_executors_that_are_still_stopping(tmp_path: Path) -> None:
    """An executor evicted just before `close()` is gone when `close()` returns."""
    first = onnx_models.mlp(tmp_path / "first.onnx", seed=1)
    second = onnx_models.mlp(tmp_path / "second.onnx", seed=2)
    pool = ExecutorPool(SandboxSettings(timeout_s=30.0, memory_mb=2048), max_executors=1,
                        entry=bwrap.BOOTSTRAP + ";import time;time.sleep(3)",
                        stop_grace_s=60.0)
    await pool.run(InferenceTask(first, inputs=X))
    victim = pool.executors[0]
    await pool.run(InferenceTask(second, inputs=X))
    replacement = pool.executors[0]
    assert replacement is not victim and running(victim.pid)
    await asyncio.wait_for(pool.close(), 60)
    assert victim.exited() and replacement.exited()
    assert not running(victim.pid) and not running(replacement.pid)


async def test_an_executor_of_a_replaced_model_file_leaves_the_pool(tmp_path: Path) -> None:
    """The model file changes under the same path: the next task gets an executor of the new
    bytes, and the idle one of the old bytes is evicted at once instead of holding a slot."""
    path = onnx_models.mlp(tmp_path / "model.onnx", seed=1)
    pool = ExecutorPool(SandboxSettings(timeout_s=30.0, memory_mb=2048), max_executors=2)
    try:
        before = await pool.run(InferenceTask(path, inputs=X))
        old = pool.executors[0]
        onnx_models.mlp(path, seed=2)
        stat = path.stat()  # a distinct mtime even on a coarse clock
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        after = await pool.run(InferenceTask(path, inputs=X))
        assert after.determinism.model_sha256 != before.determinism.model_sha256
        assert after.result_hash != before.result_hash
        assert old not in pool.executors
        assert len(pool.executors) == 1 and after.executor_pid != before.executor_pid
        await wait_gone(old.pid, 30)
        assert not running(old.pid)
    finally:
        await pool.close()
