"""The wire format between the node and an executor, with both ends' readers and writers.

A message is an 8-byte little-endian length, then a frame: a 4-byte little-endian header
length, a JSON header, raw payload bytes (safetensors). Executors run untrusted models, so the
node never unpickles anything an executor sends: replies are parsed as JSON and safetensors
only, and a length beyond the reader's limit is refused before anything is allocated.

The node reads with `read_message` on its non-blocking socket (asyncio); the executor uses
`BlockingStream` on the descriptor it inherited. One format and one implementation for both
ends: nothing here relies on `multiprocessing.connection` internals.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

MAX_HEADER = 16 * 1024 * 1024
LENGTH = struct.Struct("<Q")  # the message length: the frame that follows, in bytes
HEADER_LENGTH = struct.Struct("<I")  # the JSON header's length, inside the frame


class FrameError(ValueError):
    """A malformed frame (an executor that misbehaves)."""


class MessageTooLarge(FrameError):
    """A message announced beyond the reader's limit; nothing was allocated for it."""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """A frame (no message length): header length, JSON header, payload."""
    text = json.dumps(header, separators=(",", ":")).encode()
    return HEADER_LENGTH.pack(len(text)) + text + payload


def message_prefix(header: dict[str, Any], payload_size: int) -> bytes:
    """Everything of a message before its payload, so a large payload is sent uncopied."""
    text = json.dumps(header, separators=(",", ":")).encode()
    return LENGTH.pack(HEADER_LENGTH.size + len(text) + payload_size) \
        + HEADER_LENGTH.pack(len(text)) + text


def encode_message(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One whole message (for small ones; large payloads go after `message_prefix`)."""
    return message_prefix(header, len(payload)) + payload


def decode_frame(data: bytes | bytearray | memoryview) -> tuple[dict[str, Any], memoryview]:
    """Header and a zero-copy view of the payload."""
    if len(data) < HEADER_LENGTH.size:
        raise FrameError("frame shorter than its length prefix")
    (size,) = HEADER_LENGTH.unpack_from(data)
    start = HEADER_LENGTH.size
    if size > min(MAX_HEADER, len(data) - start):
        raise FrameError("frame header length exceeds the frame")
    try:
        header = json.loads(bytes(data[start:start + size]))
    except ValueError:
        raise FrameError("frame header is not JSON") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not an object")
    return header, memoryview(data)[start + size:]


def frame_size(prefix: bytes | bytearray, limit: int | None) -> int:
    """The frame length a message announces, refused beyond `limit`."""
    (size,) = LENGTH.unpack(prefix)
    if limit is not None and size > limit:
        raise MessageTooLarge(f"executor announced a {size}-byte reply (limit {limit})")
    return int(size)


# ---- the node's end: asyncio on a non-blocking socket ----

async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int
                        ) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        count = await loop.sock_recv_into(sock, view[filled:])
        if count == 0:
            raise EOFError("the executor closed the connection")
        filled += count
    return buffer


async def read_message(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                       limit: int | None) -> bytearray:
    """One message's frame; `EOFError` at a closed connection, `MessageTooLarge` beyond
    `limit`."""
    size = frame_size(await _read_exactly(loop, sock, LENGTH.size), limit)
    return await _read_exactly(loop, sock, size)


async def write_message(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                        header: dict[str, Any], payload: bytes | memoryview = b"") -> None:
    """Send one message; the payload goes as it is, without a copy."""
    await loop.sock_sendall(sock, message_prefix(header, len(payload)))
    if len(payload):
        await loop.sock_sendall(sock, payload)


# ---- the executor's end: blocking I/O on an inherited descriptor ----

class BlockingStream:
    """The executor's end of the channel: blocking reads and writes on descriptor `fd`."""

    def __init__(self, fd: int, limit: int | None = None) -> None:
        self.fd = fd
        self.limit = limit

    def _read_exactly(self, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            count = os.readv(self.fd, [view[filled:]])
            if count == 0:
                raise EOFError("the node closed the connection")
            filled += count
        return buffer

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            view = view[os.write(self.fd, view):]

    def receive(self) -> tuple[dict[str, Any], memoryview]:
        """The next message's header and payload; `EOFError` once the node has gone."""
        size = frame_size(self._read_exactly(LENGTH.size), self.limit)
        return decode_frame(self._read_exactly(size))

    def send(self, header: dict[str, Any], payload: bytes | memoryview = b"") -> None:
        """Send one message (blocking until the node's socket has taken all of it)."""
        self._write_all(message_prefix(header, len(payload)))
        if len(payload):
            self._write_all(payload)
