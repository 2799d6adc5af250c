"""The daemon's operator errors (runtime layer, no CLI import) still print as one CLI line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from oarn_tui.cli import root
from oarn_tui.config import NodeConfig, load_config, render_default_config
from oarn_tui.fsutil import atomic_write_text, private_dir
from oarn_tui.runtime.daemon import DaemonError, start_background
from oarn_tui.runtime.pidfile import HomeLock

pytestmark = pytest.mark.timeout(60)


class _Invocation:
    """A front end's invocation that is not the CLI's (the daemon only needs its protocol)."""

    def __init__(self, home: Path) -> None:
        self.home, self.profile, self.verbose = home, None, 0

    def config(self) -> NodeConfig:
        return load_config(self.home)

    def require_initialised(self) -> NodeConfig:
        return self.config()


@pytest.fixture
def locked_home(tmp_path: Path) -> Iterator[Path]:
    home = private_dir(tmp_path / "home")
    atomic_write_text(home / "config.toml", render_default_config("local"))
    lock = HomeLock(home)
    lock.acquire()
    try:
        yield home
    finally:
        lock.release()


def test_start_on_a_running_home_raises_the_runtime_error(locked_home: Path) -> None:
    with pytest.raises(DaemonError, match="a node is already running on"):
        start_background(_Invocation(locked_home), timeout=5)


def test_oarn_start_on_a_running_home_prints_one_error_line(locked_home: Path) -> None:
    result = CliRunner().invoke(root, ["--home", str(locked_home), "start"])
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, DaemonError)  # converted, no traceback
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: a node is already running on {locked_home} (process {os.getpid()}); "
                     f"stop it with "
                     f"`oarn --home {locked_home} stop`"], result.output
