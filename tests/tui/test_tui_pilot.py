"""Pilot tests: onboarding creates a real wallet vault and config, pause/resume flips the
runtime, task detail, attaching to a running daemon over the control socket, a slow runtime
command never freezes input, and errors from missing commands become notifications."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input, RadioButton, Static
from tui_seed import FIXED_NOW, TX, make_app, seed_all, settle, write_config

from oarn_tui.config import load_config
from oarn_tui.runtime.control import ControlClient, ControlServer
from oarn_tui.runtime.interface import AttachedNode, EmbeddedNode, RuntimeThread
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.pidfile import HomeLock, HomeLocked
from oarn_tui.storage.service import StorageService
from oarn_tui.tui.app import create_app
from oarn_tui.tui.onboarding_actions import OnboardingActions
from oarn_tui.tui.screens.dashboard import DashboardScreen
from oarn_tui.tui.screens.onboarding import OnboardingScreen
from oarn_tui.tui.screens.settings import SettingsScreen
from oarn_tui.tui.screens.task_detail import TaskDetailScreen
from oarn_tui.tui.session import ServedEmbeddedNode, is_first_run, open_node
from oarn_tui.tui.widgets.header import NodeHeader
from oarn_tui.wallet.unlock import open_wallet
from oarn_tui.wallet.vault import KdfParams

PASSPHRASE = "correct horse battery"
HARDWARE = {"cpu": {"model": "Test CPU", "logical_cores": 2, "cpu_class": "x86_64-avx2"},
            "ram": {"total_mb": 4096, "available_mb": 2048},
            "gpu": {"available": False, "hint": "no NVIDIA driver", "gpus": []},
            "runtimes": {"onnxruntime": {"available": True}}}



def header_text(app: Any) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, DashboardScreen))
    return str(screen.query_one(NodeHeader).render().plain)


async def test_tui_onboarding_creates_wallet_and_config(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    config = load_config(home, env={})
    assert is_first_run(home, config)
    runtime = NodeRuntime(config)

    async def hardware_report() -> dict[str, Any]:
        return HARDWARE

    runtime.commands.register("hardware.report", hardware_report)
    app = create_app(EmbeddedNode(runtime), home=home, config=config, first_run=True,
                     clock=lambda: FIXED_NOW, auto_tick=False, cursor_blink=False,
                     actions=OnboardingActions(kdf=KdfParams.minimum()))
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await app.tick()
            screen = app.screen
            assert isinstance(screen, OnboardingScreen)
            await pilot.press(*PASSPHRASE)  # the passphrase field has focus
            assert screen.query_one("#passphrase", Input).value == PASSPHRASE
            screen.query_one("#passphrase-again", Input).value = PASSPHRASE + "x"
            await pilot.click("#create-wallet")
            assert "differ" in str(screen.query_one("#onboarding-message", Static).render())
            assert not (home / "wallet.vault").exists()
            screen.query_one("#passphrase-again", Input).value = PASSPHRASE
            screen.query_one("#create-wallet", Button).press()
            await settle(pilot)
            assert screen.query_one("#onboarding-steps").current == "step-backup"
            mnemonic_text = str(screen.query_one("#mnemonic", Static).render())
            assert "24." in mnemonic_text
            assert screen.query_one("#passphrase", Input).value == ""
            await pilot.click("#backup-done")
            assert "24." not in str(screen.query_one("#mnemonic", Static).render())
            devnet = next(b for b in screen.query(RadioButton) if b.name == "devnet")
            devnet.value = True
            await pilot.pause()
            await pilot.click("#profile-next")
            await settle(pilot)
            assert "Test CPU" in str(screen.query_one("#hardware", Static).render())
            screen.query_one("#compute-min_reward", Input).value = "0.5"
            screen.query_one("#compute-max_concurrent_tasks", Input).value = "3"
            await pilot.click("#finish")
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            assert any("node set up" in n for n in app.notices)
        written = tomllib.loads((home / "config.toml").read_text())
        assert written["node"]["profile"] == "devnet"
        assert written["compute"]["min_reward"] == "0.5"
        assert written["compute"]["max_concurrent_tasks"] == 3
        final = load_config(home, env={})
        assert not is_first_run(home, final)
        with open_wallet(home / "wallet.vault", PASSPHRASE, "prompt") as wallet:
            assert wallet.address.startswith("0x")
    finally:
        runtime.close()


async def test_tui_onboarding_rejects_bad_policy_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    config = load_config(home, env={})
    runtime = NodeRuntime(config)
    app = create_app(EmbeddedNode(runtime), home=home, config=config, first_run=True,
                     auto_tick=False, cursor_blink=False,
                     actions=OnboardingActions(kdf=KdfParams.minimum()))
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, OnboardingScreen)
            screen.query_one("#compute-max_concurrent_tasks", Input).value = "0"
            screen.go("step-review")
            await pilot.pause()
            screen.finish()
            await settle(pilot)
            message = str(screen.query_one("#onboarding-message", Static).render())
            assert "compute.max_concurrent_tasks" in message and "minimum" in message
            assert isinstance(app.screen, OnboardingScreen)
        assert not (home / "config.toml").exists()
    finally:
        runtime.close()


async def test_tui_pause_resume_flips_runtime(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        assert runtime.accepting is True
        assert "accepting" in header_text(app)
        await pilot.press("p")
        await settle(pilot)
        assert runtime.accepting is False
        await app.tick()
        assert "paused" in header_text(app)
        await pilot.press("p")
        await settle(pilot)
        assert runtime.accepting is True
        await app.tick()
        assert "accepting" in header_text(app)
        assert "accepting resumed" in " ".join(app.notices)


async def test_tui_task_detail_shows_timeline_and_failure(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        await pilot.pause()
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TaskDetailScreen)
        assert screen.task_id.startswith("0x3c44")
        info = str(screen.query_one("#task-info", Static).render())
        assert "model hash mismatch" in info
        assert "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi" in info
        timeline = screen.query_one("#task-timeline", DataTable)
        stages = [str(timeline.get_row_at(i)[1]) for i in range(timeline.row_count)]
        assert stages == ["discovered", "accepted", "claimed", "fetching", "failed"]
        assert TX in [str(timeline.get_row_at(i)[3]) for i in range(timeline.row_count)]
        runtime.ledger.transition(screen.task_id, "released", note="gave it back",
                                  ts=FIXED_NOW)
        await app.tick()
        await settle(pilot)
        assert timeline.row_count == 6
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_tui_unknown_command_is_a_notification(runtime: NodeRuntime) -> None:
    """Claiming before the pipeline registers `task.claim` shows the runtime's error."""
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        await pilot.press("c")
        await settle(pilot)
        assert any("unknown command 'task.claim'" in n for n in app.notices)
        assert app.is_running


async def test_tui_settings_validate_before_writing(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    app = make_app(runtime)
    before = (runtime.home / "config.toml").read_text()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        table = screen.query_one("#settings-table", DataTable)
        table.move_cursor(row=table.get_row_index("ui.refresh_hz"))
        await pilot.pause()
        value = screen.query_one("#settings-value", Input)
        value.value = "99"
        value.focus()
        await pilot.press("enter")
        await settle(pilot)
        message = str(screen.query_one("#settings-message", Static).render())
        assert "ui.refresh_hz" in message and "maximum 10" in message
        assert (runtime.home / "config.toml").read_text() == before
        value.value = "2"
        await pilot.press("enter")
        await settle(pilot)
        assert "applied live" in str(screen.query_one("#settings-message", Static).render())
        assert load_config(runtime.home, env={}).ui.refresh_hz == 2.0
        assert runtime.config.ui.refresh_hz == 2.0
        assert app.tick_interval == 0.5


async def test_tui_attaches_to_running_daemon(tmp_path: Path) -> None:
    home = tmp_path / "daemon"
    write_config(home)
    runtime = NodeRuntime(load_config(home, env={}))
    seed_all(runtime)
    server = ControlServer(runtime)
    await server.start()
    try:
        node = await asyncio.to_thread(open_node, home, runtime.config)
        assert isinstance(node, AttachedNode)
        app = create_app(node, home=home, config=runtime.config, first_run=False,
                         clock=lambda: FIXED_NOW, auto_tick=False, cursor_blink=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.tick()
            await pilot.pause()
            assert "ATTACHED" in header_text(app)
            assert any("attached" in n for n in app.notices)
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            assert dashboard.peers.row_count == 5
            assert dashboard.tasks.row_count == 4
            await pilot.press("p")
            await settle(pilot)
            assert runtime.accepting is False
            await pilot.press("c")
            await settle(pilot)
            assert any("unknown command 'task.claim'" in n for n in app.notices)
            runtime.request_stop()
            await server.stop()  # the daemon goes away: the header says so, nothing crashes
            await app.tick()
            assert app.poll_error and "⚠" in header_text(app)
        await node.close()
    finally:
        runtime.request_stop()  # ends the event streams the server is holding open
        await server.stop()
        runtime.close()


async def test_tui_slow_command_never_freezes_input(home: Path) -> None:
    runtime = NodeRuntime(load_config(home, env={}))
    thread = RuntimeThread(runtime)
    thread.start()
    calls: list[float] = []

    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2.0)
        calls.append(1.0)
        return {"done": True}

    from oarn_tui.core.catalog import CommandSpec
    from oarn_tui.core.catalog.commands import NoArgs

    runtime.commands.register("slow", slow, spec=CommandSpec("slow", NoArgs, "a test's command"))
    app = make_app(runtime)
    app.node = EmbeddedNode(runtime, thread)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await app.tick()
            worker = app.send_command("slow", "slow done")
            await pilot.pause()
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            levels = []
            for _ in range(3):
                await pilot.press("l")
                levels.append(dashboard.logs.min_level)
            await app.tick()  # a snapshot is served while the command is still running
            assert levels == ["warning", "error", "debug"]
            assert worker.is_running and not calls
            await asyncio.wait_for(worker.wait(), 10)
            assert calls and "slow done" in app.notices
    finally:
        await asyncio.to_thread(thread.stop)


async def test_tui_embedded_node_holds_home_and_serves_control(home: Path) -> None:
    """`oarn` without a daemon: lock the home, start the runtime on first use, serve the
    control socket (so `oarn status` works alongside), release everything on close."""
    config = load_config(home, env={})
    node = await asyncio.to_thread(open_node, home, config)
    assert isinstance(node, ServedEmbeddedNode)
    with pytest.raises(HomeLocked):
        HomeLock(home).acquire()
    app = create_app(node, home=home, config=config, first_run=False, auto_tick=False,
                     cursor_blink=False)
    async with app.run_test(size=(100, 30)):
        await app.tick()
        assert app.snapshot is not None and app.snapshot.node_name == "rig-01"
        status = await asyncio.to_thread(ControlClient(home).status)
        assert status["node_name"] == "rig-01"
        await app.close_node()
    lock = HomeLock(home)
    lock.acquire()
    lock.release()


async def test_tui_models_with_the_real_storage_service(home: Path, tmp_path: Path) -> None:
    """List and remove go through the storage service's `model.list` / `model.remove`; a pull
    without the p2p service shows its one-line error; fetch progress events fill the bar."""
    runtime = NodeRuntime(load_config(home, env={}))
    runtime.add_service(StorageService())
    await runtime.start()
    model_file = tmp_path / "tiny.bin"
    model_file.write_bytes(bytes(range(256)) * 64)
    added = await runtime.commands.call("model.add", path=str(model_file), model_name="tiny")
    app = make_app(runtime)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await app.tick()
            await pilot.press("m")
            await settle(pilot)
            screen = app.screen
            table = screen.query_one("#models-table", DataTable)
            assert table.row_count == 1 and str(table.get_row_at(0)[0]) == "tiny"
            screen.query_one("#pull-cid", Input).value = added["cid"]
            screen.query_one("#pull", Button).press()
            await settle(pilot)
            assert "p2p" in str(screen.query_one("#models-message", Static).render())
            runtime.events.publish("model.progress", cid="x", bytes_done=512, bytes_total=1024,
                                   percent=50.0, rate_bytes_s=0.0, eta_s=None)
            await pilot.pause()
            await app.tick()
            bar = screen.query_one("#pull-progress")
            assert bar.total == 1024 and bar.progress == 512
            table.focus()
            await pilot.press("delete")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            await settle(pilot)
            assert table.row_count == 0
            assert await runtime.commands.call("model.list") == []
    finally:
        await runtime.stop()
        runtime.close()


async def test_tui_wallet_send_validates_then_reports_errors(runtime: NodeRuntime) -> None:
    """A bad recipient never reaches the node; a good one asks for confirmation, then shows
    the runtime's one-line answer (`wallet.send` is not registered yet)."""
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        await pilot.press("w")
        await pilot.pause()
        wallet = app.screen
        wallet.query_one("#send-to", Input).value = "not-an-address"
        wallet.query_one("#send-amount", Input).value = "1"
        wallet.query_one("#send", Button).press()
        await settle(pilot)
        assert "0x address" in str(wallet.query_one("#wallet-message", Static).render())
        wallet.query_one("#send-to", Input).value = "0x" + "34" * 20
        wallet.query_one("#send", Button).press()
        await settle(pilot)
        await pilot.press("y")  # confirm
        await settle(pilot)
        assert "unknown command 'wallet.send'" in str(
            wallet.query_one("#wallet-message", Static).render())


async def test_tui_command_palette_pauses(runtime: NodeRuntime) -> None:
    seed_all(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.tick()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"pause accepting")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert runtime.accepting is False
