"""Shared fixtures: isolated homes and a helper to run the real `oarn` command in a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def oarn_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a child `oarn`: no inherited OARN_* settings, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OARN_")}
    env.update({"OARN_HOME": str(home), "PYTHONPATH": str(REPO), "HOME": str(home.parent),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    env.update(extra)
    return env


def run_oarn(home: Path, *args: str, timeout: float = 60, input: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m oarn_tui --home HOME ARGS...` and capture its output."""
    return subprocess.run([sys.executable, "-m", "oarn_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, input=input,
                          env=env or oarn_env(home), cwd=REPO)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh node home; any daemon left running on it is stopped by PID."""
    path = tmp_path / "home"
    yield path
    pid_file = path / "run" / "node.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), 9)
