"""`ExecutorProcess`: one sandboxed executor process serving one model, and its lifecycle.

The node starts the executor with `subprocess.Popen` on the event loop's thread (bubblewrap's
`--die-with-parent` follows the thread that forked it, and the loop's thread lives as long as the
node), passing only descriptors: the channel's socket and tensor memfd (`compute/channel.py`),
the opened model, the seccomp filter and a memfd that collects stderr. A timeout or a malformed
reply kills the whole sandbox: SIGKILL to the executor and to bwrap, whose PID namespace then
takes every descendant with it. The process's code is `compute/executor_main.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from oarn_tui.compute import bwrap, seccomp
from oarn_tui.compute.channel import (
    ChannelClosed,
    ChannelTimeout,
    ExecutorChannel,
    FrameError,
    MessageTooLarge,
)
from oarn_tui.compute.executor_main import ExecutorSpec

TokenCallback = Callable[[str], None]
SCRATCH_BYTES = 64 * 1024 * 1024  # the private tmpfs, and the file-size limit
STDERR_TAIL = 2000
STOP_GRACE_S = 2.0  # how long `stop` lets an executor exit on request before SIGKILL


class TaskFailed(Exception):
    """An inference task failed; `reason` is one readable line, `kind` a short category."""

    def __init__(self, reason: str, kind: str = "runtime") -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


class ExecutorProcess:
    """One executor serving one model. `start` and `request` are coroutines; `kill` blocks
    briefly (a SIGKILL and a reap), `stop` up to its grace period more."""

    def __init__(self, spec: ExecutorSpec, model_sha256: str, *, sandboxed: bool = True,
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
        self._channel = ExecutorChannel()
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

    def exited(self) -> bool:
        """True once the executor's process tree is gone (reaped, or never started)."""
        return self._process is None or (self._process.poll() is not None
                                         and not _running(self._init_pid))

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
        fds = self._channel.open()
        keep: list[int] = list(self._channel.child_fds())
        own: list[int] = []  # opened here for the child; closed here after the spawn
        try:
            model_fd = os.open(self.spec.model_path, os.O_RDONLY)
            own.append(model_fd)
            self._stderr_fd = os.memfd_create("oarn-stderr", 0)
            config = {"spec": self.spec.to_dict(), "file_size_mb": SCRATCH_BYTES >> 20,
                      "shared_size": fds["shared_size"],
                      "fds": {"channel": fds["channel"], "model": model_fd,
                              "shared": fds["shared"]}}
            if self.sandboxed:
                config["path"] = bwrap.sandbox_sys_path()
                filter_fd = seccomp.filter_fd()
                own.append(filter_fd)
                info_read, info_write = os.pipe()
                own.append(info_write)
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
                argv, pass_fds=tuple(keep + own), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self._stderr_fd, env=env, cwd=cwd,
                start_new_session=True)
        except BaseException:
            self._channel.close()
            raise
        finally:
            self._channel.close_child_ends()
            for fd in own:
                os.close(fd)
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
        header, _ = await self._receive(loop.time() + timeout_s, "loading the model",
                                        timeout_s)
        if not header.get("ok"):
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(str(header.get("error", "the model failed to load")),
                             str(header.get("kind", "model")))
        self.ready = header
        self._executor_pid = self._find_executor_pid() if self.sandboxed else 0
        if not header.get("shared"):
            self._channel.drop_shared()
        return (time.perf_counter() - started) * 1000

    async def _receive(self, deadline: float, doing: str, limit_s: float
                       ) -> tuple[dict[str, Any], Any]:
        """One message; a timeout, a malformed frame or an oversized reply kills the sandbox."""
        loop = asyncio.get_running_loop()
        try:
            return await self._channel.receive(deadline)
        except ChannelTimeout:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"timed out after {limit_s:g} s while {doing}; executor killed",
                             "timeout") from None
        except MessageTooLarge as exc:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"{exc}; executor killed", "protocol") from None
        except FrameError as exc:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"the executor sent a malformed reply ({exc}); executor killed",
                             "protocol") from None
        except ChannelClosed:
            reason = await loop.run_in_executor(None, self._death_reason, doing)
            raise TaskFailed(reason, "crash") from None

    async def request(self, header: dict[str, Any], inputs: dict[str, np.ndarray],
                      timeout_s: float, on_token: TokenCallback | None = None
                      ) -> tuple[dict[str, Any], Any]:
        """Send one task and await its reply; token events go to `on_token`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        header = {**header, "cpu_seconds": timeout_s * max(1, self.spec.threads) + 1}
        try:
            await self._channel.send(header, inputs, deadline)
        except ChannelTimeout:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"timed out after {timeout_s:g} s while receiving the task; "
                             "executor killed", "timeout") from None
        except ChannelClosed:
            reason = await loop.run_in_executor(None, self._death_reason, "receiving the task")
            raise TaskFailed(reason, "crash") from None
        while True:
            reply, body = await self._receive(deadline, "running the task", timeout_s)
            if reply.get("event") == "token":
                if on_token is not None:
                    on_token(str(reply.get("text", "")))
                continue
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
            return f"the executor stopped answering while {doing}; executor killed"
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
            return f"the executor crashed with {name} while {doing}{hint}"
        if tail.startswith("bwrap:"):
            return f"the sandbox failed while {doing}: {tail}"
        return f"the executor exited with status {code} while {doing}" \
            + (f": {tail}" if tail else "")

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
        self._channel.close()
        if self._scratch_dir:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = ""
        for name in ("_stderr_fd", "_info_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Ask the executor to exit, give it `grace_s`, then make sure it did (blocking: call
        from a thread, never while holding the pool's lock)."""
        if self.alive:
            self._channel.send_exit()
            if self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=grace_s)
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
