"""`oarn --daemon` (foreground, as a service manager runs it) and `oarn start` (background).

The daemon takes the home lock, builds the runtime, serves the control socket, and runs until
SIGTERM/SIGINT (or the `stop` command); SIGHUP reloads the config. `start` unlocks the wallet
before it forks and hands the passphrase to the child over a pipe, never through argv or env.

The front ends call in with their invocation (`cli_support.AppContext` satisfies `Invocation`)
and turn a `DaemonError` into their one-line error; this module never imports the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from oarn_tui.runtime.control import ControlClient, ControlError
from oarn_tui.runtime.errors import DaemonError
from oarn_tui.runtime.pidfile import HomeLock, HomeLocked, is_locked, read_pid

__all__ = ["DaemonError", "Invocation", "obtain_passphrase", "run_daemon", "start_background",
           "stop_node"]

log = logging.getLogger("oarn.daemon")

START_TIMEOUT_S = 60.0

if TYPE_CHECKING:
    from oarn_tui.config import NodeConfig
    from oarn_tui.proclife import ChildRecord


class Invocation(Protocol):
    """What starting or running a node needs of the front end's invocation."""

    @property
    def home(self) -> Path: ...

    @property
    def profile(self) -> str | None: ...

    @property
    def verbose(self) -> int: ...

    def config(self) -> NodeConfig:
        """The effective config of the home."""
        ...

    def require_initialised(self) -> NodeConfig:
        """The config, or the front end's error when the home has none yet."""
        ...


def read_password_fd(fd: int) -> tuple[bytearray, str]:
    """Read what `start` wrote to our inherited pipe (`<source>\n<passphrase>`), then close it."""
    chunks = bytearray()
    with os.fdopen(fd, "rb", closefd=True) as pipe:
        while chunk := pipe.read(4096):
            chunks.extend(chunk)
    newline = chunks.find(b"\n")
    source = chunks[:newline].decode("ascii", "replace") if newline >= 0 else "start"
    passphrase = chunks[newline + 1:]
    chunks[:] = b"\0" * len(chunks)
    return passphrase, source


def obtain_passphrase(app: Invocation, password_file: Path | None, *,
                      interactive: bool) -> tuple[bytearray | None, str]:
    """Unlock material for the wallet and how it was found ("none" when there is no vault)."""
    config = app.config()
    vault = config.path(config.node.wallet_path)
    if not vault.exists():
        return None, "none"
    from oarn_tui.wallet.unlock import UnlockError, resolve_passphrase

    try:
        secret, source = resolve_passphrase(vault, password_file=password_file,
                                            interactive=interactive)
    except UnlockError as exc:
        raise DaemonError(str(exc)) from None
    return secret, source


def run_daemon(app: Invocation, *, password_file: Path | None = None,
               password_fd: int | None = None) -> int:
    """Run the node in the foreground until a stop signal; returns the exit code."""
    from oarn_tui.hardening import harden_process

    harden_process()  # before any key material: no core dumps, no same-user ptrace
    config = app.require_initialised()
    lock = HomeLock(app.home)
    try:
        lock.acquire()
    except HomeLocked as exc:
        raise DaemonError(str(exc)) from None
    try:
        passphrase: bytearray | None
        if password_fd is not None:
            passphrase, source = read_password_fd(password_fd)
        else:
            passphrase, source = obtain_passphrase(app, password_file,
                                                   interactive=sys.stdin.isatty())
        _check_control_dir(app.home, passphrase)
        if app.verbose:
            from oarn_tui.textsafe import SafeTextFormatter

            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(SafeTextFormatter())  # messages embed peers' words
            handler.setLevel(logging.DEBUG if app.verbose > 1 else logging.INFO)
            for name in ("oarn", "oarn_tui"):
                logging.getLogger(name).addHandler(handler)
        return asyncio.run(_serve(config, passphrase, source))
    finally:
        lock.release()


def _check_control_dir(home: Path, passphrase: bytearray | None) -> None:
    """Refuse to start (one line) when the control socket's directory could be controlled by
    another user: they could swap the socket and receive `wallet.unlock` passphrases."""
    from oarn_tui.runtime.control import UnsafeControlSocket, prepare_socket_dir

    try:
        prepare_socket_dir(home)
    except UnsafeControlSocket as exc:
        if passphrase is not None:
            passphrase[:] = b"\0" * len(passphrase)
        raise DaemonError(str(exc)) from None


async def _serve(config: Any, passphrase: bytearray | None, unlock_source: str) -> int:
    from oarn_tui.config import ConfigError, load_config
    from oarn_tui.runtime.assemble import build_runtime
    from oarn_tui.runtime.control import ControlServer

    runtime = build_runtime(config, passphrase=passphrase, unlock_source=unlock_source)
    if passphrase is not None:
        passphrase[:] = b"\0" * len(passphrase)
    _reap_leftovers(config.home)
    control = ControlServer(runtime)
    loop = asyncio.get_running_loop()

    def reload_config() -> None:
        try:
            runtime.apply_config(load_config(config.home, config.node.profile))
        except ConfigError as exc:
            log.error("config reload refused", extra={"reason": str(exc)})

    loop.add_signal_handler(signal.SIGTERM, runtime.request_stop)
    loop.add_signal_handler(signal.SIGINT, runtime.request_stop)
    loop.add_signal_handler(signal.SIGHUP, reload_config)
    try:
        await runtime.start()
        await control.start()
        log.info("control socket ready", extra={"socket": str(control.path)})
        await runtime.stopped.wait()
        runtime.stopped.clear()
    finally:
        await control.stop()
        await runtime.stop()
        runtime.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0


def _reap_leftovers(home: Path) -> None:
    """With the home lock held: stop what a crashed predecessor's children left running (by
    their recorded PIDs and start times), then record this daemon's children there."""
    from oarn_tui.proclife import ChildRecord, reap, set_default_record

    record = ChildRecord.for_home(home)
    reaped = reap(record)
    if reaped:
        log.warning("reaped %d leftover process(es) of a previous run", len(reaped))
    set_default_record(record)


def start_background(app: Invocation, *, password_file: Path | None = None,
                     timeout: float = START_TIMEOUT_S, die_with_parent: bool = False,
                     record: ChildRecord | None = None) -> dict[str, Any]:
    """Fork the daemon (`python -m oarn_tui --daemon`), wait until its socket answers.

    `die_with_parent`: the daemon is SIGKILLed when the calling process ends, however it ends
    (the demo's workers); `record` (a `proclife.ChildRecord`) notes it for a later reaper.
    """
    config = app.require_initialised()
    if is_locked(app.home):
        pid = read_pid(app.home)
        raise DaemonError(f"a node is already running on {app.home}"
                        f"{f' (process {pid})' if pid else ''}; stop it with "
                        f"`oarn --home {app.home} stop`")
    passphrase, source = obtain_passphrase(app, password_file, interactive=sys.stdin.isatty())
    log_dir = config.path(config.node.log_path).parent
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stderr_path = log_dir / "daemon.err"
    command = [sys.executable, "-m", "oarn_tui", "--home", str(app.home), "--daemon"]
    if app.profile:
        command[3:3] = ["--profile", app.profile]
    pass_fds: tuple[int, ...] = ()
    read_fd = write_fd = None
    if passphrase is not None:
        read_fd, write_fd = os.pipe()
        command += ["--password-fd", str(read_fd)]
        pass_fds = (read_fd,)
    from oarn_tui.proclife import spawn

    with open(stderr_path, "wb") as stderr:
        process = spawn(command, die_with_parent=die_with_parent, new_session=True,
                        record=record, label=f"oarn daemon {app.home.name}",
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                        pass_fds=pass_fds, close_fds=True)
    if read_fd is not None and write_fd is not None and passphrase is not None:
        os.close(read_fd)
        try:
            os.write(write_fd, source.encode("ascii", "replace") + b"\n" + bytes(passphrase))
        finally:
            os.close(write_fd)
            passphrase[:] = b"\0" * len(passphrase)
    client = ControlClient(app.home, timeout=5.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = _last_line(stderr_path) or f"exit code {process.returncode}"
            raise DaemonError(f"the node failed to start: {detail}")
        with contextlib.suppress(ControlError):
            status = client.status(task_limit=0, peer_limit=0)
            return {"started": True, "pid": process.pid, "home": str(app.home),
                    "status": status}
        time.sleep(0.1)
    process.terminate()
    raise DaemonError(f"the node did not answer within {timeout:.0f} s; see {stderr_path}")


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].removeprefix("error: ") if lines else ""
    return ""


def stop_node(home: Path, *, timeout: float = 10.0) -> dict[str, Any]:
    """Ask the daemon to stop over the socket; SIGTERM it by PID if it does not answer."""
    pid = read_pid(home)
    if not is_locked(home):
        return {"stopped": False, "running": False, "pid": None}
    client = ControlClient(home, timeout=5.0)
    try:
        client.command("stop")
    except ControlError:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_locked(home):
        time.sleep(0.05)
    if is_locked(home):
        raise DaemonError(f"the node (process {pid}) did not stop within {timeout:.0f} s")
    return {"stopped": True, "running": False, "pid": pid}
