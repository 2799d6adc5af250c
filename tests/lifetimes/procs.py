"""Helpers for lifetime tests: who is alive (by PID *and* start time), bounded waits."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable

import psutil


def identity(pid: int) -> tuple[int, float] | None:
    """(pid, creation time) of a running, non-zombie process; None otherwise."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return pid, process.create_time()
    except psutil.Error:
        return None


def still_running(known: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """Those of `known` that still run as the same process (not a reused PID, not a zombie)."""
    return [ident for ident in known if identity(ident[0]) == ident]


def tree(pid: int) -> list[tuple[int, float]]:
    """`pid` and all its descendants, with their creation times."""
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
    return [ident for ident in (identity(p.pid) for p in processes) if ident is not None]


def mentioning(text: str) -> list[tuple[int, float]]:
    """Running processes whose command line contains `text` (a test's private path)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if any(text in part for part in process.info["cmdline"] or ()):
                ident = identity(process.pid)
                if ident is not None:
                    found.append(ident)
    return found


def kill_all(known: Iterable[tuple[int, float]]) -> None:
    """SIGKILL each of `known` that still runs as the same process (test clean-up)."""
    for pid, _created in still_running(known):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
