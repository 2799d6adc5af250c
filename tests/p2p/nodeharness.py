"""Start and drive `node_proc.py` subprocesses (tests and benchmarks); every wait is bounded."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oarn_tui.proclife import kill_group, spawn

NODE_SCRIPT = Path(__file__).with_name("node_proc.py")
ROOT = Path(__file__).resolve().parents[2]


class NodeProcess:
    """One node process; JSON lines from its stdout are collected by a reader thread."""

    def __init__(self, home: Path, *extra: str, prefix: list[str] | None = None,
                 ready_timeout_s: float = 60.0, wait: bool = True) -> None:
        command = [*(prefix or []), sys.executable, str(NODE_SCRIPT), "--home", str(home), *extra]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.log_path = home.with_suffix(".stderr")
        home.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill()
        # its own process group, and killed by the kernel if the test process dies first
        self.proc = spawn(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=self._stderr, env=env, cwd=str(ROOT))
        self.events: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()
        self.peer_id = ""
        self.addrs: list[str] = []
        if wait:
            self.wait_ready(ready_timeout_s)

    def wait_ready(self, timeout_s: float = 60.0) -> NodeProcess:
        """Wait for the node's `ready` line (its peer ID and listen addresses)."""
        ready = self.wait_event(lambda e: e.get("event") == "ready", timeout_s)
        self.peer_id = ready["peer_id"]
        self.addrs = ready["addrs"]
        return self

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)
            self._new.put(event)

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout_s: float) -> dict[str, Any]:
        """The first event (past or future) matching `predicate`, or TimeoutError."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            with self._lock:
                batch = self.events[seen:]
                seen = len(self.events)
            for event in batch:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self._new.empty()):
                raise TimeoutError(f"no matching event; exit={self.proc.poll()}; "
                                   f"stderr tail: {self.stderr_tail()}")
            with contextlib.suppress(queue.Empty):
                self._new.get(timeout=min(remaining, 0.2))

    def call(self, cmd: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send a command and return its answer (raises on an error answer)."""
        command_id = next(self._ids)
        self.send({"cmd": cmd, "id": command_id, **fields})
        answer = self.wait_event(
            lambda e: e.get("event") == "answer" and e.get("id") == command_id, timeout_s)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def gossip(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == "gossip"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, size: int = 1500) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Stop by PID: polite stop, then SIGKILL of its process group after a bounded wait."""
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "stop"})
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                kill_group(self.proc, grace_s=0)
        self._stderr.close()


def start_network(base: Path, count: int, *extra: str,
                  first_extra: tuple[str, ...] = ()) -> list[NodeProcess]:
    """Start `count` nodes: the first, then the rest in parallel bootstrapping from it."""
    first = NodeProcess(base / "node0", *extra, *first_extra)
    nodes = [first]
    try:
        rest = [NodeProcess(base / f"node{i}", "--bootstrap", first.addrs[0], *extra, wait=False)
                for i in range(1, count)]
        nodes += rest
        for node in rest:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    return nodes


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate` until true or the timeout; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
