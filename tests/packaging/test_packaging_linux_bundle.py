"""The relocatable Linux bundle installs into a clean home and runs `oarn demo` without Node.js."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_tree

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
# The only tools the launcher and install.sh use; node and anvil are deliberately absent.
TOOLS = ("sh", "dirname", "readlink", "cp", "mkdir", "rm", "mv", "ln", "sed", "cat", "id")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    pytest.mark.skipif(sys.platform != "linux", reason="the Linux bundle is built on Linux"),
    pytest.mark.skipif(not ANVIL.is_file(),
                       reason="anvil missing: run `npm ci` in contracts/ to bundle it"),
]


def can_switch_user() -> bool:
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("useradd", "userdel",
                                                                        "runuser"))


def switch_user_prefix(user: str) -> list[str]:
    """Run as `user` in the same process: setpriv (no fork) re-arms PR_SET_PDEATHSIG after the
    user switch, which clears it, so the demo itself dies with the test process. runuser forks
    and would leave the demo orphaned, still running, if the test process were killed."""
    help_text = subprocess.run(["setpriv", "--help"], capture_output=True, text=True).stdout \
        if shutil.which("setpriv") else ""
    if "--pdeathsig" in help_text:
        return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                "--pdeathsig=KILL", "--"]
    return ["runuser", "-u", user, "--"]


@pytest.fixture
def clean_root() -> Iterator[tuple[Path, list[str]]]:
    """A world-readable scratch dir and the command prefix that runs as a fresh, unprivileged user
    (or as the current user with a clean HOME when users cannot be created)."""
    scratch = Path(tempfile.mkdtemp(prefix="oarn-pkg-"))
    scratch.chmod(0o755)
    home = scratch / "home"
    user = f"oarnpkg{os.getpid() % 100000}"
    prefix: list[str] = []
    created = False
    if can_switch_user():
        subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell",
                        "/bin/sh", user], check=True, capture_output=True)
        created = True
        prefix = switch_user_prefix(user)
    else:
        home.mkdir()
    tools = scratch / "tools"
    tools.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed by the launcher"
        (tools / tool).symlink_to(found)
    env = ["env", "-i", f"HOME={home}", f"PATH={tools}", "LANG=C.UTF-8"]
    try:
        yield scratch, [*prefix, *env]
    finally:
        if created:
            kill_processes_of(user)
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def kill_processes_of(user: str) -> None:
    """SIGKILL every process of the user this test created (all of them are the test's own:
    the user did not exist before it), by PID, so nothing outlives the test."""
    import psutil

    for process in psutil.process_iter(["username"]):
        if process.info["username"] == user:
            with contextlib.suppress(psutil.Error):
                process.kill()


def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs from the repository root on purpose: its `oarn_tui` must not shadow the bundle's.
    The command's whole process group is killed when it times out (`runuser` keeps its child
    in it), not only `runuser`, which would leave the demo and its processes running."""
    return run_tree(command, timeout=timeout, cwd=REPO)


@pytest.mark.timeout(900)  # a bundle build, an install and a demo; slow on a loaded machine
def test_packaging_bundle_installs_and_runs_demo(clean_root: tuple[Path, list[str]]) -> None:
    scratch, as_clean_user = clean_root
    dist = scratch / "dist"
    build = run([sys.executable, str(REPO / "packaging" / "build_linux_bundle.py"),
                 "--out", str(dist), "--no-archive",
                 *(["--deb"] if shutil.which("dpkg-deb") else [])], timeout=300)
    assert build.returncode == 0, build.stderr
    bundle = Path(build.stdout.strip().splitlines()[-1])
    assert (bundle / "python" / "lib" / "node_modules" / "@foundry-rs").is_dir()
    for path in [scratch, *scratch.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o755)
    home = scratch / "home"
    local = home / ".local"

    installed = run([*as_clean_user, str(bundle / "install.sh"), "--prefix", str(local)], 120)
    assert installed.returncode == 0, installed.stderr
    oarn = local / "bin" / "oarn"
    assert (local / "share" / "applications" / "network.oarn.desktop").is_file()

    which = run([*as_clean_user, "sh", "-c", "command -v node || command -v anvil || echo none"],
                30)
    assert which.stdout.strip() == "none", "the clean PATH must not offer node or anvil"

    helped = run([*as_clean_user, str(oarn), "--help"], 60)
    assert helped.returncode == 0, helped.stderr
    assert "Usage: oarn" in helped.stdout and "demo" in helped.stdout

    bundled = local / "lib" / "oarn" / "python"
    python = bundled / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    located = run([*as_clean_user, f"LD_LIBRARY_PATH={bundled / 'lib'}",
                   str(python), "-I", "-c",
                   "from oarn_tui.chain.anvil import find_anvil; print(find_anvil())"], 60)
    assert located.returncode == 0, located.stderr
    assert located.stdout.strip().startswith(str(bundled / "lib")), \
        "the demo must use the bundled anvil"

    demo = run([*as_clean_user, str(oarn), "--home", str(home / "node"), "demo", "--headless",
                "--tasks", "3", "--json"], timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    summary = json.loads(demo.stdout)
    assert summary["tasks_finalized"] == 3 and summary["tasks_failed"] == 0
    assert len(summary["results"]) == 3

    debs = sorted(dist.glob("oarn_*.deb"))
    if debs:  # the .deb holds the same bundle under /opt/oarn; unpack it into a fresh root
        root = scratch / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True, timeout=120)
        root.chmod(0o755)
        from_deb = run([*as_clean_user, str(root / "usr" / "bin" / "oarn"), "--help"], 60)
        assert from_deb.returncode == 0 and "Usage: oarn" in from_deb.stdout, from_deb.stderr

    imported = run([*as_clean_user, "PYTHONSAFEPATH=1", f"LD_LIBRARY_PATH={bundled / 'lib'}",
                    str(python), "-c", "import oarn_tui; print(oarn_tui.__file__)"], 60)
    assert imported.stdout.strip().startswith(str(bundled)), imported.stdout
