"""The daemon's lifecycle through the real `oarn` command, in separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, oarn_env, run_oarn


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def init_home(home: Path) -> None:
    result = run_oarn(home, "init", "--profile", "local")
    assert result.returncode == 0, result.stderr


def test_foreground_daemon_stops_on_sigterm_and_cleans_up(home: Path) -> None:
    init_home(home)
    process = subprocess.Popen([sys.executable, "-m", "oarn_tui", "--home", str(home),
                                "--daemon"], env=oarn_env(home), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: (home / "run" / "control.sock").exists())
        assert (home / "run" / "node.pid").read_text().strip() == str(process.pid)
        status = json.loads(run_oarn(home, "status", "--json").stdout)
        assert status["running"] is True and status["pid"] == process.pid
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
    assert not (home / "run" / "node.pid").exists()
    assert not (home / "run" / "control.sock").exists()


def test_start_status_logs_stop_and_second_start(home: Path) -> None:
    init_home(home)
    started = run_oarn(home, "start", "--json")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        status = json.loads(run_oarn(home, "status", "--json").stdout)
        for field in ("version", "profile", "home", "uptime_s", "peer_id", "listen_addrs",
                      "topics", "peers", "wallet", "chain", "network", "tasks", "services"):
            assert field in status, field
        assert status["wallet"]["state"] == "missing"
        assert status["home"] == str(home)
        second = run_oarn(home, "start")
        assert second.returncode != 0
        assert f"already running on {home} (process {pid})" in second.stderr
        assert "Traceback" not in second.stderr
        logs = run_oarn(home, "logs", "-n", "20")
        assert logs.returncode == 0 and "node started" in logs.stdout
        logs_json = json.loads(run_oarn(home, "logs", "-n", "5", "--json").stdout)
        assert logs_json["lines"] and all("level" in entry for entry in logs_json["lines"])
    finally:
        stopped = run_oarn(home, "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["stopped"] is True
    assert not (home / "run" / "node.pid").exists()
    assert run_oarn(home, "status").returncode == 3


def test_start_after_kill_9_recovers(home: Path) -> None:
    init_home(home)
    pid = json.loads(run_oarn(home, "start", "--json").stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists() or
                      "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])
    assert (home / "run" / "node.pid").exists()  # stale files left by the crash
    restarted = run_oarn(home, "start", "--json")
    assert restarted.returncode == 0, restarted.stderr
    new_pid = json.loads(restarted.stdout)["pid"]
    assert new_pid != pid
    assert (home / "run" / "node.pid").read_text().strip() == str(new_pid)
    assert run_oarn(home, "stop").returncode == 0


def test_sighup_and_config_set_apply_live_keys(home: Path) -> None:
    init_home(home)
    assert run_oarn(home, "start").returncode == 0
    try:
        live = json.loads(run_oarn(home, "config", "set", "compute.max_concurrent_tasks", "6",
                                   "--json").stdout)
        assert live["running"] and live["applied"] == ["compute.max_concurrent_tasks"]
        restart = json.loads(run_oarn(home, "config", "set", "network.max_peers", "12",
                                      "--json").stdout)
        assert restart["restart_needed"] == ["network.max_peers"]
        (home / "config.toml").write_text((home / "config.toml").read_text().replace(
            "max_concurrent_tasks = 6", "max_concurrent_tasks = 3"))
        pid = int((home / "run" / "node.pid").read_text())
        os.kill(pid, signal.SIGHUP)
        assert wait_until(lambda: "config reloaded" in run_oarn(home, "logs", "-n", "50").stdout
                          and "max_concurrent_tasks" in
                          run_oarn(home, "logs", "-n", "1").stdout)
    finally:
        run_oarn(home, "stop")


def test_config_validate_one_line_errors(home: Path) -> None:
    init_home(home)
    cases = {
        "[compute]\nunknown_key = 1\n": ("compute.unknown_key", 2),
        "[compute]\nmax_concurrent_tasks = 'x'\n": ("compute.max_concurrent_tasks", 2),
        "[node]\n\nprivate_key = '0x" + "1f" * 32 + "'\n": ("node.private_key", 3),
    }
    for text, (key, line) in cases.items():
        (home / "config.toml").write_text(text)
        result = run_oarn(home, "config", "validate")
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f":{line}: {key}" in lines[0]
        assert "Traceback" not in result.stderr + result.stdout
        assert "1f1f1f" not in result.stderr  # never echo the secret back


def test_commands_refuse_a_home_without_config(home: Path) -> None:
    result = run_oarn(home, "start")
    assert result.returncode != 0
    assert "oarn --home" in result.stderr and "init" in result.stderr
