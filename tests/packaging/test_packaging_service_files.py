"""The service definitions run `oarn --daemon` unprivileged, restart on failure, unlock headless."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "packaging" / "systemd"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key → values of a unit file (sections flattened; comments skipped)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def oarn_executable() -> Path:
    found = Path(sys.executable).parent / "oarn"
    if not found.is_file():
        pytest.skip("the `oarn` console script is not installed in this environment")
    return found


@pytest.mark.parametrize("unit", ["oarn.service", "oarn-user.service"])
def test_packaging_systemd_unit_runs_daemon_unprivileged(unit: str) -> None:
    settings = unit_settings((SYSTEMD / unit).read_text())
    exec_start = settings["ExecStart"][0]
    assert exec_start.endswith("oarn --daemon")
    assert settings["Restart"] == ["on-failure"]
    assert settings["NoNewPrivileges"] == ["yes"]
    credentials = settings.get("LoadCredential", []) + settings.get("LoadCredentialEncrypted", [])
    assert any(value.startswith("oarn-wallet-password") for value in credentials)
    if unit == "oarn.service":
        assert settings["User"] == ["oarn"], "the system unit must not run as root"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", ["oarn.service", "oarn-user.service"])
def test_packaging_systemd_analyze_verify_accepts_unit(unit: str, tmp_path: Path) -> None:
    """ExecStart is pointed at this environment's real `oarn` so verify can check it exists."""
    oarn = oarn_executable()
    text = (SYSTEMD / unit).read_text()
    lines = [f"ExecStart={oarn} --daemon" if line.startswith("ExecStart=") else line
             for line in text.splitlines()]
    target = tmp_path / "oarn.service"
    target.write_text("\n".join(lines) + "\n")
    command = ["systemd-analyze", "verify", "--man=no"]
    if unit == "oarn-user.service":
        command.append("--user")
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="warning")
    env.setdefault("XDG_RUNTIME_DIR", str(tmp_path))
    result = subprocess.run([*command, str(target)], capture_output=True, text=True, env=env,
                            timeout=60)
    problems = [line for line in result.stderr.splitlines() if str(target) in line
                or "oarn.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_packaging_launchd_plist_runs_daemon_with_password_file() -> None:
    with (REPO / "packaging" / "macos" / "network.oarn.node.plist").open("rb") as handle:
        plist = plistlib.load(handle)
    assert plist["Label"] == "network.oarn.node"
    assert plist["ProgramArguments"][-2].endswith("/oarn")
    assert plist["ProgramArguments"][-1] == "--daemon"
    assert plist["KeepAlive"] == {"SuccessfulExit": False}, "restart only on failure"
    assert "UserName" not in plist, "a user agent runs as the logged-in user"
    assert plist["EnvironmentVariables"]["OARN_PASSWORD_FILE"].endswith("wallet-password")


def test_packaging_windows_task_runs_daemon_least_privilege() -> None:
    root = ElementTree.parse(REPO / "packaging" / "windows" / "oarn-node.xml").getroot()
    command = root.find("t:Actions/t:Exec/t:Command", TASK_NS)
    arguments = root.find("t:Actions/t:Exec/t:Arguments", TASK_NS)
    assert command is not None and command.text and command.text.startswith("oarn")
    assert arguments is not None and arguments.text == "--daemon"
    assert root.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=TASK_NS) \
        == "LeastPrivilege"
    assert root.find("t:Settings/t:RestartOnFailure/t:Count", TASK_NS) is not None
    assert root.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=TASK_NS) == "PT0S"
