"""How `oarn` (no arguments) gets a node to show: attach to the daemon running on the home, or
embed a fresh runtime on its own thread while holding the home lock (so no daemon can start on
the same home meanwhile) and serving the control API (so `oarn status` works alongside)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from oarn_tui.config import CONFIG_FILE, NodeConfig
from oarn_tui.core.events import Event
from oarn_tui.runtime.control import ControlClient, ControlServer
from oarn_tui.runtime.interface import AttachedNode, EmbeddedNode, NodeInterface, RuntimeThread
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.pidfile import HomeLock


def is_first_run(home: Path, config: NodeConfig) -> bool:
    """No `config.toml` or no wallet vault yet: the dashboard opens onboarding."""
    return not (home / CONFIG_FILE).exists() or not config.path(config.node.wallet_path).exists()


class ServedEmbeddedNode(EmbeddedNode):
    """An embedded runtime on a `RuntimeThread` that also serves the control socket and holds
    the home lock; `close()` undoes all three, in reverse order.

    The runtime is built and started on first use, in a worker thread, so the dashboard paints
    at once and shows "connecting…" until the node answers."""

    def __init__(self, config: NodeConfig, lock: HomeLock,
                 build: Callable[[NodeConfig], NodeRuntime] | None = None) -> None:
        self.config = config
        self.lock = lock
        self._build = build
        self.runtime: NodeRuntime | None = None  # type: ignore[assignment]
        self.thread: RuntimeThread | None = None
        self.server: ControlServer | None = None
        self.closed = False
        self._starting: asyncio.Future[None] | None = None
        self._start_done = threading.Event()

    def start(self, timeout: float = 30.0) -> None:
        """Build the runtime, start its thread and services, serve the socket (blocking)."""
        try:
            if self._build is None:
                from oarn_tui.runtime.assemble import build_runtime

                self._build = build_runtime
            self.runtime = self._build(self.config)
            self.thread = RuntimeThread(self.runtime)
            self.server = ControlServer(self.runtime)
            self.thread.start(timeout)
            self.thread.call(self.server.start()).result(timeout)
        finally:
            self._start_done.set()

    async def started(self) -> None:
        if self._starting is None:
            self._starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        await asyncio.shield(self._starting)

    async def _run(self, coro: Any) -> Any:
        try:
            await self.started()
        except BaseException:
            coro.close()
            raise
        return await super()._run(coro)

    async def events(self) -> AsyncIterator[Event]:
        await self.started()
        async for event in super().events():
            yield event

    def close_blocking(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._starting is not None:
                self._start_done.wait(30.0)
            if self.thread is not None and self.server is not None:
                with contextlib.suppress(Exception):
                    self.thread.call(self.server.stop()).result(5.0)
                self.thread.stop()
            if self.runtime is not None:  # closing twice is harmless; never closing is not
                with contextlib.suppress(Exception):
                    self.runtime.close()
        finally:
            self.lock.release()

    async def close(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._starting)
        await asyncio.to_thread(self.close_blocking)


def open_node(home: Path, config: NodeConfig) -> NodeInterface:
    """Attach when a daemon answers on the home's socket, else embed: take the home lock and
    build the runtime, which starts on first use (raises `HomeLocked` when another process
    holds the home without answering)."""
    if ControlClient(home, timeout=2.0).is_running():
        return AttachedNode(home)
    lock = HomeLock(home)
    lock.acquire()
    return ServedEmbeddedNode(config, lock)
