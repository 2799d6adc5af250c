"""briefcase.toml + pyproject.toml merge into the single pyproject Briefcase reads."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import briefcase_config  # noqa: E402


def test_packaging_merge_takes_version_and_dependencies_from_project(tmp_path: Path) -> None:
    target = briefcase_config.write_build_dir(tmp_path / "build", REPO)
    merged = tomllib.loads(target.read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert merged["project"]["version"] == project["version"]
    assert merged["project"]["dependencies"] == project["dependencies"]
    app_name, app = next(iter(merged["tool"]["briefcase"]["app"].items()))
    assert app_name.replace("-", "_") in [source.rsplit("/", 1)[-1] for source in app["sources"]]
    assert app["console_app"] is True
    assert merged["tool"]["briefcase"]["bundle"] == "network.oarn"
    for size in (16, 32, 64, 128, 256, 512):
        assert (tmp_path / "build" / f"{app['icon']}-{size}.png").is_file()
    assert (tmp_path / "build" / f"{app['icon']}.icns").is_file()
    assert (tmp_path / "build" / f"{app['icon']}.ico").is_file()
    assert (tmp_path / "build" / "oarn_tui" / "cli.py").is_file()


def test_packaging_merge_rejects_version_in_briefcase_toml(tmp_path: Path) -> None:
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    text = (REPO / "briefcase.toml").read_text()
    (tmp_path / "briefcase.toml").write_text(text.replace('[tool.briefcase]\n',
                                                          '[tool.briefcase]\nversion = "9"\n', 1))
    with pytest.raises(briefcase_config.ConfigError, match="version"):
        briefcase_config.merged_config(tmp_path)
    assert briefcase_config.main(["--print"]) == 0


@pytest.mark.skipif(importlib.util.find_spec("briefcase") is None,
                    reason="briefcase is not installed (pip install briefcase)")
def test_packaging_briefcase_parses_the_merged_config(tmp_path: Path) -> None:
    from briefcase.config import parse_config
    from briefcase.console import Console

    target = briefcase_config.write_build_dir(tmp_path / "build", REPO)
    global_config, apps = parse_config(target, platform="linux", output_format="system",
                                       console=Console())
    assert global_config["version"]
    assert list(apps) == ["oarn-tui"]
