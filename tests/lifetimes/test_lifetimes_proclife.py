"""`proclife`: children end with their parent however it ends; the reaper stops leftovers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from oarn_tui import proclife
from tests.lifetimes.procs import identity, kill_all, still_running, tree, wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not proclife.pdeathsig_supported(),
                                reason="PR_SET_PDEATHSIG is Linux only")

# A parent that spawns one child from a thread that ends at once (PR_SET_PDEATHSIG follows
# the forking *thread*), and one from the main thread whose shell forks a grandchild.
PARENT = """
import sys, threading, time
from oarn_tui import proclife
record = proclife.ChildRecord(sys.argv[1])
thread = threading.Thread(target=lambda: proclife.spawn(["sleep", "300"], record=record,
                                                        label="from-a-thread"))
thread.start()
thread.join()
proclife.spawn(["sh", "-c", "sleep 300 & wait"], record=record, label="shell")
print("ready", flush=True)
time.sleep(300)
"""


def start_parent(record_path: Path) -> subprocess.Popen[str]:
    return proclife.spawn([sys.executable, "-c", PARENT, str(record_path)], cwd=REPO,
                          stdout=subprocess.PIPE, text=True)


def test_children_outlive_the_forking_thread_and_die_with_the_parent(tmp_path: Path) -> None:
    record = proclife.ChildRecord(tmp_path / "children.json")
    parent = start_parent(record.path)
    everything: list[tuple[int, float]] = []
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        wait_for(lambda: len(tree(parent.pid)) >= 5, 10)  # parent, 2 children, 1 grandchild
        everything = tree(parent.pid)
        children = [e for e in record.entries()]
        assert [c.label for c in children] == ["from-a-thread", "shell"]
        assert all(proclife.start_time(c.pid) == c.started for c in children)
        assert all(identity(c.pid) is not None for c in children), \
            "a child died with the thread that forked it"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        direct = [identity(c.pid) for c in children]
        assert wait_for(lambda: not still_running([d for d in direct if d]), 5), \
            f"children outlived their SIGKILLed parent: {still_running(everything)}"
        # the shell's own child is orphaned, still in the shell's process group: the reaper
        orphans = still_running(everything)
        assert len(orphans) == 1, orphans
        reaped = proclife.reap(record)
        assert [e.label for e in reaped] == ["shell"]
        assert wait_for(lambda: not still_running(everything), 5), still_running(everything)
        assert record.entries() == []
    finally:
        proclife.kill_group(parent)
        kill_all(everything)


def test_reaper_never_touches_a_process_that_reuses_a_recorded_pid(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "300"])
    record = proclife.ChildRecord(tmp_path / "children.json")
    try:
        entry = record.add(bystander.pid, "was ours once", group=True)
        assert entry is not None
        data = json.loads(record.path.read_text())
        ticks = int(entry.started.rpartition(":")[2])  # recorded: an older incarnation
        data["children"][0]["started"] = entry.started.rpartition(":")[0] + f":{ticks - 1}"
        record.path.write_text(json.dumps(data))
        assert proclife.reap(record, grace_s=0.2) == []
        assert bystander.poll() is None
        assert record.entries() == []
    finally:
        bystander.kill()
        bystander.wait(timeout=5)


def test_unreadable_record_is_ignored_with_a_warning(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "children.json"
    path.write_text("{not json")
    assert proclife.reap(proclife.ChildRecord(path)) == []
    assert "unreadable child record" in caplog.text
    assert not path.exists()


def test_kill_group_stops_the_whole_group(tmp_path: Path) -> None:
    shell = proclife.spawn(["sh", "-c", "sleep 300 & sleep 300 & wait"])
    assert wait_for(lambda: len(tree(shell.pid)) == 3, 10)
    members = tree(shell.pid)
    proclife.kill_group(shell, grace_s=1.0)
    assert wait_for(lambda: not still_running(members), 5), still_running(members)
