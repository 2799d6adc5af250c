"""Local-only control API: a Unix socket (0600) in the home's `run/` directory.

`GET /v1/status`, `GET /v1/events` (NDJSON stream) and `POST /v1/commands/{name}` (JSON args).
The CLI uses the blocking `ControlClient`; the dashboard attaches with `AsyncControlClient`.
Only the owner can connect: the socket's directory is 0700 and the socket itself 0600.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from oarn_tui.fsutil import private_dir

MAX_UNIX_PATH = 100


def run_dir(home: Path) -> Path:
    return home / "run"


def socket_path(home: Path) -> Path:
    """`<home>/run/control.sock`, or a short per-home path under /tmp when that is too long
    for AF_UNIX (108 bytes)."""
    preferred = run_dir(home) / "control.sock"
    if len(str(preferred)) < MAX_UNIX_PATH:
        return preferred
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"oarn-{os.getuid()}" / f"{digest}.sock"


class ControlError(Exception):
    """The node answered with an error, or could not be reached."""


class NodeNotRunning(ControlError):
    pass


# -- server -----------------------------------------------------------------------------------


class ControlServer:
    """Serves the runtime's status, events and commands on the home's Unix socket."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.path = socket_path(runtime.home)
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        private_dir(self.path.parent)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/v1/status", self._status)
        app.router.add_get("/v1/events", self._events)
        app.router.add_post("/v1/commands/{name}", self._command)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        old_umask = os.umask(0o177)
        try:
            await web.UnixSite(self._runner, str(self.path)).start()
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _status(self, request: Any) -> Any:
        from aiohttp import web

        limits = {k: int(v) for k, v in request.query.items()
                  if k in ("task_limit", "peer_limit") and v.isdigit()}
        doc = self.runtime.status(**limits)
        doc["control"] = {"socket": str(self.path)}
        return web.json_response(doc, dumps=_dumps)

    async def _command(self, request: Any) -> Any:
        from aiohttp import web

        from oarn_tui.runtime.node import CommandError

        name = request.match_info["name"]
        try:
            args = await request.json() if request.can_read_body else {}
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return web.json_response({"ok": False, "error": f"bad request: {exc}"}, status=400)
        try:
            result = await self.runtime.commands.call(name, **args)
        except CommandError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except Exception as exc:  # report, never crash the node
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"},
                                     status=500)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _events(self, request: Any) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        async with self.runtime.events.subscription() as queue:
            for event in self.runtime.events.recent(int(request.query.get("history", "0") or 0)):
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


# -- blocking client (CLI) --------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class ControlClient:
    """Blocking client for CLI commands (`status`, `stop`, `logs`, ...)."""

    def __init__(self, home: Path, timeout: float = 10.0) -> None:
        self.home = home
        self.path = socket_path(home)
        self.timeout = timeout

    def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        if not self.path.exists():
            raise NodeNotRunning(f"no node is running on {self.home}")
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
        return self._request("GET", "/v1/status" + (f"?{query}" if query else ""))

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
        self.path = socket_path(home)
        self.timeout = timeout
        self._session: Any = None

    async def _get_session(self) -> Any:
        import aiohttp

        if self._session is None:
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
                return await response.json()
        except OSError as exc:
            raise NodeNotRunning(f"node on {self.home} is gone: {exc}") from None

    async def command(self, name: str, **args: Any) -> Any:
        session = await self._get_session()
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
