"""`ExecutorChannel`: the node's end of one executor's channel (frames, memfd, deadlines).

The channel is a Unix socketpair (the executor inherits one end) plus, where Linux offers
`memfd_create`, a shared memory region through which tensor payloads up to `SHARED_BYTES`
travel instead of the socket. Messages use `compute/framing.py`, the same implementation the
executor uses. Every receive and send has a deadline; a reply announced beyond
`MAX_REPLY_BYTES` is refused before the node allocates it. The channel only raises: deciding
what a timeout or a malformed reply means (kill the sandbox, fail the task) is
`ExecutorProcess`'s job (`compute/executor.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import socket
from typing import Any

import numpy as np

from oarn_tui.compute.framing import (
    FrameError,
    MessageTooLarge,
    decode_frame,
    encode_message,
    read_message,
    write_message,
)
from oarn_tui.compute.tensors import encode_canonical, encode_canonical_into

__all__ = ["MAX_REPLY_BYTES", "SHARED_BYTES", "ChannelClosed", "ChannelTimeout",
           "ExecutorChannel", "FrameError", "MessageTooLarge"]
SHARED_BYTES = 32 * 1024 * 1024  # tensor payloads up to this size travel through a memfd
MAX_REPLY_BYTES = 512 * 1024 * 1024  # an executor cannot make the node allocate more than this
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # Linux; root may exceed net.core.*mem_max


class ChannelTimeout(Exception):
    """The deadline passed before the message went or came."""


class ChannelClosed(Exception):
    """The executor's end is gone (it exited or crashed)."""


def _grow_socket_buffers(sock: socket.socket) -> None:
    """Let a whole tensor payload sit in the socket, so sender and receiver need not take
    turns 200 KiB at a time (each turn is a context switch on a busy machine)."""
    for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER_BYTES)


class ExecutorChannel:
    """The node's socket and shared tensor region for one executor.

    `open()` creates both and returns the descriptors the executor must inherit; the caller
    passes them to the child and then calls `close_child_ends()`."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._child: socket.socket | None = None
        self._shared: mmap.mmap | None = None
        self._shared_fd = -1

    def open(self) -> dict[str, Any]:
        """Create the socketpair and the memfd; the executor's descriptors by role."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _grow_socket_buffers(parent)
        _grow_socket_buffers(child)
        parent.setblocking(False)
        self._socket, self._child = parent, child
        if hasattr(os, "memfd_create"):
            try:
                self._shared_fd = os.memfd_create("oarn-tensors", 0)
                os.ftruncate(self._shared_fd, SHARED_BYTES)
                self._shared = mmap.mmap(self._shared_fd, SHARED_BYTES)
            except OSError:
                self.close_child_ends()
                self.close()
                raise
        return {"channel": child.fileno(),
                "shared": self._shared_fd if self._shared_fd >= 0 else None,
                "shared_size": SHARED_BYTES if self._shared_fd >= 0 else 0}

    def child_fds(self) -> tuple[int, ...]:
        """The descriptors the executor inherits (for `Popen(pass_fds=...)`)."""
        fds = [self._child.fileno()] if self._child is not None else []
        return tuple(fds + ([self._shared_fd] if self._shared_fd >= 0 else []))

    def close_child_ends(self) -> None:
        """Drop the node's copies of the executor's descriptors (after the spawn)."""
        if self._child is not None:
            self._child.close()
            self._child = None
        if self._shared_fd >= 0:
            os.close(self._shared_fd)
            self._shared_fd = -1

    def drop_shared(self) -> None:
        """The executor could not map the region: tensors travel over the socket."""
        if self._shared is not None:
            with contextlib.suppress(BufferError):
                self._shared.close()
            self._shared = None

    async def send(self, header: dict[str, Any], inputs: dict[str, np.ndarray],
                   deadline: float) -> None:
        """Send one request; its tensors go through the shared region when they fit."""
        loop = asyncio.get_running_loop()
        assert self._socket is not None, "channel not open"
        payload = b""
        if inputs:
            size = encode_canonical_into(inputs, self._shared) if self._shared else None
            if size is None:
                payload = encode_canonical(inputs)
            else:
                header = {**header, "shm_len": size}
        try:
            await asyncio.wait_for(write_message(loop, self._socket, header, payload),
                                   max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise ChannelTimeout() from None
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None

    async def receive(self, deadline: float) -> tuple[dict[str, Any], Any]:
        """The next message: header and payload (a copy from the shared region when the header
        names one). Raises `ChannelTimeout`, `ChannelClosed`, `MessageTooLarge`, `FrameError`."""
        loop = asyncio.get_running_loop()
        assert self._socket is not None, "channel not open"
        try:
            data = await asyncio.wait_for(read_message(loop, self._socket, MAX_REPLY_BYTES),
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise ChannelTimeout() from None
        except (EOFError, OSError) as exc:
            raise ChannelClosed(str(exc)) from None
        header, body = decode_frame(data)
        size = header.get("shm_len")
        if self._shared is not None and isinstance(size, int) and 0 < size <= SHARED_BYTES:
            return header, self._shared[:size]  # bytes: a copy the executor cannot change
        return header, body

    def send_exit(self) -> None:
        """Ask the executor to exit (best effort, never blocks)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.send(encode_message({"op": "exit"}))

    def close(self) -> None:
        """Close the node's socket and unmap the shared region."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
        self.drop_shared()
