"""Fixtures for the dashboard tests (helpers live in `tui_seed.py`, a unique module name)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_seed import write_config

from oarn_tui.config import load_config
from oarn_tui.runtime.node import NodeRuntime


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clock times render in UTC so snapshots match on any machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    write_config(path)
    return path


@pytest.fixture
def runtime(home: Path) -> Iterator[NodeRuntime]:
    node = NodeRuntime(load_config(home, env={}))
    yield node
    node.close()


