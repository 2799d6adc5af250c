"""Drive one storage node process (`storage_node_proc.py`) by JSON lines, with bounded waits.

Shared by the resume test and `benchmarks/bench_storage.py`. The process leads its own process
group and dies with its parent (`proclife.spawn`), so a killed test or benchmark leaves none.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oarn_tui.proclife import spawn

NODE_PROC = Path(__file__).with_name("storage_node_proc.py")


class NodeProc:
    """A storage node process: commands in, events (`ready`, `answer`, `progress`) out."""

    def __init__(self, home: Path, window: int | None = None) -> None:
        argv = [sys.executable, str(NODE_PROC), "--home", str(home)]
        if window:
            argv += ["--window", str(window)]
        self.proc = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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

    def wait(self, event: str, timeout_s: float,
             until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next `event` (that satisfies `until`) within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"node process exited ({self.proc.returncode})") from None
                continue
            if item.get("event") == "error":
                raise RuntimeError(item["message"])
            if item.get("event") == event and (until is None or until(item)):
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
