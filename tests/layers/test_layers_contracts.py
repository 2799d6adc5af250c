"""The import contracts of pyproject.toml hold for the package, and they do catch a break.

`scripts/test.sh` runs `lint-imports` itself; these tests show the contracts are not vacuous: an
upward import (the runtime reaching for the CLI) and a Textual import outside `oarn_tui.tui`,
planted in a copy of the package, each break a contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `root`, with `root`'s pyproject.toml."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the project with its [test] extra")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo",
                           str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=90)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "oarn_tui", tmp_path / "oarn_tui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.json"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # planted by the test\n")


def test_the_package_keeps_its_import_contracts() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_copy_is_what_is_linted(copy: Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_runtime_importing_the_cli_breaks_the_layers(copy: Path) -> None:
    _plant(copy / "oarn_tui/runtime/daemon.py", "from oarn_tui.cli_support import AppContext")
    result = _lint(copy)
    assert result.returncode == 1, result.stdout[-4000:]
    assert "oarn_tui.runtime is not allowed to import oarn_tui.cli_support" in result.stdout


def test_a_service_importing_the_pipeline_breaks_the_layers(copy: Path) -> None:
    _plant(copy / "oarn_tui/storage/models.py", "import oarn_tui.pipeline.service")
    result = _lint(copy)
    assert result.returncode == 1
    assert "oarn_tui.storage is not allowed to import oarn_tui.pipeline" in result.stdout


def test_textual_outside_the_dashboard_breaks_the_textual_contract(copy: Path) -> None:
    _plant(copy / "oarn_tui/config.py", "import textual")
    result = _lint(copy)
    assert result.returncode == 1
    assert "Only the dashboard (oarn_tui.tui) imports Textual BROKEN" in result.stdout


def test_a_new_top_level_module_must_be_placed_in_a_layer(copy: Path) -> None:
    (copy / "oarn_tui/unplaced.py").write_text('"""Not in any layer."""\n')
    result = _lint(copy)
    assert result.returncode == 1
    assert "oarn_tui.unplaced" in result.stdout
