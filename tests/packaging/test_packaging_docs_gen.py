"""docs/cli.md and docs/configuration.md are generated from the code and checked for staleness."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from oarn_tui import docs_gen
from oarn_tui.cli import root
from oarn_tui.config import SCHEMA

REPO = Path(__file__).resolve().parents[2]


def test_packaging_cli_reference_lists_every_command() -> None:
    text = docs_gen.render_cli()
    paths = [ctx.command_path for ctx in
             docs_gen.walk_commands(root, click.Context(root, info_name="oarn"))]
    assert len(paths) > 10 and "oarn wallet create" in paths
    for path in paths:
        assert f"`{path}`" in text
    assert "--password-fd" not in text, "hidden options stay out of the reference"


def test_packaging_config_reference_lists_every_key() -> None:
    text = docs_gen.render_config()
    for dotted, spec in SCHEMA.items():
        section, name = dotted.rsplit(".", 1)
        assert f"## `[{section}]`" in text
        assert f"| `{name}` |" in text and f"`{docs_gen.env_name(dotted)}`" in text
        if spec.meta.get("help"):
            assert docs_gen._cell(spec.meta["help"]) in text


def test_packaging_docs_check_passes_on_committed_docs() -> None:
    result = subprocess.run([sys.executable, "-m", "oarn_tui.docs_gen", "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_packaging_docs_check_fails_when_stale_and_regenerates(tmp_path: Path) -> None:
    for name in (docs_gen.CLI_FILE, docs_gen.CONFIG_FILE, docs_gen.CONTROL_FILE):
        shutil.copy2(REPO / "docs" / name, tmp_path / name)
    stale = tmp_path / docs_gen.CONFIG_FILE
    stale.write_text(stale.read_text().replace("| `name` |", "| `renamed` |", 1))
    assert docs_gen.main(["--check", "--docs", str(tmp_path)]) == 1
    (tmp_path / docs_gen.CLI_FILE).unlink()
    assert docs_gen.stale_files(tmp_path) == [tmp_path / docs_gen.CLI_FILE, stale]
    assert docs_gen.main(["--docs", str(tmp_path)]) == 0
    assert docs_gen.main(["--check", "--docs", str(tmp_path)]) == 0
