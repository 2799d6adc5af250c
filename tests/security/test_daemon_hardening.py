"""The daemon's own process and files: no core dumps, durable commit salts, no false
"already running" from probes, and `init` never re-moding a directory it did not create."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from oarn_tui.core.db import open_db
from oarn_tui.core.ledger import TaskLedger
from tests.conftest import REPO, oarn_env, run_oarn

ATTACKER_UID = 65534


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def init_home(home: Path) -> None:
    result = run_oarn(home, "init", "--profile", "local")
    assert result.returncode == 0, result.stderr


def allow_core_dumps() -> None:
    """In the child before exec: core dumps allowed, so only the daemon itself can forbid
    them (root may raise the hard limit)."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_daemon_forbids_core_dumps_and_ptrace(home: Path) -> None:
    init_home(home)
    process = subprocess.Popen([sys.executable, "-m", "oarn_tui", "--home", str(home),
                                "--daemon"], env=oarn_env(home), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=allow_core_dumps)
    try:
        wait_for(lambda: (home / "run" / "control.sock").exists(), 60, "the control socket")
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        core = next(line for line in limits.splitlines() if line.startswith("Max core"))
        assert core.split()[4] == "0", core  # the soft limit, the one the kernel applies
        status = json.loads(run_oarn(home, "status", "--json").stdout)
        assert status["pid"] == process.pid
        assert status["security"] == {"core_limit": 0, "dumpable": False}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_process_that_unlocks_the_wallet_is_hardened(tmp_path: Path) -> None:
    """The CLI and the embedded dashboard runtime decrypt through `open_sealed`."""
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from oarn_tui.hardening import hardening_state
        from oarn_tui.wallet import operations
        from oarn_tui.wallet.unlock import open_wallet
        from oarn_tui.wallet.vault import KdfParams
        vault = Path({str(tmp_path / "wallet.vault")!r})
        operations.create(vault, "correct horse battery", kdf=KdfParams.minimum())
        before = hardening_state()
        open_wallet(vault, "correct horse battery", "prompt").close()
        print(json.dumps([before, hardening_state()]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=REPO, preexec_fn=allow_core_dumps,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout)
    assert after == {"core_limit": 0, "dumpable": False}
    assert before["dumpable"] is True or before["core_limit"] != 0  # it was not so already


def test_commit_reveal_salt_is_committed_with_synchronous_full(tmp_path: Path) -> None:
    """synchronous=NORMAL in WAL mode may lose the last commits on power loss; the salt
    (without which the commitment can never be revealed) is committed with FULL."""
    db = open_db(tmp_path / "node.db")
    ledger = TaskLedger(db)
    ledger.transition("0xtask", "running")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    ledger.transition("0xtask", "storing", note="commitment prepared",
                      details={"salt": "ab" * 32})
    db.set_trace_callback(None)
    full = statements.index("PRAGMA synchronous=FULL")
    write = next(i for i, s in enumerate(statements) if s.startswith("UPDATE tasks"))
    commit = next(i for i, s in enumerate(statements) if i > write and s == "COMMIT")
    assert full < write < commit
    assert not any(s.startswith("PRAGMA synchronous=") for s in statements[full + 1:commit])
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again afterwards
    reopened = TaskLedger(open_db(tmp_path / "node.db"))
    assert reopened.get("0xtask").details["salt"] == "ab" * 32


PROBER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from oarn_tui.runtime.pidfile import is_locked
    home, stop, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    deadline, probes = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and not stop.exists():
        is_locked(home)
        probes += 1
    print(probes)
""")


def test_status_probes_in_a_loop_never_make_start_fail(home: Path, tmp_path: Path) -> None:
    init_home(home)
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    (home / "run" / "node.lock").touch(mode=0o600)
    stop = tmp_path / "stop-probing"
    probers = [subprocess.Popen([sys.executable, "-c", PROBER, str(home), str(stop), "240"],
                                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        time.sleep(1.0)  # the probers are looping
        for attempt in range(3):
            started = run_oarn(home, "start", "--json", timeout=120)
            assert started.returncode == 0, f"start {attempt}: {started.stderr}"
            stopped = run_oarn(home, "stop", "--json", timeout=60)
            assert stopped.returncode == 0, stopped.stderr
    finally:
        stop.touch()
        counts = [int(p.communicate(timeout=60)[0] or 0) for p in probers]
    assert all(count > 100 for count in counts), counts  # they really probed throughout


def test_home_lock_is_never_refused_because_of_probes(home: Path, tmp_path: Path) -> None:
    """The race itself: a node taking the lock while probes run must not see "already
    running"; a second node taking it while the first holds it must."""
    from oarn_tui.runtime.pidfile import HomeLock, HomeLocked, is_locked

    init_home(home)
    first = HomeLock(home)
    first.acquire()
    first.release()  # the lock file exists
    stop = tmp_path / "stop-probing"
    probers = [subprocess.Popen([sys.executable, "-c", PROBER, str(home), str(stop), "120"],
                                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    refused = 0
    try:
        time.sleep(1.0)
        for _ in range(200):
            lock = HomeLock(home)
            try:
                lock.acquire()
            except HomeLocked:
                refused += 1
                continue
            assert is_locked(home)
            with pytest.raises(HomeLocked, match="already running"):
                HomeLock(home).acquire()
            lock.release()
    finally:
        stop.touch()
        counts = [int(p.communicate(timeout=60)[0] or 0) for p in probers]
    assert refused == 0
    assert all(count > 100 for count in counts), counts


def test_init_never_chmods_a_directory_it_did_not_create(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "someone-elses-file").write_text("x")
    refused = run_oarn(shared, "init")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "not empty and is not an oarn home" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert not (shared / "config.toml").exists()

    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    os.chown(foreign, ATTACKER_UID, ATTACKER_UID)
    refused = run_oarn(foreign, "init")
    assert refused.returncode == 1 and f"belongs to uid {ATTACKER_UID}" in refused.stderr
    assert stat.S_IMODE(foreign.stat().st_mode) == 0o755

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    assert run_oarn(mine, "init").returncode == 0
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755  # existing: left as it was

    fresh = tmp_path / "fresh" / "home"
    assert run_oarn(fresh, "init").returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700  # created by init: private


@pytest.mark.parametrize("prepared", ["devnet"])
def test_init_accepts_a_home_oarn_already_used(tmp_path: Path, prepared: str) -> None:
    """`oarn devnet up` may run on a home before `init`; that home is not foreign."""
    home = tmp_path / "home"
    (home / prepared).mkdir(parents=True)
    result = run_oarn(home, "init")
    assert result.returncode == 0, result.stderr
