"""End to end in a real pseudo-terminal: `python -m oarn_tui` (what `oarn` runs) embeds a node
with onboarding on a fresh home, and attaches to a node already serving the home's socket."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

from tui_seed import seed_all, write_config

from oarn_tui.config import load_config
from oarn_tui.runtime.control import ControlClient, ControlServer
from oarn_tui.runtime.interface import wait_for
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.pidfile import is_locked

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """A child process on a 100×30 pty; output is accumulated as bytes."""

    def __init__(self, home: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: become `oarn --home HOME`, with no inherited OARN_* settings
            os.chdir(ROOT)
            env = {k: v for k, v in os.environ.items() if not k.startswith("OARN_")}
            env.update({"TERM": "xterm-256color", "HOME": str(home.parent),
                        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
            os.execve(sys.executable, [sys.executable, "-m", "oarn_tui", "--home", str(home)],
                      env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.pid, self.fd, self.output = pid, fd, b""

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    break
        return needle in self.output

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until(b"\x00never", 0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        return None

    def kill(self) -> None:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        os.close(self.fd)


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
