"""Another local user against the control socket: they must gain nothing.

The attacker is uid 65534 (`nobody`): directories are chowned to it (the tests run as root) and
its connections come from a child process started with `user=65534`. What the attacker could
gain is asserted to be nothing: no passphrase bytes on its socket, no command executed, no
status served, no directory of theirs "fixed" and used.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from oarn_tui.config import load_config
from oarn_tui.runtime.control import (
    AsyncControlClient,
    ControlClient,
    ControlError,
    ControlServer,
    UnsafeControlSocket,
    socket_path,
)
from oarn_tui.runtime.node import NodeRuntime
from tests.conftest import REPO, oarn_env, run_oarn

ATTACKER_UID = 65534
SECRET = "correct horse battery staple 7431"
SYSTEM_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3")
                      if os.access(p, os.X_OK)), sys.executable)  # one the attacker may run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")


@pytest.fixture
def short_root() -> Iterator[Path]:
    """A short directory under /tmp (AF_UNIX paths are short), traversable by the attacker,
    used as TMPDIR so no test touches the machine's real /tmp/oarn-<uid>."""
    root = Path(tempfile.mkdtemp(prefix="oarn-sec-", dir="/tmp"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def long_home(root: Path) -> Path:
    """A home whose `run/control.sock` is too long for AF_UNIX, so the socket moves out."""
    home = root / ("h" * 60) / ("o" * 60)
    assert len(str(home / "run" / "control.sock")) > 108
    return home


def isolated_env(home: Path, tmpdir: Path) -> dict[str, str]:
    env = oarn_env(home, TMPDIR=str(tmpdir))
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def hostile_dir(kind: str, target: Path, decoy: Path) -> None:
    """Pre-create the socket directory the way an attacker would."""
    if kind == "foreign-owner":
        target.mkdir(mode=0o700)
        os.chown(target, ATTACKER_UID, ATTACKER_UID)
    elif kind == "world-writable":
        target.mkdir()
        target.chmod(0o777)
    elif kind == "symlink":
        decoy.mkdir(mode=0o700)
        os.chown(decoy, ATTACKER_UID, ATTACKER_UID)
        target.symlink_to(decoy)
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["foreign-owner", "world-writable", "symlink"])
def test_daemon_refuses_a_socket_dir_another_user_controls(short_root: Path, kind: str) -> None:
    home = long_home(short_root)
    tmpdir = short_root / "t"
    tmpdir.mkdir()
    env = isolated_env(home, tmpdir)
    assert run_oarn(home, "init", "--profile", "local", env=env).returncode == 0
    target = tmpdir / f"oarn-{os.geteuid()}"
    hostile_dir(kind, target, short_root / "decoy")
    before = os.lstat(target)
    process = subprocess.Popen([sys.executable, "-m", "oarn_tui", "--home", str(home),
                                "--daemon"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=10)
        pytest.fail(f"the daemon served its control socket from a {kind} directory")
    assert process.returncode != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "refusing to serve the control socket" in lines[0] and str(target) in lines[0]
    after = os.lstat(target)  # the attacker's directory was neither fixed nor taken over
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
    assert not list((short_root / "decoy").glob("*")) if kind == "symlink" else True
    assert not (home / "run" / "node.pid").exists()


class AttackerListener:
    """A socket the attacker bound where the node's socket would be; records what arrives."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chown(path, ATTACKER_UID, ATTACKER_UID)
        path.chmod(0o666)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.received = bytearray()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(1.0)
            try:
                while chunk := conn.recv(65536):
                    self.received.extend(chunk)
            except TimeoutError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize("kind", ["foreign-owner", "world-writable"])
def test_client_sends_no_passphrase_to_an_attacker_socket(short_root: Path, kind: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    home = long_home(short_root)
    home.mkdir(parents=True, mode=0o700)
    tmpdir = short_root / "t"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    path = socket_path(home)
    assert path.parent == tmpdir / f"oarn-{os.geteuid()}"
    hostile_dir(kind, path.parent, short_root / "decoy")
    if kind == "foreign-owner":
        path.parent.chmod(0o777)  # the attacker's own directory, open so it can bind
    attacker = AttackerListener(path)
    errors: list[Exception] = []
    try:
        try:
            ControlClient(home, timeout=2).command("wallet.unlock", passphrase=SECRET)
        except ControlError as exc:
            errors.append(exc)

        async def attached() -> None:
            client = AsyncControlClient(home, timeout=2)
            try:
                await client.command("wallet.unlock", passphrase=SECRET)
            except (ControlError, OSError, aiohttp.ClientError) as exc:
                errors.append(exc)
            finally:
                await client.close()

        asyncio.run(attached())
        env = isolated_env(home, tmpdir)
        status = run_oarn(home, "status", env=env)
        time.sleep(0.5)
    finally:
        attacker.close()
    # the attacker's gain: nothing reached their socket
    assert SECRET.encode() not in attacker.received
    assert attacker.connections == 0 and bytes(attacker.received) == b""
    assert len(errors) == 2 and all(isinstance(e, UnsafeControlSocket) for e in errors)
    assert all("refusing to talk" in str(e) for e in errors)
    assert status.returncode != 0 and "refusing to talk" in status.stderr


ATTACKER_SCRIPT = r"""
import json, os, socket, sys
path, request = sys.argv[1], sys.argv[2].encode()
out = {"uid": os.geteuid()}
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(10)
try:
    sock.connect(path)
except OSError as exc:
    out["connect_error"] = exc.errno
else:
    sock.sendall(request)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    out["response"] = data.decode("latin-1")
print(json.dumps(out))
"""


async def attack(path: Path, request: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, "-I", "-c", ATTACKER_SCRIPT, str(path), request,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        user=ATTACKER_UID, group=ATTACKER_UID, extra_groups=[], cwd="/")
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


def http(method: str, url: str, body: str = "") -> str:
    return (f"{method} {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")


async def test_another_uid_is_refused_on_every_connection(short_root: Path) -> None:
    home = short_root / "home"
    home.mkdir(mode=0o711)
    runtime = NodeRuntime(load_config(home, env={}))
    await runtime.start()
    server = ControlServer(runtime)
    await server.start()
    try:
        assert server.path == home / "run" / "control.sock"
        # as installed: the attacker cannot even reach the socket
        blocked = await attack(server.path, http("POST", "/v1/commands/pause", "{}"))
        assert blocked["uid"] == ATTACKER_UID and blocked.get("connect_error") == 13  # EACCES
        # even with the file permissions loosened, the peer-credential check refuses them
        server.path.parent.chmod(0o711)
        server.path.chmod(0o666)
        paused = await attack(server.path, http("POST", "/v1/commands/pause", "{}"))
        assert str(paused["response"]).startswith("HTTP/1.1 403"), paused
        status = await attack(server.path, http("GET", "/v1/status"))
        assert str(status["response"]).startswith("HTTP/1.1 403")
        assert "peer_id" not in str(status["response"]) and str(home) not in str(status)
        assert runtime.status()["accepting"] is True  # the attacker's pause did not run
        assert server.refused_connections == 2
        logged = [json.loads(line) for line in
                  (home / "logs" / "node.log").read_text().splitlines()]
        refusals = [e for e in logged if e.get("msg", "").startswith("control connection "
                                                                     "refused")]
        assert len(refusals) == 2 and all(f"uid {ATTACKER_UID}" in e["peer"] for e in refusals)
        with pytest.raises(UnsafeControlSocket, match="mode 0711"):
            ControlClient(home).status()  # and our own client will not use a loosened dir
        server.path.parent.chmod(0o700)
        # the node's own user is still served
        client = AsyncControlClient(home)
        try:
            assert (await client.status())["home"] == str(home)
        finally:
            await client.close()
    finally:
        await server.stop()
        await runtime.stop()
        runtime.close()


async def test_bad_event_history_is_a_400_before_the_stream_starts(tmp_path: Path) -> None:
    runtime = NodeRuntime(load_config(tmp_path, env={}))
    await runtime.start()
    server = ControlServer(runtime)
    await server.start()
    client = AsyncControlClient(tmp_path)
    try:
        session = await client._get_session()
        for bad in ("abc", "-1", "1e9", "²", "99999999999"):
            async with session.get("http://localhost/v1/events",
                                   params={"history": bad}) as response:
                assert response.status == 400, bad
                doc = await response.json()
                assert doc["ok"] is False and "history must be a whole number" in doc["error"]
        assert (await client.status())["home"] == str(tmp_path)  # the node keeps serving
    finally:
        await client.close()
        await server.stop()
        await runtime.stop()
        runtime.close()


def test_unsafe_socket_error_is_a_control_error() -> None:
    """Every caller that handles `ControlError` (status, stop, the dashboard) handles it."""
    assert issubclass(UnsafeControlSocket, ControlError)


@pytest.mark.parametrize("runtime_dir", ["xdg", "tmp"])
def test_long_home_serves_from_a_private_dir_and_clients_find_it(short_root: Path,
                                                                 runtime_dir: str) -> None:
    """The safe path works: `$XDG_RUNTIME_DIR/oarn/` when that is ours and 0700, else a 0700
    `<tmp>/oarn-<uid>/` the node creates; a client without that environment finds the socket
    through `run/control.path`."""
    home = long_home(short_root)
    tmpdir = short_root / "t"
    tmpdir.mkdir()
    env = isolated_env(home, tmpdir)
    if runtime_dir == "xdg":
        xdg = short_root / "xdg"
        xdg.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(xdg)
        expected_dir = xdg / "oarn"
    else:
        expected_dir = tmpdir / f"oarn-{os.geteuid()}"
    assert run_oarn(home, "init", "--profile", "local", env=env).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "oarn_tui", "--home", str(home),
                                "--daemon"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (home / "run" / "control.path").exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        recorded = Path((home / "run" / "control.path").read_text().strip())
        assert recorded.parent == expected_dir
        info = os.lstat(expected_dir)
        assert info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700
        other_env = oarn_env(home)  # another shell: no XDG_RUNTIME_DIR, the default TMPDIR
        other_env.pop("XDG_RUNTIME_DIR", None)
        other_env.pop("TMPDIR", None)
        status = run_oarn(home, "status", "--json", env=other_env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["control"]["socket"] == str(recorded)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not (home / "run" / "control.path").exists() and not recorded.exists()


def test_embedded_node_refuses_a_hostile_socket_dir_too(short_root: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's embedded node takes the home lock first; it is refused there, with the
    same one-line `HomeLocked` message every front end already prints."""
    from oarn_tui.runtime.pidfile import HomeLock, HomeLocked, is_locked

    home = long_home(short_root)
    home.mkdir(parents=True, mode=0o700)
    tmpdir = short_root / "t"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    hostile_dir("foreign-owner", socket_path(home).parent, short_root / "decoy")
    with pytest.raises(HomeLocked, match="refusing to serve the control socket") as refused:
        HomeLock(home).acquire()
    assert "\n" not in str(refused.value) and f"uid {ATTACKER_UID}" in str(refused.value)
    assert not is_locked(home)
