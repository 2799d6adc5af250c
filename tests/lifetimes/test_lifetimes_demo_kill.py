"""SIGKILL of `oarn demo --headless` mid-run leaves no process of its tree behind."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from oarn_tui import proclife
from oarn_tui.chain.anvil import find_anvil
from tests.conftest import REPO, oarn_env
from tests.lifetimes.procs import kill_all, mentioning, still_running, tree, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    pytest.mark.skipif(find_anvil() is None, reason="anvil is not installed (cd contracts && "
                       "npm ci)"),
    pytest.mark.skipif(not proclife.pdeathsig_supported(),
                       reason="PR_SET_PDEATHSIG is Linux only"),
]


def test_sigkilled_headless_demo_leaves_nothing_running_within_5_s(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo_root = str(home / "demo")
    demo = proclife.spawn([sys.executable, "-m", "oarn_tui", "--home", str(home), "demo",
                           "--headless", "--tasks", "200"], env=oarn_env(home), cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert demo.stderr is not None
        for line in demo.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    everything: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + 240  # devnet, deployment, stakes, three daemons
        while not any("finalized" in line for line in seen):
            assert time.monotonic() < deadline and demo.poll() is None, \
                "the demo did not get to its tasks:\n" + "".join(seen[-20:])
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        everything = list(dict.fromkeys(tree(demo.pid) + mentioning(demo_root)))
        names = " ".join(command_lines(everything))
        assert "anvil" in names and names.count("--daemon") == 3, names
        demo.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        demo.wait(timeout=10)
        gone = wait_for(lambda: not still_running(everything) and not mentioning(demo_root), 5)
        took = time.monotonic() - killed_at
        left = list(dict.fromkeys(still_running(everything) + mentioning(demo_root)))
        assert gone, f"{took:.1f} s after SIGKILL still running: {command_lines(left)}"
    finally:
        kill_all(everything + mentioning(demo_root))
        proclife.kill_group(demo)


def command_lines(idents: list[tuple[int, float]]) -> list[str]:
    """`pid: command line` of each process that still runs (for messages)."""
    import psutil

    found = []
    for pid, _created in idents:
        try:
            found.append(f"{pid}: {' '.join(psutil.Process(pid).cmdline())}")
        except psutil.Error:
            continue
    return found
