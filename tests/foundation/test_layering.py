"""DESIGN rule 1: nothing outside `oarn_tui.tui` imports Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import oarn_tui
from tests.conftest import REPO


def test_no_package_but_tui_loads_textual() -> None:
    modules = sorted(
        info.name for info in pkgutil.walk_packages(oarn_tui.__path__, "oarn_tui.")
        if not info.name.startswith("oarn_tui.tui") and info.name != "oarn_tui.__main__")
    assert "oarn_tui.runtime.node" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"  # optional extras (llama_cpp, torch) may be absent
        "        print('skip', name, exc, file=sys.stderr)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
