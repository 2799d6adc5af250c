"""install.sh: shellcheck-clean, refuses root and old Pythons, installs an isolated `oarn`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "install.sh"


def run_installer(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8", **env}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=environment, timeout=600)


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed "
                    "(apt-get install shellcheck)")
def test_packaging_install_script_passes_shellcheck() -> None:
    result = subprocess.run(["shellcheck", str(SCRIPT),
                             str(REPO / "packaging" / "container" / "entrypoint.sh")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="checks the refusal to run as root")
def test_packaging_install_script_refuses_root(tmp_path: Path) -> None:
    result = run_installer(tmp_path)
    assert result.returncode == 1
    assert "refusing to install as root" in result.stderr
    assert not (tmp_path / ".local").exists()


def test_packaging_install_script_rejects_old_python(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\n[ \"$1\" = -c ] && case \"$2\" in *version_info*) exit 1;; "
                   "*python_version*) echo 3.10.14;; esac\n")
    old.chmod(0o755)
    result = run_installer(tmp_path, "--allow-root", OARN_PYTHON=str(old))
    assert result.returncode == 1
    assert "Python 3.11 or newer is needed" in result.stderr and "3.10.14" in result.stderr


def test_packaging_install_script_rejects_missing_source(tmp_path: Path) -> None:
    result = run_installer(tmp_path, "--allow-root", OARN_INSTALL_SOURCE=str(tmp_path / "nope"),
                           OARN_PYTHON=sys.executable)
    assert result.returncode == 1 and "does not exist" in result.stderr


@pytest.mark.slow
def test_packaging_install_script_installs_isolated_oarn(tmp_path: Path) -> None:
    """Installs the checkout's wheel (dependencies from the package index or pip's cache)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "oarn_tui", source / "oarn_tui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "wheels"), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "wheels").glob("oarn_tui-*.whl"))
    home = tmp_path / "home"
    home.mkdir()
    cache = {"PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR",
                                             str(Path.home() / ".cache" / "pip"))}
    result = run_installer(home, "--allow-root", OARN_INSTALL_SOURCE=str(wheel), **cache)
    assert result.returncode == 0, result.stderr[-3000:]
    shim = home / ".local" / "bin" / "oarn"
    assert shim.is_symlink()
    assert shim.resolve().is_relative_to(home / ".local" / "share" / "oarn" / "venv")
    helped = subprocess.run([str(shim), "--help"], capture_output=True, text=True, timeout=60,
                            env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert helped.returncode == 0 and "Usage: oarn" in helped.stdout
