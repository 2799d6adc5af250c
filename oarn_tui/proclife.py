"""Child process lifetimes: children that end with their parent, and a reaper for leftovers.

`spawn()` starts a child in its own process group (so its whole tree can be signalled at once)
and, with `die_with_parent`, makes the kernel signal it when this process ends, however it ends
(SIGKILL included): on Linux the child execs through a tiny Python wrapper that sets
`PR_SET_PDEATHSIG` and then checks `getppid()` (closing the race where the parent died between
fork and prctl) before it execs the real program. No `preexec_fn`, so it is safe with threads.

`PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process. A child
forked from a short-lived thread (a thread pool, a Textual worker) would be killed as soon as
that thread ends, so `spawn()` forks from the main thread or, when called from another thread,
from one long-lived spawner thread that lives as long as the process.

`ChildRecord` is a small JSON file of spawned PIDs with their start time (kernel clock ticks
since boot and the boot id on Linux), so a successor that finds the file after a crash can kill
what is left (`reap()`) without ever hitting a process that merely reuses a recorded PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("oarn.proclife")

PR_SET_PDEATHSIG = 1
REAP_GRACE_S = 2.0
RECORD_NAME = "children.json"  # under <home>/run/
# argv: deathsig, expected parent pid, program, args... (sets the signal, checks the parent
# is still the one that forked us, then becomes the program; the PID stays the same)
_WRAPPER = (
    "import ctypes,os,sys\n"
    "libc=ctypes.CDLL(None,use_errno=True)\n"
    "if libc.prctl(1,int(sys.argv[1]),0,0,0)!=0:\n"
    " sys.exit('oarn: prctl(PR_SET_PDEATHSIG) failed: '+os.strerror(ctypes.get_errno()))\n"
    "if os.getppid()!=int(sys.argv[2]):\n"
    " os._exit(1)\n"
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)


def pdeathsig_supported() -> bool:
    """True where the kernel can signal a child when its parent dies (Linux)."""
    return sys.platform.startswith("linux")


def wrap_for_parent_death(args: Sequence[str], deathsig: int = signal.SIGKILL,
                          parent_pid: int | None = None) -> list[str]:
    """`args` prefixed with the wrapper that sets PR_SET_PDEATHSIG (unchanged off Linux)."""
    if not pdeathsig_supported():
        return list(args)
    parent = os.getpid() if parent_pid is None else parent_pid
    return [sys.executable, "-I", "-S", "-c", _WRAPPER, str(int(deathsig)), str(parent),
            *map(str, args)]


# ---- the spawner thread ---------------------------------------------------------------------

_spawn_queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _spawner_main() -> None:
    while True:
        call, future = _spawn_queue.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(call())
        except BaseException as error:
            future.set_exception(error)


def _on_lasting_thread(call: Callable[[], Any]) -> Any:
    """Run `call` on the main thread (if we are on it) or on the long-lived spawner thread."""
    if threading.current_thread() is threading.main_thread():
        return call()
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawner_main, name="oarn-spawner", daemon=True)
            _spawner.start()
    future: Future[Any] = Future()
    _spawn_queue.put((call, future))
    return future.result()


def spawn(args: Sequence[str], *, die_with_parent: bool = True,
          deathsig: int = signal.SIGKILL, new_session: bool = False,
          record: ChildRecord | None = None, label: str = "",
          **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """Start `args` as the leader of its own process group (or session, `new_session`).

    With `die_with_parent` the kernel sends `deathsig` to the child when this process ends.
    The child is written to `record` (or the process-wide default record, if one is set) so a
    successor can reap it after a crash; `forget()` it once it has been waited for.
    """
    command = wrap_for_parent_death(args, deathsig) if die_with_parent else list(args)
    if new_session:
        popen_kwargs["start_new_session"] = True
    elif os.name == "posix":  # process groups are POSIX; Windows children start as before
        popen_kwargs.setdefault("process_group", 0)
    popen: subprocess.Popen[Any] = _on_lasting_thread(
        lambda: subprocess.Popen(command, **popen_kwargs))
    target = record if record is not None else _default_record
    if target is not None:
        target.add(popen.pid, label or Path(str(args[0])).name, group=True)
    return popen


# ---- process identity -------------------------------------------------------------------------

def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> str | None:
    """A token that identifies this incarnation of `pid`; None if it does not run.

    Linux: the start time in clock ticks since boot, with the boot id. Elsewhere psutil's
    creation time. A zombie counts as not running.
    """
    if pdeathsig_supported() and Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return None
        return f"{_boot_id()}:{fields[19]}"
    try:
        import psutil

        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"ctime:{process.create_time():.2f}"
    except Exception:  # NoSuchProcess, AccessDenied
        return None


def _ticks(token: str) -> int | None:
    boot, _, ticks = token.rpartition(":")
    return int(ticks) if boot != "ctime" and ticks.isdigit() else None


def _group_members(pgid: int, leader_token: str) -> list[int]:
    """Live processes in process group `pgid` started no earlier than its recorded leader.

    A PID is never reused as a new process group ID while a member of the old group lives,
    so members of `pgid` that started after the leader did belong to the leader's group.
    """
    leader_ticks = _ticks(leader_token)
    boot = leader_token.rpartition(":")[0]
    if leader_ticks is None or boot != _boot_id():
        return []
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        if int(fields[2]) == pgid and int(fields[19]) >= leader_ticks:
            members.append(int(entry.name))
    return members


# ---- the record ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChildEntry:
    """One recorded child: its PID, the start-time token, whether it leads its group."""

    pid: int
    started: str
    label: str = ""
    group: bool = False


class ChildRecord:
    """The children one process spawned, kept in a JSON file (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def for_home(cls, home: Path) -> ChildRecord:
        """The record of the node daemon of `home` (`<home>/run/children.json`)."""
        return cls(Path(home) / "run" / RECORD_NAME)

    def entries(self) -> list[ChildEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [ChildEntry(int(e["pid"]), str(e["started"]), str(e.get("label", "")),
                               bool(e.get("group", False))) for e in data["children"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable child record %s: %s", self.path, error)
            return []

    def _write(self, entries: list[ChildEntry]) -> None:
        from oarn_tui.fsutil import atomic_write_text, private_dir

        private_dir(self.path.parent)
        atomic_write_text(self.path, json.dumps({"children": [asdict(e) for e in entries]},
                                                indent=1))

    def add(self, pid: int, label: str = "", *, group: bool = False) -> ChildEntry | None:
        """Record `pid` (with its start time); None if it already ended."""
        token = start_time(pid)
        if token is None:
            return None
        entry = ChildEntry(pid, token, label, group)
        with self._lock:
            self._write([e for e in self.entries() if e.pid != pid] + [entry])
        return entry

    def forget(self, pid: int) -> None:
        """Drop `pid` from the record (after it ended and was waited for)."""
        with self._lock:
            entries = self.entries()
            kept = [e for e in entries if e.pid != pid]
            if len(kept) != len(entries):
                self._write(kept)

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


def reap(record: ChildRecord, grace_s: float = REAP_GRACE_S) -> list[ChildEntry]:
    """Stop what a crashed predecessor left: every recorded child that still runs *as the
    same process* (start time checked), with its process group; then clear the record.

    SIGTERM first, SIGKILL after `grace_s`. Returns the entries that were found running.
    Call it only while holding whatever makes this process the record's sole owner (the
    home lock for a daemon), never while the recording process may still run.
    """
    found: list[ChildEntry] = []
    targets: set[int] = set()
    for entry in record.entries():
        members = _group_members(entry.pid, entry.started) if entry.group else []
        alive = start_time(entry.pid) == entry.started
        if alive:
            members.append(entry.pid)
        if members:
            found.append(entry)
            targets.update(members)
    _terminate(targets, grace_s)
    record.clear()
    for entry in found:
        log.warning("reaped a leftover child of a previous run: %s (pid %d)",
                    entry.label or "process", entry.pid)
    return found


def _terminate(pids: set[int], grace_s: float) -> None:
    tokens = {pid: start_time(pid) for pid in pids}
    live = {pid: token for pid, token in tokens.items() if token is not None}
    for pid in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while live and time.monotonic() < deadline:
        live = {pid: token for pid, token in live.items() if start_time(pid) == token}
        time.sleep(0.05)
    for pid, token in live.items():
        if start_time(pid) == token:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def kill_group(popen: subprocess.Popen[Any], grace_s: float = 2.0) -> None:
    """Stop a child started by `spawn()` and everything in its process group: SIGTERM, then
    SIGKILL after `grace_s`, then wait for the child.

    The child is not reaped before the group's SIGKILL (waitid with WNOWAIT), so its PID, the
    group's ID, cannot have been reused by then.
    """
    pgid = popen.pid
    if popen.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and not _exited_unreaped(pgid):
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)  # the rest of the group, even if the leader is gone
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=5)


def _exited_unreaped(pid: int) -> bool:
    """True once child `pid` has exited (it stays a zombie: not reaped here)."""
    if not hasattr(os, "waitid"):  # macOS: no WNOWAIT; a PID reuse race is left there
        return False
    try:
        result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return result is not None


# ---- the process-wide default record (a daemon sets its home's) ------------------------------

_default_record: ChildRecord | None = None


def set_default_record(record: ChildRecord | None) -> None:
    """Where `spawn()` and `track()` record children when not told otherwise."""
    global _default_record
    _default_record = record


def track(pid: int, label: str = "", *, group: bool = False) -> None:
    """Record a child started some other way (multiprocessing) in the default record."""
    if _default_record is not None:
        _default_record.add(pid, label, group=group)


def untrack(pid: int) -> None:
    if _default_record is not None:
        _default_record.forget(pid)
