"""Helpers for the chain tests: a dead RPC URL and a cuttable TCP relay in front of anvil."""

from __future__ import annotations

import asyncio
import contextlib
import socket


def dead_url() -> str:
    """An http URL on a local port where nothing listens (bound then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class TcpProxy:
    """A local TCP relay in front of anvil that the test can cut, to take an RPC URL down."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            with contextlib.suppress(OSError):
                writer.transport.abort()
        self.writers.clear()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
