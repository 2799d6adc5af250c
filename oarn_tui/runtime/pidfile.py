"""One node per home: an exclusive lock plus a PID file, with stale files from crashes cleaned.

The node holds `run/node.lock` with an exclusive flock for its lifetime. A probe (`is_locked`,
used by `start`, `stop` and the dashboard) takes a *shared* flock for an instant, so probes
never block each other; `HomeLock.acquire` tells a probe's brief shared hold (retry for a
moment) from a node's exclusive hold (already running), so a probe loop never makes a
concurrent `oarn start` fail as "already running".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from oarn_tui.fsutil import UnsafeDirectory, verified_private_dir
from oarn_tui.runtime.control import (
    POINTER_FILE,
    UnsafeControlSocket,
    prepare_socket_dir,
    run_dir,
    socket_path,
)

PROBE_WAIT_S = 5.0
"""How long `acquire` retries while only probes (shared holders) hold the lock."""


class HomeLocked(RuntimeError):
    """Another node process holds this home."""


class HomeUnsafe(HomeLocked):
    """The home's `run/` directory or the control socket's directory is a link, another
    user's, or open to others: no node may take the home (a `HomeLocked`, so every caller, the
    daemon and the dashboard included, already reports it in one line)."""


def pid_path(home: Path) -> Path:
    return run_dir(home) / "node.pid"


def read_pid(home: Path) -> int | None:
    try:
        return int(pid_path(home).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _held_exclusively(lock_file: Path) -> bool:
    """True when some process holds `lock_file` exclusively (a node), False when it is free
    or held only shared (probes)."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class HomeLock:
    """Held for the node's lifetime. The kernel drops the flock when the process dies, so a
    `kill -9` leaves at worst stale files, which the next `acquire` removes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._fd: int | None = None

    def acquire(self, probe_wait_s: float = PROBE_WAIT_S) -> None:
        try:
            verified_private_dir(run_dir(self.home))
        except UnsafeDirectory as exc:
            raise HomeUnsafe(f"refusing to run a node on {self.home}: {exc}") from None
        try:  # the daemon and the dashboard's embedded node both serve the socket
            prepare_socket_dir(self.home)
        except UnsafeControlSocket as exc:
            raise HomeUnsafe(str(exc)) from None
        lock_file = run_dir(self.home) / "node.lock"
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = time.monotonic() + probe_wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _held_exclusively(lock_file) or time.monotonic() > deadline:
                    os.close(fd)
                    pid = read_pid(self.home)
                    holder = f"process {pid}" if pid else "another process"
                    raise HomeLocked(f"a node is already running on {self.home} ({holder}); "
                                     f"stop it with `oarn --home {self.home} stop`") from None
                time.sleep(0.005)  # only probes hold it, each for an instant
        self._fd = fd
        for stale in (pid_path(self.home), socket_path(self.home),
                      run_dir(self.home) / POINTER_FILE):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        tmp = pid_path(self.home).with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, pid_path(self.home))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            pid_path(self.home).unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_locked(home: Path) -> bool:
    """True when a live node holds the home. Takes only a shared lock, for an instant: probes
    never make each other, or a starting node, see "already running"."""
    return _held_exclusively(run_dir(home) / "node.lock")
