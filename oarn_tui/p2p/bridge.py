"""The trio ↔ asyncio bridge: libp2p runs on trio in its own thread, the runtime on asyncio.

asyncio → trio: `TrioToken.run_sync_soon` schedules a task in the trio nursery; its result comes
back with `loop.call_soon_threadsafe`. trio → asyncio: `asyncio.run_coroutine_threadsafe`, its
completion signalled back to trio through the token. Neither side ever blocks the other's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class TrioThread:
    """Runs one trio main function in a daemon thread and lets asyncio call into it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._thread: threading.Thread | None = None
        self._stop: trio.Event | None = None

    async def start(self, main: Callable[[Callable[[], None]], Awaitable[None]]) -> None:
        """Start the thread; `main(ready)` must call `ready()` once it can serve calls."""
        self.loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self.loop.create_future()
        loop = self.loop

        def signal(error: BaseException | None) -> None:
            if ready.done():
                return
            if error is None:
                ready.set_result(None)
            else:
                ready.set_exception(error)

        async def trio_main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery

                def ready() -> None:
                    loop.call_soon_threadsafe(signal, None)

                async def run_main() -> None:
                    await main(ready)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(run_main)
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        def thread_main() -> None:
            error: BaseException | None = None
            try:
                trio.run(trio_main)
            except BaseException as exc:  # reported to the starter, never lost
                error = _single(exc)
            finally:
                self._nursery = None
                if not loop.is_closed():
                    loop.call_soon_threadsafe(
                        signal, error or RuntimeError(f"{self.name} thread ended before ready")
                    )

        self._thread = threading.Thread(target=thread_main, name=self.name, daemon=True)
        self._thread.start()
        await ready

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._nursery is not None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run the trio coroutine function `fn(*args)` in the trio thread; await its result."""
        if not self.running or self._token is None or self.loop is None:
            raise RuntimeError(f"{self.name} is not running")
        loop = self.loop
        future: asyncio.Future[T] = loop.create_future()
        scope = trio.CancelScope()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        async def runner() -> None:
            with scope:
                try:
                    result = await fn(*args)
                except Exception as error:
                    loop.call_soon_threadsafe(settle, None, error)
                    return
                loop.call_soon_threadsafe(settle, result, None)
                return
            loop.call_soon_threadsafe(settle, None, RuntimeError("cancelled in trio"))

        def spawn() -> None:
            if self._nursery is None:
                loop.call_soon_threadsafe(settle, None, RuntimeError(f"{self.name} stopped"))
                return
            self._nursery.start_soon(runner)

        token = self._token
        token.run_sync_soon(spawn)
        try:
            return await future
        except asyncio.CancelledError:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)
            raise

    def spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Start `fn(*args)` in the trio nursery without waiting (from any thread)."""
        if self._token is None or self._nursery is None:
            return
        nursery = self._nursery
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(lambda: nursery.start_soon(fn, *args))

    async def await_asyncio(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """From trio: run an asyncio coroutine on the runtime loop and await its result."""
        assert self.loop is not None and self._token is not None
        token = self._token
        done = trio.Event()
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        future.add_done_callback(lambda _f: token.run_sync_soon(done.set))
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            raise
        return future.result()

    def post_to_asyncio(self, callback: Callable[..., Any], *args: Any) -> None:
        """From trio: schedule a plain callback on the asyncio loop."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(callback, *args)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask trio to finish and wait (off the loop) for the thread to end."""
        if self._token is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout_s)
        self._thread = None


def _single(error: BaseException) -> BaseException:
    """The one real error inside nested single-member exception groups (trio nurseries)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
