"""End to end in a real pseudo-terminal: `python -m oarn_tui` (what `oarn` runs) embeds a node
with onboarding on a fresh home, and attaches to a node already serving the home's socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pty_terminal import Terminal
from tui_seed import seed_all, write_config

from oarn_tui.config import load_config
from oarn_tui.runtime.control import ControlClient, ControlServer
from oarn_tui.runtime.interface import wait_for
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.pidfile import is_locked


def test_tui_terminal_embeds_node_with_onboarding(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    term = Terminal(home)
    try:
        assert term.read_until(b"Welcome to OARN"), term.output[-500:]
        assert is_locked(home)  # the embedded node holds the home: no daemon can start
        term.output = b""
        term.send(b"\x1b")  # skip onboarding
        assert term.read_until(b"Tasks")
        assert term.read_until(b"oarn-node")  # the first snapshot reached the header
        assert ControlClient(home).status()["node_name"] == "oarn-node"  # `oarn status` works
        term.send(b"q")
        assert term.wait_exit() == 0
        assert not is_locked(home)
    finally:
        term.kill()


async def test_tui_terminal_attaches_to_running_node(tmp_path: Path) -> None:
    home = tmp_path / "daemon"
    write_config(home)
    runtime = NodeRuntime(load_config(home, env={}))
    seed_all(runtime)
    server = ControlServer(runtime)
    await server.start()
    term = await asyncio.to_thread(Terminal, home)
    try:
        assert await asyncio.to_thread(term.read_until, b"ATTACHED"), term.output[-500:]
        assert await asyncio.to_thread(term.read_until, b"rig-01")
        await asyncio.to_thread(term.send, b"p")
        assert await wait_for(lambda: not runtime.accepting, timeout=10)
        await asyncio.to_thread(term.send, b"q")
        assert await asyncio.to_thread(term.wait_exit) == 0
        assert runtime.accepting is False  # detaching leaves the daemon running as it was
    finally:
        await asyncio.to_thread(term.kill)
        runtime.request_stop()
        await server.stop()
        runtime.close()
