"""One framing for both ends of an executor's channel (issue 13, item 7).

The node's asyncio reader and the executor's `BlockingStream` are the same module's code, run
here against each other over a real socketpair (the executor's end in a thread, as it blocks);
and no compute module depends on `multiprocessing` internals or calls an executor a "worker".
"""

from __future__ import annotations

import ast
import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import oarn_tui.compute
from oarn_tui.compute.framing import (
    LENGTH,
    BlockingStream,
    FrameError,
    MessageTooLarge,
    decode_frame,
    read_message,
    write_message,
)

COMPUTE = Path(oarn_tui.compute.__file__).parent
MAX_MODULE_LINES = 400


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    node, executor = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    node.setblocking(False)
    try:
        yield node, executor
    finally:
        node.close()
        executor.close()


def in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


async def test_messages_cross_both_ways_with_payloads_beyond_the_socket_buffer(
        pair: tuple[socket.socket, socket.socket]) -> None:
    node, executor = pair
    loop = asyncio.get_running_loop()
    stream = BlockingStream(executor.fileno())
    big = bytes(range(256)) * (24 * 1024 * 4)  # 24 MiB: many socket buffers
    received: list[tuple[dict, bytes]] = []

    def executor_side() -> None:
        header, payload = stream.receive()
        received.append((header, bytes(payload)))
        stream.send({"ok": True, "echo": header["n"]}, big)
        stream.send({"ok": True, "event": "token", "text": "é"})

    thread = in_thread(executor_side)
    await asyncio.wait_for(write_message(loop, node, {"op": "run", "n": 7}, memoryview(big)),
                           30)
    header, payload = decode_frame(await asyncio.wait_for(read_message(loop, node, None), 30))
    assert header == {"ok": True, "echo": 7} and bytes(payload) == big
    header, payload = decode_frame(await asyncio.wait_for(read_message(loop, node, None), 30))
    assert header == {"ok": True, "event": "token", "text": "é"} and bytes(payload) == b""
    thread.join(10)
    assert received == [({"op": "run", "n": 7}, big)]


async def test_an_oversized_announcement_is_refused_before_any_allocation(
        pair: tuple[socket.socket, socket.socket]) -> None:
    node, executor = pair
    executor.sendall(LENGTH.pack(1 << 60))  # an exabyte: allocating it would fail loudly
    with pytest.raises(MessageTooLarge, match=r"announced a 1152921504606846976-byte reply "
                                              r"\(limit 1024\)"):
        await asyncio.wait_for(read_message(asyncio.get_running_loop(), node, 1024), 10)


async def test_a_connection_closed_mid_message_is_eof_on_both_ends(
        pair: tuple[socket.socket, socket.socket]) -> None:
    node, executor = pair
    executor.sendall(LENGTH.pack(100) + b"\x04\0\0\0{}")
    executor.shutdown(socket.SHUT_WR)
    with pytest.raises(EOFError):
        await asyncio.wait_for(read_message(asyncio.get_running_loop(), node, None), 10)
    node.close()
    with pytest.raises(EOFError):
        BlockingStream(executor.fileno()).receive()


@pytest.mark.parametrize(("frame", "reason"), [
    (b"\x01", "shorter than its length prefix"),
    (b"\xff\0\0\0{}", "header length exceeds the frame"),
    (b"\x04\0\0\0nope", "header is not JSON"),
    (b"\x02\0\0\0[]", "not an object"),
])
def test_malformed_frames_are_refused_with_the_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_frame(frame)


def _modules() -> list[Path]:
    return sorted(COMPUTE.glob("*.py"))


def test_no_compute_module_uses_multiprocessing() -> None:
    """Neither end re-implements or relies on `multiprocessing.connection` framing."""
    users = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0] == "multiprocessing" for name in names):
                users.append(path.name)
    assert users == []


def test_executor_code_is_not_called_a_worker() -> None:
    """One meaning per name: in compute, "worker" survives only as the config key
    `worker_memory_mb` and in `status --json` / result field strings."""
    found = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.ClassDef)) \
                else node.attr if isinstance(node, ast.Attribute) \
                else node.id if isinstance(node, ast.Name) \
                else node.arg if isinstance(node, ast.arg) else ""
            if "worker" in name.lower() and name != "worker_memory_mb":
                found.add(f"{path.name}:{name}")
    assert not (COMPUTE / "worker.py").exists()
    assert sorted(found) == []


def test_compute_modules_are_small_or_say_why() -> None:
    long = [path.name for path in _modules()
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES
            and "long because" not in (ast.get_docstring(ast.parse(path.read_text())) or "")]
    assert long == []
