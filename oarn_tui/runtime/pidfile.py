"""One node per home: an exclusive lock plus a PID file, with stale files from crashes cleaned."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from oarn_tui.fsutil import private_dir
from oarn_tui.runtime.control import run_dir, socket_path


class HomeLocked(RuntimeError):
    """Another node process holds this home."""


def pid_path(home: Path) -> Path:
    return run_dir(home) / "node.pid"


def read_pid(home: Path) -> int | None:
    try:
        return int(pid_path(home).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


class HomeLock:
    """Held for the node's lifetime. The kernel drops the flock when the process dies, so a
    `kill -9` leaves at worst stale files, which the next `acquire` removes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(run_dir(self.home))
        fd = os.open(run_dir(self.home) / "node.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.home)
            holder = f"process {pid}" if pid else "another process"
            raise HomeLocked(f"a node is already running on {self.home} ({holder}); "
                             f"stop it with `oarn --home {self.home} stop`") from None
        self._fd = fd
        for stale in (pid_path(self.home), socket_path(self.home)):
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
    """True when a live node holds the home (without taking the lock for long)."""
    lock_file = run_dir(home) / "node.lock"
    if not lock_file.exists():
        return False
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
