"""Drive one storage node process (`storage_node_proc.py`) by JSON lines, with bounded waits.

Shared by the resume test and `benchmarks/bench_storage.py`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.jsonlines_proc import JsonLinesProcess

NODE_PROC = Path(__file__).with_name("storage_node_proc.py")


class NodeProc(JsonLinesProcess):
    """A storage node process: commands in, events (`ready`, `answer`, `progress`) out."""

    name = "storage node"

    def __init__(self, home: Path, window: int | None = None) -> None:
        argv = [sys.executable, str(NODE_PROC), "--home", str(home)]
        if window:
            argv += ["--window", str(window)]
        super().__init__(argv)
        self.ready = self.wait("ready", 60)

    def call(self, timeout_s: float = 120, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.wait("answer", timeout_s)
