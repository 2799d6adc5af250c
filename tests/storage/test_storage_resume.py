"""A pull killed with SIGKILL half-way resumes after a restart from the blocks already held:
it completes, the bytes are right, and no block held at the kill is fetched again. Two oarn node
processes (tests/storage/storage_node_proc.py) on 127.0.0.1, bitswap by direct connection."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.unixfs import read_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
PROC = Path(__file__).with_name("storage_node_proc.py")
MIB = 1 << 20


class Node:
    """A storage node process; JSON lines in, JSON lines out (bounded waits)."""

    def __init__(self, home: Path, window: int | None = None) -> None:
        argv = [sys.executable, str(PROC), "--home", str(home)]
        if window:
            argv += ["--window", str(window)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.wait("ready", 60)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue

    def wait(self, event: str, timeout_s: float, min_done: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if item.get("event") == "error":
                raise RuntimeError(item["message"])
            if item.get("event") == event and item.get("done", 0) >= min_done:
                return item
        raise TimeoutError(f"no {event} within {timeout_s} s")

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def call(self, timeout_s: float = 120, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.wait("answer", timeout_s)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(cmd="stop")
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=15)


def test_pull_killed_half_way_resumes_without_fetching_any_block_twice(tmp_path: Path) -> None:
    data = os.urandom(16 * MIB)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    provider = Node(tmp_path / "provider")
    try:
        root = provider.call(cmd="import", path=str(source))["cid"]
        addr = provider.ready["addrs"][0]
        victim = Node(tmp_path / "puller", window=1)  # one block in flight: a slow pull
        victim.call(cmd="connect", addr=addr)
        victim.send(cmd="pull", cid=root)
        victim.wait("progress", 120, min_done=len(data) // 2)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=15)

        store = Blockstore(tmp_path / "puller" / "blocks", durable=False)
        held = set(store.keys())
        store.close()
        assert 2 <= len(held) < 65  # root + leaves: part of the 65 blocks, not all

        again = Node(tmp_path / "puller")
        try:
            again.call(cmd="connect", addr=addr)
            result = again.call(cmd="pull", cid=root)
        finally:
            again.stop()
        fetched = set(result["fetched_keys"])
        assert result["size"] == len(data)
        assert not fetched & held  # no block fetched twice
        assert len(fetched | held) == 65  # and together they are the whole file
        store = Blockstore(tmp_path / "puller" / "blocks", durable=False)
        try:
            got = read_file(CID.parse(root), store.get)
        finally:
            store.close()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        provider.stop()
