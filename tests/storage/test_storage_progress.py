"""Pull progress: `ProgressMeter` (rate, ETA, throttling, resumed bytes are not speed) and the
dashboard's models screen showing a real `model.progress` event (bar, rate and ETA)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from oarn_tui.storage.progress import ProgressMeter, describe

MIB = 1 << 20


class FakeClock:
    """A hand-driven clock: the meter's timing, without sleeping."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_reports_rate_and_eta_throttled_with_the_last_report_always_sent() -> None:
    clock = FakeClock()
    reports: list[dict[str, Any]] = []
    meter = ProgressMeter(reports.append, interval_s=0.25, clock=clock)
    meter.update(0, 100 * MIB)
    for step in range(1, 11):  # 10 MiB every 0.1 s: 100 MiB/s
        clock.now += 0.1
        meter.update(step * 10 * MIB, 100 * MIB)
    assert 3 <= len(reports) <= 6  # throttled to ~4 per second, not one per update
    last = reports[-1]
    assert last["bytes_done"] == last["bytes_total"] == 100 * MIB
    assert last["percent"] == 100.0 and last["eta_s"] == 0.0
    middle = next(r for r in reports if 0 < r["bytes_done"] < 100 * MIB)
    assert 90 * MIB <= middle["rate_bytes_s"] <= 110 * MIB
    expected_eta = (100 * MIB - middle["bytes_done"]) / middle["rate_bytes_s"]
    assert abs(middle["eta_s"] - expected_eta) < 0.2


def test_meter_does_not_count_bytes_already_held_as_speed() -> None:
    clock = FakeClock()
    reports: list[dict[str, Any]] = []
    meter = ProgressMeter(reports.append, interval_s=0.0, clock=clock)
    meter.update(50 * MIB, 100 * MIB)  # a resumed pull: half was held before it started
    clock.now += 1.0
    meter.update(60 * MIB, 100 * MIB)
    assert reports[0]["eta_s"] is None  # no rate yet
    assert abs(reports[-1]["rate_bytes_s"] - 10 * MIB) < 1
    assert describe(reports[-1]) == "60.0 / 100.0 MiB (60.0 %) at 10.0 MiB/s, ETA 4 s"


async def test_models_screen_shows_rate_and_eta_from_model_progress(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tui"))
    from textual.widgets import Static
    from tui_seed import make_app, write_config

    from oarn_tui.config import load_config
    from oarn_tui.runtime.node import NodeRuntime
    from oarn_tui.storage.service import StorageService

    home = tmp_path / "home"
    write_config(home)
    runtime = NodeRuntime(load_config(home, env={}))
    runtime.add_service(StorageService())
    await runtime.start()
    app = make_app(runtime)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await app.tick()
            await pilot.press("m")
            await pilot.pause()
            screen = app.screen
            screen.pulling = "bafkreiexample"  # a pull in flight
            runtime.events.publish("model.progress", cid="bafkreiexample",
                                   bytes_done=30 * MIB, bytes_total=120 * MIB, percent=25.0,
                                   rate_bytes_s=15.0 * MIB, eta_s=6.0)
            await pilot.pause()
            await app.tick()
            await pilot.pause()
            bar = screen.query_one("#pull-progress")
            assert bar.total == 120 * MIB and bar.progress == 30 * MIB
            message = str(screen.query_one("#models-message", Static).render())
            assert "15.0 MiB/s" in message and "ETA 6 s" in message
    finally:
        await runtime.stop()
        runtime.close()
