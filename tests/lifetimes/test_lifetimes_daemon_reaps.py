"""A daemon started after a crash reaps what its predecessor's children left running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from oarn_tui import proclife
from oarn_tui.runtime.control import socket_path
from tests.conftest import REPO, oarn_env, run_oarn
from tests.lifetimes.procs import identity, kill_all, still_running, tree, wait_for

pytestmark = pytest.mark.skipif(not proclife.pdeathsig_supported(),
                                reason="PR_SET_PDEATHSIG is Linux only")

# What a daemon does for a helper it starts (an executor, an Ollama or llama.cpp server):
# spawn it with the home's record. This helper's own child escapes PR_SET_PDEATHSIG (it is a
# grandchild), so after the predecessor's SIGKILL it is left over, in the helper's group.
PREDECESSOR = """
import sys, time
from pathlib import Path
from oarn_tui import proclife
record = proclife.ChildRecord.for_home(Path(sys.argv[1]))
proclife.spawn(["sh", "-c", "sleep 300 & wait"], record=record, label="helper")
print("ready", flush=True)
time.sleep(300)
"""


def test_daemon_start_reaps_a_crashed_predecessors_leftovers(home: Path) -> None:
    assert run_oarn(home, "init", "--profile", "local").returncode == 0
    predecessor = proclife.spawn([sys.executable, "-c", PREDECESSOR, str(home)], cwd=REPO,
                                 env=oarn_env(home), stdout=subprocess.PIPE, text=True)
    bystander = subprocess.Popen(["sleep", "300"])  # its PID recorded, but as another process
    daemon = None
    stderr_path = home.parent / "daemon.stderr"
    leftovers: list[tuple[int, float]] = []
    try:
        assert predecessor.stdout is not None
        assert predecessor.stdout.readline().strip() == "ready"
        assert wait_for(lambda: len(tree(predecessor.pid)) >= 3, 10)
        everything = tree(predecessor.pid)
        predecessor.send_signal(signal.SIGKILL)
        predecessor.wait(timeout=10)
        assert wait_for(lambda: len(still_running(everything)) == 1, 5)
        leftovers = still_running(everything)  # the helper's orphaned child
        record = proclife.ChildRecord.for_home(home)
        data = json.loads(record.path.read_text())
        data["children"].append({"pid": bystander.pid, "started": "another-boot:1",
                                 "label": "reused pid", "group": True})
        record.path.write_text(json.dumps(data))

        with open(stderr_path, "wb") as stderr:
            daemon = proclife.spawn([sys.executable, "-m", "oarn_tui", "--home", str(home),
                                     "--daemon"], env=oarn_env(home), cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
        assert wait_for(lambda: socket_path(home).exists() or daemon.poll() is not None, 60)
        assert daemon.poll() is None, stderr_path.read_text()[-2000:]
        assert wait_for(lambda: not still_running(leftovers), 10), \
            f"the predecessor's leftovers still run: {still_running(leftovers)}"
        assert identity(bystander.pid) is not None, "the reaper killed a process it never started"
        assert all(e.pid != bystander.pid for e in record.entries())
        log = (home / "logs" / "node.log").read_text()
        assert "reaped 1 leftover process(es) of a previous run" in log
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proclife.kill_group(daemon)
        proclife.kill_group(predecessor)
        kill_all(leftovers)
        bystander.kill()
        bystander.wait(timeout=5)
