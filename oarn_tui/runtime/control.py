"""Local-only control API: a Unix socket (0600) in a private runtime directory.

`GET /v1/status`, `GET /v1/events` (NDJSON stream) and `POST /v1/commands/{name}` (JSON args).
The CLI uses the blocking `ControlClient`; the dashboard attaches with `AsyncControlClient`.

Only the node's user can talk to it, and a client only talks to its own node:
- the socket lives in `<home>/run/` or, when that path is too long for AF_UNIX, in
  `$XDG_RUNTIME_DIR/oarn/` (when that directory is ours and 0700) or `<tmp>/oarn-<uid>/`. Each of
  these directories is verified (`fsutil.verified_private_dir`): a link, another user's
  directory or one open to others is refused, so the server will not start there and a client
  will not send anything (such as a `wallet.unlock` passphrase) there;
- the server checks every connection's peer credentials (SO_PEERCRED) and answers 403 to any
  uid but its own (and root's), logging the refusal;
- the blocking client also checks the server's credentials before it sends a request.
The server records the path it chose in `<home>/run/control.path`, so a client started with a
different environment (no `$XDG_RUNTIME_DIR`, another `TMPDIR`) still finds it.

Server and both clients stay in one module (~450 lines) because they are the two ends of one
protocol: the socket-path discovery, the private-directory and peer-credential checks and the
request format must change together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import logging
import os
import socket
import stat
import struct
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from oarn_tui.fsutil import UnsafeDirectory, atomic_write_text, verified_private_dir

MAX_UNIX_PATH = 100
SHUTDOWN_GRACE_S = 1.0
POINTER_FILE = "control.path"
MAX_EVENT_HISTORY = 10_000

log = logging.getLogger("oarn.control")


def run_dir(home: Path) -> Path:
    return home / "run"


def _xdg_runtime_dir() -> Path | None:
    """`$XDG_RUNTIME_DIR` when it is set, a real directory, ours and 0700; else None."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    if not value or not os.path.isabs(value):
        return None
    try:
        return verified_private_dir(Path(value), create=False)
    except UnsafeDirectory:
        return None


def socket_path(home: Path) -> Path:
    """Where a node on `home` serves its socket: `<home>/run/control.sock`, or a short per-home
    path under `$XDG_RUNTIME_DIR/oarn/` or `<tmp>/oarn-<uid>/` when that is too long for
    AF_UNIX (108 bytes). Pure: creates and verifies nothing (see `prepare_socket_dir`)."""
    preferred = run_dir(home) / "control.sock"
    if len(str(preferred)) < MAX_UNIX_PATH:
        return preferred
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    xdg = _xdg_runtime_dir()
    if xdg is not None and len(str(xdg / "oarn" / f"{digest}.sock")) < MAX_UNIX_PATH:
        return xdg / "oarn" / f"{digest}.sock"
    return Path(tempfile.gettempdir()) / f"oarn-{os.geteuid()}" / f"{digest}.sock"


def trusted_uids(home: Path) -> frozenset[int]:
    """Owners a control directory may have: this user; for root also the home's owner (an
    administrator asking a service account's node for its status)."""
    uids = {os.geteuid()}
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            uids.add(os.lstat(home).st_uid)
    return frozenset(uids)


def prepare_socket_dir(home: Path) -> Path:
    """Create or verify the socket's directory (and `<home>/run/`); returns the socket path.

    Raises `UnsafeControlSocket` with one line that names the directory and the fix when a
    directory is a link, belongs to another user or is open to others. Never chmods one.
    """
    path = socket_path(home)
    try:
        verified_private_dir(run_dir(home))
        verified_private_dir(path.parent)
    except UnsafeDirectory as exc:
        raise UnsafeControlSocket(f"refusing to serve the control socket: {exc}") from None
    return path


def locate_socket(home: Path) -> Path:
    """The socket a client should use: the one the running node recorded, else `socket_path`."""
    pointer = run_dir(home) / POINTER_FILE
    with contextlib.suppress(OSError, ValueError):
        recorded = Path(pointer.read_text().strip())
        if recorded.is_absolute() and recorded.name.endswith(".sock"):
            return recorded
    return socket_path(home)


def verify_socket(home: Path, path: Path) -> None:
    """Before a client sends anything: `path`'s directory must be private and trusted and the
    socket itself owned by a trusted uid; raises `UnsafeControlSocket` otherwise (and
    `NodeNotRunning` when there is no socket)."""
    uids = trusted_uids(home)
    try:
        verified_private_dir(path.parent, create=False, trusted_uids=uids)
    except UnsafeDirectory as exc:
        if not path.parent.exists() and not path.parent.is_symlink():
            raise NodeNotRunning(f"no node is running on {home}") from None
        raise UnsafeControlSocket(f"refusing to talk to the node on {home}: {exc}") from None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise NodeNotRunning(f"no node is running on {home}") from None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid not in uids:
        raise UnsafeControlSocket(f"refusing to talk to the node on {home}: {path} is not a "
                                  f"socket of this user (owner uid {info.st_uid})")


def peer_credentials(sock: Any) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end of a Unix socket (Linux SO_PEERCRED);
    None where the OS does not say."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def allowed_peer(uid: int) -> bool:
    """The node's own user, or root (who can read the node's memory anyway)."""
    return uid in (os.geteuid(), 0)


class ControlError(Exception):
    """The node answered with an error, or could not be reached."""


class NodeNotRunning(ControlError):
    pass


class UnsafeControlSocket(ControlError):
    """The socket or its directory could be controlled by another user: nothing is sent."""


# -- server -----------------------------------------------------------------------------------


class ControlServer:
    """Serves the runtime's status, events and commands on the home's Unix socket."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.path = socket_path(runtime.home)
        self._runner: Any = None
        self.refused_connections = 0

    async def start(self) -> None:
        """Verify the directory, bind the socket (0600), record its path. Raises
        `UnsafeControlSocket` (one line) rather than serve from a directory others control."""
        from aiohttp import web

        self.path = prepare_socket_dir(self.runtime.home)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        app = web.Application(client_max_size=1024 * 1024, middlewares=[self._peer_check])
        app.router.add_get("/v1/status", self._status)
        app.router.add_get("/v1/events", self._events)
        app.router.add_post("/v1/commands/{name}", self._command)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        old_umask = os.umask(0o177)
        try:
            # An attached dashboard's event stream never ends by itself: at stop, give open
            # requests a moment, then cancel them (aiohttp's default waits 60 s).
            await web.UnixSite(self._runner, str(self.path),
                               shutdown_timeout=SHUTDOWN_GRACE_S).start()
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        pointer = run_dir(self.runtime.home) / POINTER_FILE
        if self.path.parent != run_dir(self.runtime.home):
            atomic_write_text(pointer, f"{self.path}\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                pointer.unlink()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (run_dir(self.runtime.home) / POINTER_FILE).unlink()

    def _peer_refusal(self, request: Any) -> str | None:
        """Why this request's connection is refused (another uid), or None to serve it."""
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        creds = peer_credentials(sock) if sock is not None else None
        if creds is None or allowed_peer(creds[1]):
            return None
        return f"uid {creds[1]} (pid {creds[0]})"

    @property
    def _peer_check(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def check(request: Any, handler: Any) -> Any:
            refusal = self._peer_refusal(request)
            if refusal is not None:
                self.refused_connections += 1
                log.warning("control connection refused: peer is not the node's user",
                            extra={"peer": refusal})
                return web.json_response({"ok": False, "error": "forbidden: this node only "
                                          "answers its own user"}, status=403)
            return await handler(request)

        return check

    async def _status(self, request: Any) -> Any:
        from aiohttp import web

        limits = {k: int(v) for k, v in request.query.items()
                  if k in ("task_limit", "peer_limit") and v.isascii() and v.isdigit()}
        from oarn_tui.hardening import hardening_state

        doc = self.runtime.status(**limits)
        doc["control"] = {"socket": str(self.path)}
        doc["security"] = hardening_state()
        return web.json_response(doc, dumps=_dumps)

    async def _command(self, request: Any) -> Any:
        from aiohttp import web

        from oarn_tui.core.service import CommandError

        name = request.match_info["name"]
        try:
            args = await request.json() if request.can_read_body else {}
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return web.json_response({"ok": False, "error": f"bad request: {exc}"}, status=400)
        try:
            result = await self.runtime.commands.call(name, **args)
        except CommandError as exc:  # the caller's mistake or a refusal: one line, 400
            return web.json_response({"ok": False, "error": one_line(str(exc))}, status=400)
        except Exception as exc:  # a bug in the handler: log it, never crash the node
            log.error("command failed with an internal error",
                      extra={"command": name[:80], "reason": f"{type(exc).__name__}: {exc}"},
                      exc_info=exc)
            return web.json_response({"ok": False, "internal": True,
                                      "error": internal_error(name, exc)}, status=500)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _events(self, request: Any) -> Any:
        from aiohttp import web

        raw_history = request.query.get("history", "0") or "0"
        valid = raw_history.isascii() and raw_history.isdigit()
        if not valid or int(raw_history) > MAX_EVENT_HISTORY:
            return web.json_response({"ok": False, "error": f"bad request: history must be a "
                                      f"whole number from 0 to {MAX_EVENT_HISTORY}, got "
                                      f"{raw_history[:40]!r}"}, status=400)
        history = int(raw_history)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        async with self.runtime.events.subscription() as queue:
            for event in self.runtime.events.recent(history):
                await response.write(_dumps(event.to_dict()).encode() + b"\n")
            while not self.runtime.stopped.is_set():
                try:
                    event = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    continue
                try:
                    await response.write(_dumps(event.to_dict()).encode() + b"\n")
                except (ConnectionResetError, RuntimeError):
                    break
        return response


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


MAX_ERROR_CHARS = 500


def one_line(text: str) -> str:
    """The first line of an error message, capped (a reply never carries a traceback)."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= MAX_ERROR_CHARS else first[:MAX_ERROR_CHARS - 1] + "…"


def internal_error(name: str, exc: BaseException) -> str:
    """What a client is told about a handler's bug: the command, the exception's type and its
    message's first line, redacted (the traceback stays in the node's log)."""
    from oarn_tui.runtime.logs import redact

    detail = one_line(redact(str(exc)))
    return one_line(f"internal error in {name[:80]}: {type(exc).__name__}"
                    + (f": {detail}" if detail else "") + " (a bug; see the node's log)")


# -- blocking client (CLI) --------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
            creds = peer_credentials(sock)
            if creds is not None and not allowed_peer(creds[1]):
                raise UnsafeControlSocket(f"refusing to talk to {self._path}: it is served by "
                                          f"uid {creds[1]} (pid {creds[0]}), not by this user")
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class ControlClient:
    """Blocking client for CLI commands (`status`, `stop`, `logs`, ...). It verifies the
    socket's directory, owner and server credentials before a byte of a request is sent."""

    def __init__(self, home: Path, timeout: float = 10.0) -> None:
        self.home = home
        self.path = locate_socket(home)
        self.timeout = timeout

    def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        self.path = locate_socket(self.home)
        verify_socket(self.home, self.path)
        connection = _UnixHTTPConnection(self.path, self.timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, url, body=payload,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = json.loads(response.read() or b"null")
        except (ConnectionRefusedError, FileNotFoundError):
            raise NodeNotRunning(f"no node is running on {self.home} (stale socket)") from None
        except (OSError, ValueError) as exc:
            raise ControlError(f"node on {self.home} did not answer: {exc}") from None
        finally:
            connection.close()
        if isinstance(data, dict) and data.get("ok") is False:
            raise ControlError(str(data.get("error")))
        return data

    def status(self, **limits: int) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in limits.items())
        doc: dict[str, Any] = self._request("GET", "/v1/status" + (f"?{query}" if query else ""))
        return doc

    def command(self, name: str, **args: Any) -> Any:
        return self._request("POST", f"/v1/commands/{name}", args)["result"]

    def is_running(self) -> bool:
        try:
            self.status(task_limit=0, peer_limit=0)
        except ControlError:
            return False
        return True


# -- async client (dashboard attach) ----------------------------------------------------------


class AsyncControlClient:
    """Async client over the same socket, for the dashboard attached to a daemon."""

    def __init__(self, home: Path, timeout: float = 10.0) -> None:
        self.home = home
        self.path = locate_socket(home)
        self.timeout = timeout
        self._session: Any = None

    async def _get_session(self) -> Any:
        """The HTTP session over the socket, after `verify_socket` (checked again before each
        command, since a command may carry a passphrase)."""
        import aiohttp

        if self._session is None:
            self.path = locate_socket(self.home)
            verify_socket(self.home, self.path)
            connector = aiohttp.UnixConnector(path=str(self.path))
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None,
                                                                   sock_read=None,
                                                                   connect=self.timeout))
        return self._session

    async def status(self, **limits: int) -> dict[str, Any]:
        session = await self._get_session()
        try:
            async with session.get("http://localhost/v1/status", params=limits) as response:
                doc: dict[str, Any] = await response.json()
                return doc
        except OSError as exc:
            raise NodeNotRunning(f"node on {self.home} is gone: {exc}") from None

    async def command(self, name: str, **args: Any) -> Any:
        session = await self._get_session()
        verify_socket(self.home, self.path)
        async with session.post(f"http://localhost/v1/commands/{name}", json=args) as response:
            data = await response.json()
        if not data.get("ok"):
            raise ControlError(str(data.get("error")))
        return data["result"]

    async def events(self, history: int = 0) -> AsyncIterator[dict[str, Any]]:
        session = await self._get_session()
        async with session.get("http://localhost/v1/events",
                               params={"history": history}) as response:
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
