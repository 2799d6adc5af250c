"""Pane behaviour: incremental task-table updates, telemetry from the real hardware service,
the log level filter, and the pure formatting helpers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tui_seed import FIXED_NOW, make_app, seed_all, seed_tasks

from oarn_tui.config import load_config
from oarn_tui.hardware.service import HardwareService
from oarn_tui.runtime.interface import EmbeddedNode
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.tui import format as fmt
from oarn_tui.tui.app import create_app
from oarn_tui.tui.screens.dashboard import DashboardScreen


async def test_tui_task_table_updates_only_what_changed(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    seed_tasks(runtime, count=300)
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)):
        await app.tick()
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        tasks = dashboard.tasks
        assert tasks.row_count == 304
        assert tasks.sync.cell_updates == 0
        await app.tick()
        assert tasks.sync.cell_updates == 0  # nothing changed, nothing rewritten
        victim = f"0x{7:064x}"
        runtime.ledger.transition(victim, "storing", progress=0.9, ts=FIXED_NOW + 5)
        await app.tick()
        assert tasks.row_count == 304
        assert 1 <= tasks.sync.cell_updates <= 3  # stage, progress, elapsed of one row
        row = tasks.get_row(victim)
        assert str(row[2]) == "storing" and "90%" in row[3]
        position = tasks.get_row_index(victim)
        runtime.ledger.transition("0xnew", "discovered", model="tiny", ts=FIXED_NOW + 6)
        await app.tick()
        assert tasks.row_count == 305
        first_key, _ = tasks.coordinate_to_cell_key((0, 0))
        assert first_key.value == "0xnew"  # newest first; others keep their order
        assert tasks.get_row_index(victim) == position + 1


async def test_tui_telemetry_from_the_hardware_service(home: Path) -> None:
    runtime = NodeRuntime(load_config(home, env={}))
    hardware = HardwareService()
    runtime.add_service(hardware)
    await runtime.start()
    app = make_app(runtime)
    try:
        async with app.run_test(size=(120, 40)):
            for _ in range(40):  # bounded: samples arrive every telemetry_interval_s (1 s)
                await app.tick()
                if app.telemetry_feed.samples:
                    break
                await asyncio.sleep(0.1)
            assert app.telemetry_feed.samples
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            text = dashboard.telemetry.plain()
            assert "CPU" in text and "RAM" in text
            shown = dashboard.telemetry.telemetry
            assert shown is not None
            if shown.accelerator == "cpu":  # the hardware section's own hint, in the pane
                assert " ".join(text.split()).endswith(" ".join(hardware.nvml.hint().split()))
            else:
                assert shown.accelerator == "gpu" and "GPU0" in text
    finally:
        await runtime.stop()
        runtime.close()


def sample(cpu: float) -> dict[str, object]:
    """A `hardware.sample` event's data, as the hardware service publishes it."""
    return {"timestamp": FIXED_NOW, "cpu_percent": cpu, "ram_total_mb": 8192,
            "ram_available_mb": 4096, "gpus": []}


async def test_tui_refreshes_as_a_sample_arrives(runtime: NodeRuntime) -> None:
    """A telemetry sample refreshes the dashboard at once (sharing the sample's wakeup) rather
    than at the next timer tick, unless the last refresh was under half an interval ago."""
    app = create_app(EmbeddedNode(runtime), home=runtime.home, config=runtime.config,
                     first_run=False, clock=lambda: FIXED_NOW, tick_interval=4.0,
                     cursor_blink=False)
    async with app.run_test(size=(120, 40)):
        for _ in range(100):  # bounded: the first refresh runs at mount
            if app.ticks:
                break
            await asyncio.sleep(0.02)
        first = time.monotonic()
        assert app.ticks == 1
        runtime.events.publish("hardware.sample", **sample(11.0))
        await asyncio.sleep(0.3)
        assert app.ticks == 1  # too soon after the last refresh: waits for the timer
        await asyncio.sleep(max(0.0, 2.1 - (time.monotonic() - first)))
        runtime.events.publish("hardware.sample", **sample(42.0))
        for _ in range(75):  # bounded: 1.5 s, well before the 4 s timer
            if app.ticks == 2:
                break
            await asyncio.sleep(0.02)
        assert app.ticks == 2 and time.monotonic() - first < 4.0
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert "42%" in dashboard.telemetry.plain()
        assert dashboard.telemetry.telemetry is not None
        assert dashboard.telemetry.telemetry.history["cpu"] == (11.0, 42.0)


async def test_tui_sparklines_continue_the_nodes_history(runtime: NodeRuntime) -> None:
    """The feed starts from the history in the node's status (an attached dashboard shows the
    daemon's last samples at once), then appends the samples that arrive."""
    runtime.extra_status["telemetry"] = {"cpu_percent": 5.0, "ram_used_mb": 4096,
                                         "ram_total_mb": 8192,
                                         "history": {"cpu": [5.0, 6.0, 7.0]}}
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)):
        await app.tick()
        runtime.events.publish("hardware.sample", **sample(50.0))
        for _ in range(50):  # bounded: the event reaches the app's queue
            await asyncio.sleep(0.02)
            await app.tick()
            if app.telemetry_feed.samples:
                break
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        shown = dashboard.telemetry.telemetry
        assert shown is not None and shown.cpu_percent == 50.0
        assert shown.history["cpu"] == (5.0, 6.0, 7.0, 50.0)


async def test_tui_telemetry_redraws_in_the_new_theme(runtime: NodeRuntime) -> None:
    """The pane caches its drawn lines; a theme switch must drop them (new background)."""
    seed_all(runtime, gpus=False)
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.tick()
        await pilot.pause()
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        dark = {segment.style.bgcolor for segment in dashboard.telemetry.render_line(0)
                if segment.style is not None}
        app.theme = "textual-light"
        await pilot.pause()
        light = {segment.style.bgcolor for segment in dashboard.telemetry.render_line(0)
                 if segment.style is not None}
        assert dark and light and dark.isdisjoint(light)


async def test_tui_log_level_filter(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.tick()
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        logs = dashboard.logs
        assert len(logs.lines) == 4  # debug hidden at the default "info"
        await pilot.press("l")
        assert logs.min_level == "warning" and len(logs.lines) == 2
        await pilot.press("l", "l")
        assert logs.min_level == "debug" and len(logs.lines) == 5


def test_tui_format_helpers() -> None:
    assert fmt.short_id("0x" + "a" * 64) == "0xaaaa…aaaa"
    assert fmt.short_id("abc") == "abc"
    assert fmt.amount(2_500_000_000_000_000_000, "COMP") == "2.5 COMP"
    assert fmt.amount(1_234_567_800_000_000_000) == "1.2345"
    assert fmt.duration(42) == "42s" and fmt.duration(185) == "3m05s"
    assert fmt.duration(7620) == "2h07m" and fmt.duration(3 * 86400 + 4 * 3600) == "3d04h"
    assert fmt.uptime(59) == "0m" and fmt.uptime(3725) == "1h02m"
    assert fmt.bar(0.5, 10) == "█████░░░░░" and fmt.bar(None, 3) == "···"
    assert fmt.sparkline([0, 50, 100], 3, 100) == "▁▅█"
    assert fmt.sparkline([], 4) == "    "
    assert fmt.megabytes(512) == "512M" and fmt.megabytes(2048) == "2.0G"
    assert fmt.capabilities({"frameworks": ["onnx", "gguf"], "gpus": 1}) == "onnx,gguf 1 GPU"
