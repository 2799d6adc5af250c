"""`ExecutorProcess`: one sandboxed executor and the channel to it (frames, memfd, timeouts).

The node starts the executor with `subprocess.Popen` on the event loop's thread (bubblewrap's
`--die-with-parent` follows the thread that forked it, and the loop's thread lives as long as the
node), passing only descriptors: a Unix socketpair for frames, a memfd for tensor payloads, the
opened model, the seccomp filter and a memfd that collects stderr. Replies are awaited on the
loop's own non-blocking socket. A timeout or a malformed reply kills the whole sandbox:
SIGKILL to the executor and to bwrap, whose PID namespace then takes every descendant with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mmap
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from oarn_tui.compute import bwrap, seccomp
from oarn_tui.compute.framing import FrameError, decode_frame, encode_frame
from oarn_tui.compute.tensors import encode_canonical, encode_canonical_into
from oarn_tui.compute.worker import WorkerSpec

TokenCallback = Callable[[str], None]
SHARED_BYTES = 32 * 1024 * 1024  # tensor payloads up to this size travel through a memfd
MAX_REPLY_BYTES = 512 * 1024 * 1024  # an executor cannot make the node allocate more than this
SCRATCH_BYTES = 64 * 1024 * 1024  # the private tmpfs, and the file-size limit
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # Linux; root may exceed net.core.*mem_max
STDERR_TAIL = 2000


class TaskFailed(Exception):
    """An inference task failed; `reason` is one readable line, `kind` a short category."""

    def __init__(self, reason: str, kind: str = "runtime") -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


class ReplyTooLarge(Exception):
    """An executor announced a reply beyond `MAX_REPLY_BYTES`."""


def _grow_socket_buffers(sock: socket.socket) -> None:
    """Let a whole tensor payload sit in the socket, so sender and receiver need not take
    turns 200 KiB at a time (each turn is a context switch on a busy machine)."""
    for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER_BYTES)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


class ExecutorProcess:
    """One executor serving one model. `start` and `request` are coroutines; `kill` blocks
    briefly (a SIGKILL and a reap)."""

    def __init__(self, spec: WorkerSpec, model_sha256: str, *, sandboxed: bool = True,
                 entry: str = bwrap.BOOTSTRAP) -> None:
        self.spec = spec
        self.model_sha256 = model_sha256
        self.sandboxed = sandboxed
        self.entry = entry
        self.ready: dict[str, Any] = {}
        self.alive = False
        self.busy = False
        self.last_used = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._shared: mmap.mmap | None = None
        self._stderr_fd = -1
        self._info_fd = -1
        self._executor_pid = 0
        self._init_pid = 0
        self._scratch_dir = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.spec.model_path, self.model_sha256

    @property
    def pid(self) -> int:
        """The executor's PID as the node sees it (bwrap's until the executor is ready)."""
        return self._executor_pid or (self._process.pid if self._process else 0)

    @property
    def sandbox_pids(self) -> list[int]:
        """Every PID of this executor's process tree that the node knows (bwrap included)."""
        pids = [self._process.pid] if self._process is not None else []
        if self.pid and self.pid not in pids:
            pids.append(self.pid)
        return pids

    def _find_executor_pid(self) -> int:
        """bwrap's --info-fd names its PID-namespace init; the executor is its child."""
        if self._info_fd < 0:
            return 0
        try:
            info = json.loads(os.read(self._info_fd, 65536) or b"{}")
            init = self._init_pid = int(info["child-pid"])
            with open(f"/proc/{init}/task/{init}/children") as handle:
                children = handle.read().split()
            return int(children[0]) if children else init
        except (OSError, ValueError, KeyError):
            return 0
        finally:
            os.close(self._info_fd)
            self._info_fd = -1

    def _launch(self) -> None:
        """Create the descriptors and exec the executor (fast: no model work here)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _grow_socket_buffers(parent)
        _grow_socket_buffers(child)
        keep: list[int] = [child.fileno()]
        shared_fd = -1
        try:
            if hasattr(os, "memfd_create"):
                shared_fd = os.memfd_create("oarn-tensors", 0)
                os.ftruncate(shared_fd, SHARED_BYTES)
                self._shared = mmap.mmap(shared_fd, SHARED_BYTES)
                keep.append(shared_fd)
            model_fd = os.open(self.spec.model_path, os.O_RDONLY)
            keep.append(model_fd)
            self._stderr_fd = os.memfd_create("oarn-stderr", 0)
            config = {"spec": self.spec.to_dict(), "file_size_mb": SCRATCH_BYTES >> 20,
                      "shared_size": SHARED_BYTES if shared_fd >= 0 else 0,
                      "fds": {"channel": child.fileno(), "model": model_fd,
                              "shared": shared_fd if shared_fd >= 0 else None}}
            if self.sandboxed:
                config["path"] = bwrap.sandbox_sys_path()
                filter_fd = seccomp.filter_fd()
                keep.append(filter_fd)
                info_read, info_write = os.pipe()
                keep.append(info_write)
                self._info_fd = info_read
                os.set_blocking(info_read, False)
                argv = bwrap.command(json.dumps(config), threads=self.spec.threads,
                                     scratch_bytes=SCRATCH_BYTES, seccomp_fd=filter_fd,
                                     info_fd=info_write, use_gpu=self.spec.use_cuda,
                                     entry=self.entry)
                env: dict[str, str] = {}
                cwd = "/"
            else:  # --no-sandbox: a private temporary directory stands in for the scratch
                config["path"] = bwrap.plain_sys_path()
                argv = bwrap.plain_command(json.dumps(config), entry=self.entry)
                self._scratch_dir = tempfile.mkdtemp(prefix="oarn-executor-")
                env = {**bwrap.environment(self.spec.threads), "HOME": self._scratch_dir,
                       "TMPDIR": self._scratch_dir}
                cwd = self._scratch_dir
            self._process = subprocess.Popen(
                argv, pass_fds=tuple(keep), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr_fd, env=env, cwd=cwd, start_new_session=True)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
            for fd in keep[1:]:
                os.close(fd)
        parent.setblocking(False)
        self._socket = parent
        self.alive = True

    async def start(self, timeout_s: float) -> float:
        """Start the executor and wait until its model is loaded; the cold start in ms."""
        started = time.perf_counter()
        try:
            self._launch()
        except OSError as exc:
            self.kill()
            kind = "model" if isinstance(exc, FileNotFoundError) else "sandbox"
            raise TaskFailed(f"the executor could not start: {exc}", kind) from None
        loop = asyncio.get_running_loop()
        header, _ = await self._receive(loop, loop.time() + timeout_s, "loading the model",
                                        timeout_s)
        if not header.get("ok"):
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(str(header.get("error", "the model failed to load")),
                             str(header.get("kind", "model")))
        self.ready = header
        self._executor_pid = self._find_executor_pid() if self.sandboxed else 0
        if not header.get("shared") and self._shared is not None:
            self._shared.close()
            self._shared = None
        return (time.perf_counter() - started) * 1000

    async def _receive(self, loop: asyncio.AbstractEventLoop, deadline: float, doing: str,
                       limit_s: float) -> tuple[dict[str, Any], Any]:
        """One frame; a timeout, a malformed frame or an oversized reply kills the sandbox."""
        assert self._socket is not None
        try:
            data = await asyncio.wait_for(_read_message(loop, self._socket),
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"timed out after {limit_s:g} s while {doing}; worker killed",
                             "timeout") from None
        except ReplyTooLarge as exc:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"{exc}; worker killed", "protocol") from None
        except (EOFError, OSError):
            reason = await loop.run_in_executor(None, self._death_reason, doing)
            raise TaskFailed(reason, "crash") from None
        try:
            return decode_frame(data)
        except FrameError as exc:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"worker sent a malformed reply ({exc}); worker killed",
                             "protocol") from None

    async def request(self, header: dict[str, Any], inputs: dict[str, np.ndarray],
                      timeout_s: float, on_token: TokenCallback | None = None
                      ) -> tuple[dict[str, Any], Any]:
        """Send one task and await its reply; token events go to `on_token`."""
        loop = asyncio.get_running_loop()
        assert self._socket is not None
        deadline = loop.time() + timeout_s
        header = {**header, "cpu_seconds": timeout_s * max(1, self.spec.threads) + 1}
        payload = b""
        if inputs:
            size = encode_canonical_into(inputs, self._shared) if self._shared else None
            if size is None:
                payload = encode_canonical(inputs)
            else:
                header["shm_len"] = size
        frame = encode_frame(header, payload)
        try:
            await asyncio.wait_for(loop.sock_sendall(self._socket, struct.pack(
                "!i", len(frame)) + frame), max(0.0, deadline - loop.time()))
        except TimeoutError:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"timed out after {timeout_s:g} s while receiving the task; "
                             "worker killed", "timeout") from None
        except OSError:
            reason = await loop.run_in_executor(None, self._death_reason, "receiving the task")
            raise TaskFailed(reason, "crash") from None
        while True:
            reply, body = await self._receive(loop, deadline, "running the task", timeout_s)
            if reply.get("event") == "token":
                if on_token is not None:
                    on_token(str(reply.get("text", "")))
                continue
            size = reply.get("shm_len")
            if self._shared is not None and isinstance(size, int) and 0 < size <= SHARED_BYTES:
                body = self._shared[:size]  # bytes: a copy the executor cannot change
            return reply, body

    def _stderr_tail(self) -> str:
        if self._stderr_fd < 0:
            return ""
        try:
            size = os.fstat(self._stderr_fd).st_size
            data = os.pread(self._stderr_fd, STDERR_TAIL, max(0, size - STDERR_TAIL))
        except OSError:
            return ""
        lines = [line.strip() for line in data.decode(errors="replace").splitlines()
                 if line.strip()]
        bwrap_lines = [line for line in lines if line.startswith("bwrap:")]
        return (bwrap_lines or lines or [""])[-1][:300]

    def _death_reason(self, doing: str) -> str:
        code = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._process.wait(timeout=2.0)
        tail = self._stderr_tail()
        self.kill()
        if code is None:
            return f"worker stopped answering while {doing}; worker killed"
        signum = -code if code < 0 else code - 128 if self.sandboxed and code > 128 else 0
        if signum > 0:
            name = _signal_name(signum)
            hint = {"SIGXCPU": " (CPU time limit exceeded)",
                    "SIGXFSZ": f" (file size limit of {SCRATCH_BYTES >> 20} MiB exceeded)",
                    "SIGKILL": " (killed — possibly out of memory)",
                    "SIGSEGV": " (the runtime crashed on this model)",
                    "SIGSYS": " (a system call the sandbox forbids)",
                    "SIGABRT": " (the runtime aborted, often an allocation failure under the "
                               f"{self.spec.memory_mb} MiB memory limit)"}.get(name, "")
            return f"worker crashed with {name} while {doing}{hint}"
        if tail.startswith("bwrap:"):
            return f"the sandbox failed while {doing}: {tail}"
        return f"worker exited with status {code} while {doing}" + (f": {tail}" if tail else "")

    def kill(self) -> None:
        """SIGKILL the executor and bwrap (the PID namespace takes every descendant), reap,
        release the descriptors."""
        self.alive = False
        process = self._process
        if process is not None and process.poll() is None:
            # The executor first: bwrap's init then reaps it, the namespace goes, and bwrap
            # exits and is reaped here (killing bwrap first would leave its init a zombie).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
                if not self.sandboxed:
                    os.killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5.0)
            _wait_gone(self._init_pid, 2.0)  # bwrap exits before its init has finished dying
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
        if self._shared is not None:
            with contextlib.suppress(BufferError):
                self._shared.close()
            self._shared = None
        if self._scratch_dir:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = ""
        for name in ("_stderr_fd", "_info_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def stop(self) -> None:
        """Ask the executor to exit, then make sure it did (blocking: call from a thread)."""
        if self.alive and self._socket is not None:
            frame = encode_frame({"op": "exit"})
            with contextlib.suppress(OSError):
                self._socket.send(struct.pack("!i", len(frame)) + frame)
            if self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=2.0)
        self.kill()


def _running(pid: int) -> bool:
    """True while `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while pid and _running(pid) and time.monotonic() < deadline:
        time.sleep(0.002)


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int
                        ) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        count = await loop.sock_recv_into(sock, view[filled:])
        if count == 0:
            raise EOFError("worker closed the connection")
        filled += count
    return buffer


async def _read_message(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytearray:
    """One message in multiprocessing.Connection's framing (the executor's side uses it)."""
    (size,) = struct.unpack("!i", await _read_exactly(loop, sock, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", await _read_exactly(loop, sock, 8))
    if not 0 <= size <= MAX_REPLY_BYTES:
        raise ReplyTooLarge(f"worker announced a {size}-byte reply (limit {MAX_REPLY_BYTES})")
    return await _read_exactly(loop, sock, size)
