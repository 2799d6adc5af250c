"""Shared fixtures: isolated homes and a helper to run the real `oarn` command in a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

# Every event a test's runtime publishes must fit the catalogue (oarn_tui/core/catalog): in
# strict mode a misfit raises where it is published instead of logging a warning.
os.environ.setdefault("OARN_STRICT_CATALOG", "1")


def oarn_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a child `oarn`: no inherited OARN_* settings, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OARN_")}
    env.update({"OARN_HOME": str(home), "PYTHONPATH": str(REPO), "HOME": str(home.parent),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    env.update(extra)
    return env


def run_oarn(home: Path, *args: str, timeout: float = 60, input: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m oarn_tui --home HOME ARGS...` and capture its output (see `run_tree`)."""
    return run_tree([sys.executable, "-m", "oarn_tui", "--home", str(home), *args],
                    timeout=timeout, input=input, env=env or oarn_env(home), cwd=REPO)


def run_tree(command: list[str], *, timeout: float, input: str | None = None,
             **popen_kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` with captured text output, but the command leads its own process
    group and dies with the test process (PR_SET_PDEATHSIG); on a timeout or any other way out
    (pytest-timeout's exception included) its whole group is killed, not just itself."""
    from oarn_tui.proclife import kill_group, spawn

    process = spawn(command, stdin=subprocess.PIPE if input is not None else None,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_kwargs)
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except BaseException:
        kill_group(process, grace_s=0.5)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh node home; any daemon left running on it is stopped by PID."""
    path = tmp_path / "home"
    yield path
    pid_file = path / "run" / "node.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), 9)
