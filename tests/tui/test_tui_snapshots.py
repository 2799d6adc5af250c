"""Snapshot tests of every dashboard screen at 80×24 and 120×40.

State is seeded through a real `NodeRuntime` (ledger, peer book, log handler, status
contributions) with fixed timestamps; ticks are driven by hand (`auto_tick=False`) and the
cursor does not blink, so the pictures never flake. Update with `--snapshot-update`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_seed import make_app, seed_all

from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.tui.screens.onboarding import OnboardingScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
HARDWARE = {
    "os": "Linux 6.8",
    "cpu": {"model": "AMD Ryzen 9 7950X 16-Core Processor", "physical_cores": 16,
            "logical_cores": 32, "cpu_class": "x86_64-avx512"},
    "ram": {"total_mb": 63488, "available_mb": 51200},
    "gpu": {"available": True, "hint": "", "gpus": [
        {"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_total_mb": 24564}]},
    "runtimes": {"onnxruntime": {"available": True}, "torch": {"available": False,
                                                                 "hint": "pip install"},
                 "llama_cpp": {"available": True}, "ollama": {"available": False,
                                                                "hint": "not running"}},
}
MODELS = [
    {"cid": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
     "name": "resnet50-int8", "format": "onnx", "size": 25_600_000, "pinned": True},
    {"cid": "bafybeihkoviema7g3gxyt6la7vd5ho32ictqbilu3wnlo3rs7ewhnp7lly",
     "name": "whisper-small", "format": "onnx", "size": 967_000_000, "pinned": False},
]

Steps = Callable[[Pilot[Any]], Awaitable[None]]


def shoot(snap_compare: Any, runtime: NodeRuntime, size: tuple[int, int],
          steps: Steps | None = None, **options: Any) -> bool:
    app = make_app(runtime, **options)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.app.tick()
        await pilot.pause()
        if steps is not None:
            await steps(pilot)
        await pilot.app.settle()
        await pilot.app.tick()
        await pilot.pause()

    return bool(snap_compare(app, terminal_size=size, run_before=run_before))


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_main(snap_compare: Any, runtime: NodeRuntime,
                           size: tuple[int, int]) -> None:
    seed_all(runtime)
    assert shoot(snap_compare, runtime, size)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_main_without_gpu_paused(snap_compare: Any, runtime: NodeRuntime,
                                              size: tuple[int, int]) -> None:
    """No GPU: CPU and RAM bars with the driver hint; accepting paused through the runtime."""
    seed_all(runtime, gpus=False)
    runtime.accepting_switch.set(False, "operator")  # silently: no log line in the picture
    assert shoot(snap_compare, runtime, size)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_main_light_theme(snap_compare: Any, runtime: NodeRuntime,
                                       size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def light(pilot: Pilot[Any]) -> None:
        await pilot.press("t")

    assert shoot(snap_compare, runtime, size, light)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_task_detail(snap_compare: Any, runtime: NodeRuntime,
                                  size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def open_failed_task(pilot: Pilot[Any]) -> None:
        await pilot.press("down", "enter")

    assert shoot(snap_compare, runtime, size, open_failed_task)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_wallet(snap_compare: Any, runtime: NodeRuntime,
                             size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def open_wallet(pilot: Pilot[Any]) -> None:
        await pilot.press("w")

    assert shoot(snap_compare, runtime, size, open_wallet)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_wallet_send_confirmation(snap_compare: Any, runtime: NodeRuntime,
                                               size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def send(pilot: Pilot[Any]) -> None:
        await pilot.press("w")
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#send-to").value = "0x" + "12" * 20
        screen.query_one("#send-amount").value = "2.5"
        screen.send()
        await pilot.pause()

    assert shoot(snap_compare, runtime, size, send)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_models(snap_compare: Any, runtime: NodeRuntime,
                             size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def model_list() -> list[dict[str, Any]]:  # the storage service's answer, fixed
        return MODELS

    runtime.commands.register("model.list", model_list)

    async def open_models(pilot: Pilot[Any]) -> None:
        await pilot.press("m")
        await pilot.pause()
        runtime.events.publish("model.progress", cid="bafy", bytes_done=300, bytes_total=1000,
                              percent=30.0, rate_bytes_s=0.0, eta_s=None)
        await pilot.pause()

    assert shoot(snap_compare, runtime, size, open_models)


@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_settings(snap_compare: Any, runtime: NodeRuntime,
                               size: tuple[int, int]) -> None:
    seed_all(runtime)

    async def bad_value(pilot: Pilot[Any]) -> None:
        await pilot.press("s")
        await pilot.pause()
        for _ in range(6):
            await pilot.press("down")
        await pilot.press("enter")
        pilot.app.screen.query_one("#settings-value").value = "99999"
        await pilot.press("enter")

    assert shoot(snap_compare, runtime, size, bad_value)


def _onboarding(step: str | None) -> Steps:
    async def go(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, OnboardingScreen)
        if step is not None:
            screen.go(step)
        await pilot.pause()

    return go


@pytest.mark.parametrize("step", ["step-wallet", "step-profile", "step-review"])
@pytest.mark.parametrize("size", SIZES)
def test_tui_snapshot_onboarding(snap_compare: Any, runtime: NodeRuntime,
                                 size: tuple[int, int], step: str) -> None:
    async def hardware_report() -> dict[str, Any]:
        return HARDWARE

    runtime.commands.register("hardware.report", hardware_report)
    assert shoot(snap_compare, runtime, size, _onboarding(step), first_run=True)
