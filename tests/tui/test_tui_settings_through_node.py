"""The settings screen writes a key through the node it shows (`config.set`), never the file
itself (issue 13): attached to a daemon, the daemon's home gets the change and applies it.

The dashboard here was opened with a stale home directory of its own (a copy of the daemon's
config): a screen that wrote `config.toml` itself would change that copy, and the daemon would
reload its own, unchanged file.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from textual.widgets import DataTable, Input, Static
from tui_seed import FIXED_NOW, seed_all, settle, write_config

from oarn_tui.config import load_config
from oarn_tui.runtime.control import ControlServer
from oarn_tui.runtime.interface import AttachedNode
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.tui.app import create_app
from oarn_tui.tui.screens.settings import SettingsScreen
from oarn_tui.tui.session import open_node


async def test_settings_save_goes_through_the_attached_daemon(tmp_path: Path) -> None:
    home = tmp_path / "daemon"
    write_config(home)
    runtime = NodeRuntime(load_config(home, env={}))
    seed_all(runtime)
    server = ControlServer(runtime)
    await server.start()
    elsewhere = tmp_path / "stale-copy"
    shutil.copytree(home, elsewhere, ignore=shutil.ignore_patterns("*.sock", "run", "*.db*"))
    stale_before = (elsewhere / "config.toml").read_text()
    try:
        node = await asyncio.to_thread(open_node, home, runtime.config)
        assert isinstance(node, AttachedNode)
        app = create_app(node, home=elsewhere, config=runtime.config, first_run=False,
                         clock=lambda: FIXED_NOW, auto_tick=False, cursor_blink=False)
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
            value.value = "3"
            await pilot.press("enter")
            await settle(pilot)
            assert "applied live" in str(screen.query_one("#settings-message", Static).render())
        await node.close()
        assert load_config(home, env={}).ui.refresh_hz == 3.0
        assert runtime.config.ui.refresh_hz == 3.0
        assert (elsewhere / "config.toml").read_text() == stale_before
    finally:
        runtime.request_stop()
        await server.stop()
        runtime.close()
