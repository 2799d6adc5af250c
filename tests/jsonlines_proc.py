"""A helper process spoken to in JSON lines (commands on stdin, events on stdout), with bounded
waits; it leads its own process group and dies with the test process (`proclife.spawn`).
Shared by the js-libp2p and Helia interop tests and the storage node client."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oarn_tui.proclife import spawn


def js_ready(js_dir: Path, package: str) -> str:
    """Why the npm project in `js_dir` cannot run (empty when it can), installing it once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm are not installed"
    if not (js_dir / "node_modules" / package).exists():
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=js_dir, check=True,
                           capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            return f"npm ci failed in {js_dir}: {error}"
    return ""


class JsonLinesProcess:
    """`argv` started with pipes; its JSON stdout lines land in a queue."""

    name = "process"

    def __init__(self, argv: list[str], cwd: Path | None = None) -> None:
        self.proc = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue

    def wait(self, event: str, timeout_s: float = 60.0,
             until: Callable[[dict[str, Any]], bool] | None = None,
             **match: Any) -> dict[str, Any]:
        """The next `event` whose fields equal `match` (and satisfy `until`) within
        `timeout_s`; an `error` event raises."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if item.get("event") == "error":
                raise RuntimeError(f"{self.name}: {item.get('message', item)}")
            if item.get("event") == event and all(item.get(k) == v for k, v in match.items()) \
                    and (until is None or until(item)):
                return item
        stderr = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            stderr = self.proc.stderr.read().decode(errors="replace")[-1500:]
        raise TimeoutError(f"{self.name}: no {event} event within {timeout_s} s {stderr}")

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Ask it to stop, kill it if it does not."""
        if self.proc.poll() is None:
            try:
                self.send(cmd="stop")
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=15)
