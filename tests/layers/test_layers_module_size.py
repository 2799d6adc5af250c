"""No module of the package is over 400 lines without saying at its top why it is one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "oarn_tui"
LIMIT = 400
REASON = re.compile(r"in one module\b[^.]*\bbecause\b", re.IGNORECASE | re.DOTALL)


def _unexplained(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines <= LIMIT:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not REASON.search(docstring):
            found.append(f"{path.relative_to(root.parent)} ({lines} lines)")
    return found


def test_every_long_module_states_why_it_is_one_module() -> None:
    unexplained = _unexplained(PACKAGE)
    assert not unexplained, (
        "split these modules, or say at the top of each why it stays one "
        "('... stay in one module (~N lines) because ...'): " + ", ".join(unexplained))


def test_the_check_finds_a_long_module_without_a_reason(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    body = "\n".join(f"x{i} = {i}" for i in range(LIMIT + 1))
    (package / "long.py").write_text(f'"""A long module."""\n{body}\n')
    (package / "explained.py").write_text(
        f'"""A long module.\n\nIt stays in one module because it is a test.\n"""\n{body}\n')
    assert _unexplained(package) == [f"pkg/long.py ({LIMIT + 2} lines)"]
