"""The one interface front ends use: commands in, events and snapshots out (DESIGN rule 2).

`EmbeddedNode` wraps a `NodeRuntime` in this process; `AttachedNode` reaches a daemon over the
control API. The dashboard is written against `NodeInterface` and cannot tell them apart except
through `snapshot.attached`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from oarn_tui.core.events import Event
from oarn_tui.runtime.control import AsyncControlClient
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.runtime.snapshot import NodeSnapshot


class NodeInterface(Protocol):
    attached: bool

    async def snapshot(self, task_limit: int = 200, peer_limit: int = 1000) -> NodeSnapshot:
        """A fresh immutable snapshot of the node."""
        ...

    def events(self) -> AsyncIterator[Event]:
        """Events as they happen (log lines, stage transitions, peers...)."""
        ...

    async def command(self, name: str, **args: Any) -> Any:
        """Run a runtime command (`pause`, `resume`, `task.get`, `config.reload`, ...)."""
        ...

    async def close(self) -> None: ...


class RuntimeThread:
    """Runs a `NodeRuntime` on its own asyncio loop in a daemon thread, so nothing the node
    does (SQLite, status assembly, services) can stall the dashboard's loop."""

    def __init__(self, runtime: NodeRuntime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="oarn-runtime", daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)
        self.call(self.runtime.start()).result(timeout)

    def call(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 15.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.runtime.stop()).result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            self.runtime.close()


class EmbeddedNode:
    """A runtime living in this process (the dashboard's default). With a `RuntimeThread` the
    runtime runs on its own loop; without one it shares the caller's loop (tests, daemon)."""

    attached = False

    def __init__(self, runtime: NodeRuntime, thread: RuntimeThread | None = None) -> None:
        self.runtime = runtime
        self.thread = thread

    async def _run(self, coro: Any) -> Any:
        if self.thread is None:
            return await coro
        return await asyncio.wrap_future(self.thread.call(coro))

    async def snapshot(self, task_limit: int = 200, peer_limit: int = 1000) -> NodeSnapshot:
        runtime = self.runtime  # None until a lazily started runtime is built
        cached = runtime and runtime.cached_snapshot(task_limit=task_limit,
                                                     peer_limit=peer_limit)
        if cached:  # a quiet node: no need to wake its thread
            return cached

        async def build() -> NodeSnapshot:
            return self.runtime.snapshot(task_limit=task_limit, peer_limit=peer_limit)

        snapshot: NodeSnapshot = await self._run(build())
        return snapshot

    async def events(self) -> AsyncIterator[Event]:
        if self.thread is None:
            async for event in self.runtime.events.stream():
                yield event
            return
        queue: asyncio.Queue[Event] = asyncio.Queue(2000)
        loop = asyncio.get_running_loop()

        def deliver(event: Event) -> None:
            if not queue.full():
                queue.put_nowait(event)

        async def pump() -> None:
            async for event in self.runtime.events.stream():
                loop.call_soon_threadsafe(deliver, event)

        future = self.thread.call(pump())
        try:
            while True:
                yield await queue.get()
        finally:
            future.cancel()

    async def command(self, name: str, **args: Any) -> Any:
        return await self._run(self.runtime.commands.call(name, **args))

    async def close(self) -> None:
        if self.thread is not None:
            await asyncio.to_thread(self.thread.stop)


class AttachedNode:
    """A daemon on the same home, reached through its control socket."""

    attached = True

    def __init__(self, home: Path) -> None:
        self.client = AsyncControlClient(home)

    async def snapshot(self, task_limit: int = 200, peer_limit: int = 1000) -> NodeSnapshot:
        data = await self.client.status(task_limit=task_limit, peer_limit=peer_limit)
        return NodeSnapshot.from_dict(data, attached=True)

    async def events(self) -> AsyncIterator[Event]:
        async for raw in self.client.events():
            yield Event.from_dict(raw)

    async def command(self, name: str, **args: Any) -> Any:
        return await self.client.command(name, **args)

    async def close(self) -> None:
        await self.client.close()


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll `predicate()` until true or `timeout` (bounded helper for tests and commands)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
