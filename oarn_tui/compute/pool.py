"""The executor pool: sandboxed worker processes, one model each, driven from asyncio.

`await pool.run(task)` never blocks the event loop: replies are awaited on the loop's own
non-blocking socket, and spawning, loading and killing run in threads. Tensors travel through a
per-worker memfd (Linux) rather than the socket. A worker stays alive for the next task on the
same model; after any failure it is killed and replaced by a fresh one on demand. The parent
enforces the wall-clock timeout by killing the worker. A worker that crashes, runs away or
exhausts its memory fails only its task, with a reason. Nothing a worker sends is unpickled, and
its outputs are re-checked as canonical and hashed by the node itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mmap
import multiprocessing
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import reduction
from pathlib import Path
from typing import Any

import numpy as np

from oarn_tui.compute.determinism import DeterminismClass
from oarn_tui.compute.framing import FrameError, decode_frame, encode_frame
from oarn_tui.compute.manifest import detect_format
from oarn_tui.compute.tensors import (
    TensorFormatError,
    decode_safetensors,
    encode_canonical,
    encode_canonical_into,
    is_canonical,
    result_hash,
)
from oarn_tui.compute.worker import WorkerSpec, worker_main
from oarn_tui.hardware.system import cpu_class

TokenCallback = Callable[[str], None]
LOAD_TIMEOUT_S = 120.0  # spawning and loading a model is not part of a task's time limit


class TaskFailed(Exception):
    """An inference task failed; `reason` is one readable line, `kind` a short category."""

    def __init__(self, reason: str, kind: str = "runtime") -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


@dataclass(frozen=True)
class SandboxSettings:
    """Worker settings, usually from `[compute]` (see `from_config`)."""

    memory_mb: int = 4096
    threads: int = 1
    onnx_optimization: str = "basic"
    timeout_s: float = 300.0
    hide_paths: tuple[str, ...] = ()
    isolate_network: bool = True
    use_cuda: bool = True

    @classmethod
    def from_config(cls, config: Any) -> SandboxSettings:
        compute = config.compute
        return cls(memory_mb=compute.worker_memory_mb, threads=compute.onnx_threads,
                   onnx_optimization=compute.onnx_optimization,
                   timeout_s=float(compute.task_timeout_s),
                   hide_paths=(str(Path(config.home).absolute()),))


@dataclass(frozen=True)
class InferenceTask:
    """One inference: tensors for tensor models, a prompt for GGUF language models."""

    model_path: Path
    inputs: dict[str, np.ndarray] | None = None
    prompt: str | None = None
    max_tokens: int = 128
    timeout_s: float | None = None
    model_format: str | None = None
    task_id: str = ""


@dataclass(frozen=True)
class InferenceResult:
    """Outputs in canonical encoding, their hash, determinism class and how the task ran."""

    task_id: str
    outputs: dict[str, np.ndarray]
    encoded: bytes
    result_hash: str
    determinism: DeterminismClass
    sandbox: dict[str, Any]
    timings: dict[str, float]
    worker_pid: int
    text: str | None = None
    tokens: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (without the tensor bytes)."""
        return {"task_id": self.task_id, "result_hash": self.result_hash,
                "outputs": {name: {"dtype": a.dtype.name, "shape": list(a.shape)}
                            for name, a in sorted(self.outputs.items())},
                "determinism": self.determinism.to_dict(), "sandbox": self.sandbox,
                "timings_ms": self.timings, "worker_pid": self.worker_pid,
                **({"text": self.text, "tokens": self.tokens} if self.text is not None else {})}


_IDENTITY_CACHE: dict[tuple[str, int, int], tuple[str | None, str]] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def model_identity(path: Path) -> tuple[str | None, str]:
    """(format, SHA-256) of a model file, cached by (path, size, mtime). Blocking on a miss."""
    key = _stat_key(path)
    if key not in _IDENTITY_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _IDENTITY_CACHE[key] = (detect_format(path), digest.hexdigest())
    return _IDENTITY_CACHE[key]


async def _model_identity(path: Path) -> tuple[str | None, str]:
    """Cache hits answer at once (one stat); misses hash the file in a thread."""
    try:
        hit = _IDENTITY_CACHE.get(_stat_key(path))
    except OSError:
        raise TaskFailed(f"model file not found: {path}", "model") from None
    if hit is not None:
        return hit
    return await asyncio.get_running_loop().run_in_executor(None, model_identity, path)


INLINE_RESULT_BYTES = 4 * 1024 * 1024  # larger results are verified and hashed in a thread
SHARED_BYTES = 32 * 1024 * 1024  # tensor payloads up to this size travel through a memfd
MAX_REPLY_BYTES = 512 * 1024 * 1024  # a worker cannot make the node allocate more than this
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # Linux; root may exceed net.core.*mem_max


def _grow_socket_buffers(fd: int) -> None:
    """Let a whole tensor payload sit in the socket, so sender and receiver need not take
    turns 200 KiB at a time (each turn is a context switch on a busy machine)."""
    sock = socket.socket(fileno=fd)
    try:
        for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF),
                             (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER_BYTES)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER_BYTES)
    finally:
        sock.detach()


class ReplyTooLarge(Exception):
    """A worker announced a reply beyond `MAX_REPLY_BYTES`."""


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


class Worker:
    """One worker process serving one model. `start`, `stop` and `kill` block (call them
    from a thread); `request` is a coroutine."""

    def __init__(self, spec: WorkerSpec, model_sha256: str) -> None:
        self.spec = spec
        self.model_sha256 = model_sha256
        self.ready: dict[str, Any] = {}
        self.alive = False
        self.busy = False
        self.last_used = 0.0
        self._ctx = multiprocessing.get_context("spawn")
        self._conn: Any = None
        self._process: Any = None
        self._shared: mmap.mmap | None = None
        self._socket: socket.socket | None = None

    @property
    def pid(self) -> int:
        return self._process.pid if self._process is not None else 0

    @property
    def key(self) -> tuple[str, str]:
        return self.spec.model_path, self.model_sha256

    def start(self, timeout_s: float) -> float:
        """Spawn, sandbox and load the model; returns the cold-start time in ms."""
        started = time.perf_counter()
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        for conn in (parent_conn, child_conn):
            _grow_socket_buffers(conn.fileno())
        self._process = self._ctx.Process(target=worker_main, args=(child_conn, self.spec),
                                          name="oarn-worker", daemon=True)
        self._process.start()
        child_conn.close()
        self._conn = parent_conn
        self.alive = True
        header, _ = self._receive(time.monotonic() + timeout_s, "loading the model", timeout_s)
        if not header.get("ok"):
            self.kill()
            raise TaskFailed(str(header.get("error", "the model failed to load")),
                             str(header.get("kind", "model")))
        self.ready = header
        self._attach_shared_memory(time.monotonic() + timeout_s, timeout_s)
        return (time.perf_counter() - started) * 1000

    def _attach_shared_memory(self, deadline: float, timeout_s: float) -> None:
        """Give the worker a memfd for tensor payloads (Linux), so a task's tensors are not
        streamed through the socket; without it everything still works over the socket."""
        if not hasattr(os, "memfd_create"):
            return
        try:
            fd = os.memfd_create("oarn-tensors", os.MFD_CLOEXEC)
        except OSError:
            return
        try:
            os.ftruncate(fd, SHARED_BYTES)
            shared = mmap.mmap(fd, SHARED_BYTES)
            self._conn.send_bytes(encode_frame({"op": "shm", "size": SHARED_BYTES}))
            reduction.send_handle(self._conn, fd, self._process.pid)
        except OSError:
            return
        finally:
            os.close(fd)
        header, _ = self._receive(deadline, "attaching shared memory", timeout_s)
        if header.get("ok"):
            self._shared = shared
        else:
            shared.close()

    def _receive(self, deadline: float, doing: str, limit_s: float
                 ) -> tuple[dict[str, Any], bytes]:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0 or not self._conn.poll(remaining):
                self.kill()
                raise TaskFailed(f"timed out after {limit_s:g} s while {doing}; worker killed",
                                 "timeout")
            data = self._conn.recv_bytes()
        except (EOFError, OSError):
            raise TaskFailed(self._death_reason(doing), "crash") from None
        try:
            return decode_frame(data)
        except FrameError as exc:
            self.kill()
            raise TaskFailed(f"worker sent a malformed reply ({exc}); worker killed",
                             "protocol") from None

    def _death_reason(self, doing: str) -> str:
        self._process.join(timeout=2.0)
        code = self._process.exitcode
        self.kill()
        if code is None:
            return f"worker stopped answering while {doing}; worker killed"
        if code < 0:
            name = _signal_name(-code)
            hint = {"SIGXCPU": " (CPU time limit exceeded)",
                    "SIGKILL": " (killed — possibly out of memory)",
                    "SIGSEGV": " (the runtime crashed on this model)",
                    "SIGABRT": " (the runtime aborted, often an allocation failure under the "
                               f"{self.spec.memory_mb} MiB memory limit)"}.get(name, "")
            return f"worker crashed with {name} while {doing}{hint}"
        return f"worker exited with status {code} while {doing}"

    async def request(self, header: dict[str, Any], inputs: dict[str, np.ndarray],
                      timeout_s: float, on_token: TokenCallback | None = None
                      ) -> tuple[dict[str, Any], Any]:
        """Send one task and await its reply on the event loop itself (no thread hop);
        token events go to `on_token`. The timeout kills the worker."""
        loop = asyncio.get_running_loop()
        sock = self._async_socket()
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
        doing = "receiving the task"
        try:
            await loop.sock_sendall(sock, struct.pack("!i", len(frame)) + frame)
            doing = "running the task"
            while True:
                data = await asyncio.wait_for(_read_message(loop, sock),
                                              max(0.0, deadline - loop.time()))
                try:
                    reply, body = decode_frame(data)
                except FrameError as exc:
                    await loop.run_in_executor(None, self.kill)
                    raise TaskFailed(f"worker sent a malformed reply ({exc}); worker killed",
                                     "protocol") from None
                if reply.get("event") == "token":
                    if on_token is not None:
                        on_token(str(reply.get("text", "")))
                    continue
                size = reply.get("shm_len")
                if self._shared is not None and isinstance(size, int) \
                        and 0 < size <= SHARED_BYTES:
                    body = self._shared[:size]  # bytes: a copy the worker cannot change
                return reply, body
        except TimeoutError:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"timed out after {timeout_s:g} s while {doing}; worker killed",
                             "timeout") from None
        except ReplyTooLarge as exc:
            await loop.run_in_executor(None, self.kill)
            raise TaskFailed(f"{exc}; worker killed", "protocol") from None
        except (EOFError, OSError):
            reason = await loop.run_in_executor(None, self._death_reason, doing)
            raise TaskFailed(reason, "crash") from None

    def _async_socket(self) -> socket.socket:
        """A non-blocking socket on the worker connection (made after the blocking start)."""
        if self._socket is None:
            self._socket = socket.socket(fileno=os.dup(self._conn.fileno()))
            self._socket.setblocking(False)
        return self._socket

    def kill(self) -> None:
        """Stop the process now (SIGKILL) and release the pipe."""
        self.alive = False
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5.0)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        if self._shared is not None:
            with contextlib.suppress(BufferError):
                self._shared.close()
            self._shared = None

    def stop(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        if self.alive and self._conn is not None:
            frame = encode_frame({"op": "exit"})
            with contextlib.suppress(OSError, BrokenPipeError):
                os.write(self._conn.fileno(), struct.pack("!i", len(frame)) + frame)
            if self._process is not None:
                self._process.join(timeout=2.0)
        self.kill()


@dataclass
class _PoolState:
    workers: list[Worker] = field(default_factory=list)


class ExecutorPool:
    """Runs inference tasks in sandboxed workers, at most `max_workers` at once."""

    def __init__(self, settings: SandboxSettings | None = None, max_workers: int = 2) -> None:
        self.settings = settings or SandboxSettings()
        self.max_workers = max_workers
        self._state = _PoolState()
        self._condition: asyncio.Condition | None = None
        self.stats = {"tasks": 0, "failed": 0, "worker_starts": 0}

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:
            self._condition = asyncio.Condition()
        return self._condition

    @property
    def workers(self) -> list[Worker]:
        return list(self._state.workers)

    def _spec(self, task: InferenceTask, model_format: str) -> WorkerSpec:
        s = self.settings
        return WorkerSpec(model_path=str(Path(task.model_path).absolute()),
                          model_format=model_format, hide_paths=s.hide_paths,
                          memory_mb=s.memory_mb, threads=s.threads,
                          onnx_optimization=s.onnx_optimization, use_cuda=s.use_cuda,
                          isolate_network=s.isolate_network)

    async def _acquire(self, spec: WorkerSpec, sha: str) -> Worker:
        cond = self._cond()
        async with cond:
            while True:
                workers = self._state.workers
                for worker in workers:
                    if not worker.busy and worker.alive and worker.key == (spec.model_path, sha) \
                            and worker.spec == spec:
                        worker.busy = True
                        return worker
                if len(workers) < self.max_workers:
                    worker = Worker(spec, sha)
                    worker.busy = True
                    workers.append(worker)
                    return worker
                idle = [w for w in workers if not w.busy]
                if idle:
                    victim = min(idle, key=lambda w: w.last_used)
                    workers.remove(victim)
                    await asyncio.get_running_loop().run_in_executor(None, victim.stop)
                    continue
                await cond.wait()

    async def _release(self, worker: Worker, failed: bool) -> None:
        cond = self._cond()
        async with cond:
            worker.busy = False
            worker.last_used = time.monotonic()
            if failed or not worker.alive:
                await asyncio.get_running_loop().run_in_executor(None, worker.kill)
                if worker in self._state.workers:
                    self._state.workers.remove(worker)
            cond.notify_all()

    async def run(self, task: InferenceTask, on_token: TokenCallback | None = None
                  ) -> InferenceResult:
        """Run one task in a sandboxed worker; raises `TaskFailed` with a reason."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        path = Path(task.model_path)
        if not path.is_file():
            raise TaskFailed(f"model file not found: {path}", "model")
        detected, sha = await _model_identity(path)
        model_format = task.model_format or detected
        if model_format not in {"onnx", "torchscript", "gguf"}:
            raise TaskFailed(f"{path.name} is not an ONNX, TorchScript or GGUF model", "model")
        if model_format == "gguf" and task.prompt is None:
            raise TaskFailed("a GGUF model needs a prompt, not tensors", "input")
        if model_format != "gguf" and task.inputs is None:
            raise TaskFailed("a tensor model needs input tensors", "input")
        inputs: dict[str, np.ndarray] = {}
        if task.inputs is not None:
            try:
                inputs = {str(name): np.asarray(value) for name, value in task.inputs.items()}
                encode_canonical({name: a.reshape(-1)[:0] for name, a in inputs.items()})
            except TensorFormatError as exc:  # an unsupported dtype, found before any work
                raise TaskFailed(str(exc), "input") from None
        spec = self._spec(task, model_format)
        timeout = float(task.timeout_s or self.settings.timeout_s)
        worker = await self._acquire(spec, sha)
        failed = True
        cold_ms = 0.0
        try:
            if not worker.alive:
                self.stats["worker_starts"] += 1
                cold_ms = await loop.run_in_executor(None, worker.start,
                                                     max(timeout, LOAD_TIMEOUT_S))
            header = {"op": "generate", "prompt": task.prompt, "max_tokens": task.max_tokens} \
                if model_format == "gguf" else {"op": "run"}

            run_started = time.perf_counter()
            reply, body = await worker.request(header, inputs, timeout, on_token)
            run_ms = (time.perf_counter() - run_started) * 1000
            if not reply.get("ok"):
                raise TaskFailed(str(reply.get("error", "the task failed")),
                                 str(reply.get("kind", "runtime")))
            if len(body) <= INLINE_RESULT_BYTES:  # verify + hash: cheap enough for the loop
                result = self._result(task, worker, reply, body, cold_ms, run_ms, started)
            else:
                result = await loop.run_in_executor(None, self._result, task, worker, reply,
                                                    body, cold_ms, run_ms, started)
            failed = False
            return result
        except TaskFailed:
            self.stats["failed"] += 1
            raise
        finally:
            self.stats["tasks"] += 1
            await self._release(worker, failed)

    def _result(self, task: InferenceTask, worker: Worker, reply: dict[str, Any],
                body: memoryview,
                cold_ms: float, run_ms: float, started: float) -> InferenceResult:
        text = None
        if "text" in reply:
            text = str(reply["text"])
            outputs = {"text": np.frombuffer(text.encode(), dtype=np.uint8).copy()}
            encoded = encode_canonical(outputs)
        else:
            try:
                outputs = decode_safetensors(body, copy=False)
            except TensorFormatError as exc:
                raise TaskFailed(f"worker returned unreadable outputs: {exc}", "protocol") \
                    from None
            encoded = body if isinstance(body, bytes) else bytes(body)
            if not is_canonical(encoded, outputs):
                encoded = encode_canonical(outputs)
            outputs = decode_safetensors(encoded, copy=False)
        ready = worker.ready
        determinism = DeterminismClass(
            model_sha256=worker.model_sha256, runtime=str(ready["runtime"]),
            runtime_version=str(ready["runtime_version"]),
            optimization_level=str(ready["optimization_level"]),
            execution_provider=str(ready["execution_provider"]), cpu_class=cpu_class())
        timings = {"cold_start_ms": round(cold_ms, 3), "run_ms": round(run_ms, 3),
                   "worker_run_ms": float(reply.get("run_ms", 0.0)),
                   "engine_ms": float(reply.get("engine_ms", 0.0)),
                   "total_ms": round((time.perf_counter() - started) * 1000, 3)}
        return InferenceResult(task_id=task.task_id, outputs=outputs, encoded=encoded,
                               result_hash=result_hash(encoded), determinism=determinism,
                               sandbox=dict(ready.get("sandbox", {})), timings=timings,
                               worker_pid=worker.pid, text=text,
                               tokens=int(reply.get("tokens", 0)))

    async def probe(self, task: InferenceTask, paths: list[str], connect: str | None = None
                    ) -> dict[str, Any]:
        """Ask a worker of `task`'s model what it can read and reach (sandbox check)."""
        loop = asyncio.get_running_loop()
        path = Path(task.model_path)
        detected, sha = await _model_identity(path)
        model_format = task.model_format or detected or "onnx"
        worker = await self._acquire(self._spec(task, model_format), sha)
        failed = True
        try:
            if not worker.alive:
                await loop.run_in_executor(None, worker.start, LOAD_TIMEOUT_S)
            reply, _ = await worker.request({"op": "probe", "paths": paths, "connect": connect},
                                            {}, self.settings.timeout_s)
            failed = not reply.get("ok")
            return {**reply, "sandbox": worker.ready.get("sandbox", {}), "pid": worker.pid}
        finally:
            await self._release(worker, failed)

    async def close(self) -> None:
        """Stop every worker."""
        workers, self._state.workers = self._state.workers, []
        loop = asyncio.get_running_loop()
        for worker in workers:
            await loop.run_in_executor(None, worker.stop)


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
    """One message in multiprocessing.Connection's framing (the worker's side uses it)."""
    (size,) = struct.unpack("!i", await _read_exactly(loop, sock, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", await _read_exactly(loop, sock, 8))
    if not 0 <= size <= MAX_REPLY_BYTES:
        raise ReplyTooLarge(f"worker announced a {size}-byte reply (limit {MAX_REPLY_BYTES})")
    return await _read_exactly(loop, sock, size)
