"""The executor: the interpreter bubblewrap starts; it loads one model and serves tasks.

Exec'd as `python -I -S -B -c BOOTSTRAP CONFIG` (see `compute/bwrap.py`), so it begins as a
fresh interpreter that never held keys and ran no start-up code. CONFIG (JSON) names its
`sys.path`, the spec and its inherited descriptors: the channel (a Unix socketpair), the tensor
memfd, the opened model. The order matters: hard limits on core dumps and file size first, then
import the runtime, cap the address space, load the model (through `/proc/self/fd/N`), cap open
files, then serve. Requests and replies are messages of `compute/framing.py` (JSON header +
safetensors payload), read and written with its `BlockingStream`, the same implementation the
node's end uses; nothing from here is ever unpickled by the node.
"""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from oarn_tui.compute import sandbox
from oarn_tui.compute.engines import GgufEngine, OnnxEngine, TaskError, TorchScriptEngine
from oarn_tui.compute.framing import BlockingStream
from oarn_tui.compute.tensors import (
    TensorFormatError,
    decode_safetensors,
    encode_canonical,
    encode_canonical_into,
)

OPEN_FILES_LIMIT = 256


@dataclass(frozen=True)
class ExecutorSpec:
    """Everything an executor needs; plain values so it travels as JSON."""

    model_path: str
    model_format: str  # onnx | torchscript | gguf
    memory_mb: int = 4096
    threads: int = 1
    onnx_optimization: str = "basic"
    use_cuda: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _import_runtime(model_format: str) -> None:
    """Import the runtime before the address-space cap: imports map large libraries."""
    if model_format == "onnx":
        import onnxruntime  # noqa: F401
    elif model_format == "torchscript":
        import torch  # noqa: F401
    elif model_format == "gguf":
        import llama_cpp  # noqa: F401


def _load(spec: ExecutorSpec, path: str) -> Any:
    if spec.model_format == "onnx":
        return OnnxEngine(path, threads=spec.threads, optimization=spec.onnx_optimization,
                          use_cuda=spec.use_cuda)
    if spec.model_format == "torchscript":
        return TorchScriptEngine(path, threads=spec.threads, use_cuda=spec.use_cuda)
    if spec.model_format == "gguf":
        return GgufEngine(path, threads=spec.threads)
    raise TaskError(f"unknown model format {spec.model_format!r}", "model")


def main(config: dict[str, Any]) -> None:
    """Entry point inside the sandbox (called by the bootstrap with the parsed CONFIG)."""
    started = time.perf_counter()
    limits = sandbox.limit_start(int(config.get("file_size_mb", 64)))
    fds = config["fds"]
    conn = BlockingStream(int(fds["channel"]))
    spec = ExecutorSpec(**config["spec"])
    shared = _map_shared(fds.get("shared"), int(config.get("shared_size", 0)))
    try:
        _import_runtime(spec.model_format)
    except ImportError as exc:
        conn.send({"ok": False, "kind": "runtime",
                   "error": f"runtime for {spec.model_format} is not installed: {exc}"})
        return
    sandbox.limit_memory(spec.memory_mb)
    limits["address_space_mb"] = spec.memory_mb
    try:
        engine = _load(spec, f"/proc/self/fd/{int(fds['model'])}")
    except TaskError as exc:
        reason = exc.reason if exc.kind != "memory" else (
            f"out of memory loading the model under the executor memory limit "
            f"({spec.memory_mb} MiB) — {exc.reason}")
        conn.send({"ok": False, "kind": exc.kind, "error": reason})
        return
    except MemoryError:
        conn.send({"ok": False, "kind": "memory",
                   "error": "loading the model exceeded the executor memory limit "
                            f"({spec.memory_mb} MiB)"})
        return
    os.close(int(fds["model"]))
    limits["open_files"] = sandbox.limit_open_files(OPEN_FILES_LIMIT)
    limits["cpu_seconds_per_task"] = "timeout × threads + 1"
    conn.send({
        "ok": True, "event": "ready", "runtime": engine.runtime,
        "runtime_version": engine.version, "optimization_level": engine.optimization,
        "execution_provider": engine.provider, "limits": limits,
        "shared": shared is not None,
        "load_ms": round((time.perf_counter() - started) * 1000, 3)})
    _serve(conn, engine, spec, shared)


def _map_shared(fd: Any, size: int) -> mmap.mmap | None:
    """Map the tensor memfd the node passed; without it tensors travel over the socket."""
    if fd is None or size <= 0:
        return None
    try:
        return mmap.mmap(int(fd), size)
    except (OSError, ValueError):
        return None
    finally:
        os.close(int(fd))


def _serve(conn: BlockingStream, engine: Any, spec: ExecutorSpec, shared: mmap.mmap | None
           ) -> None:
    while True:
        try:
            header, payload = conn.receive()
        except EOFError:
            return
        op = header.get("op")
        if op == "exit":
            return
        size = header.get("shm_len")
        if shared is not None and isinstance(size, int) and 0 < size <= len(shared):
            payload = memoryview(shared)[:size]
        sandbox.limit_cpu_for_task(float(header.get("cpu_seconds", 600)))
        started = time.perf_counter()
        try:
            if op == "run":
                reply, body = _run(engine, payload, shared)
            elif op == "generate":
                reply, body = _generate(engine, header, conn)
            elif op == "probe":
                reply, body = _probe(header), b""
            else:
                raise TaskError(f"unknown operation {op!r}", "protocol")
        except TaskError as exc:
            reason = exc.reason
            if exc.kind == "memory":
                reason = (f"out of memory: the task needs more than the executor memory limit "
                          f"({spec.memory_mb} MiB) — {reason}")
            reply, body = {"ok": False, "kind": exc.kind, "error": reason}, b""
        except MemoryError:
            reply, body = {"ok": False, "kind": "memory", "error": "the task exceeded the "
                           f"executor memory limit ({spec.memory_mb} MiB)"}, b""
        except Exception as exc:  # an engine bug fails the task, not the executor silently
            reply, body = {"ok": False, "kind": "runtime",
                           "error": f"executor error: {type(exc).__name__}: {exc}"}, b""
        reply["run_ms"] = round((time.perf_counter() - started) * 1000, 3)
        conn.send(reply, body)


def _run(engine: Any, payload: memoryview, shared: mmap.mmap | None
         ) -> tuple[dict[str, Any], bytes]:
    if not hasattr(engine, "run"):
        raise TaskError("this model generates text: send a prompt, not tensors", "input")
    try:
        inputs = decode_safetensors(payload, copy=not isinstance(engine, OnnxEngine))
    except TensorFormatError as exc:
        raise TaskError(str(exc), "input") from None
    started = time.perf_counter()
    outputs = engine.run(inputs)
    engine_ms = round((time.perf_counter() - started) * 1000, 3)
    del inputs, payload  # the input views must go before the region is reused for outputs
    size = encode_canonical_into(outputs, shared) if shared is not None else None
    if size is not None:
        return {"ok": True, "engine_ms": engine_ms, "shm_len": size}, b""
    return {"ok": True, "engine_ms": engine_ms}, encode_canonical(outputs)


def _generate(engine: Any, header: dict[str, Any], conn: BlockingStream
              ) -> tuple[dict[str, Any], bytes]:
    if not hasattr(engine, "generate"):
        raise TaskError("this model takes tensors, not a prompt", "input")

    def on_token(piece: str) -> None:
        conn.send({"ok": True, "event": "token", "text": piece})

    text, count = engine.generate(str(header.get("prompt", "")),
                                  int(header.get("max_tokens", 128)), on_token)
    return {"ok": True, "tokens": count, "text": text}, b""


def _probe(header: dict[str, Any]) -> dict[str, Any]:
    """What this executor can reach: used to verify the sandbox (`oarn local` and tests)."""
    import socket

    readable = {}
    for path in header.get("paths", []):
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            readable[path] = True
        except OSError:
            readable[path] = False
    connected = None
    if header.get("connect"):
        host, port = str(header["connect"]).rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                connected = True
        except OSError:
            connected = False
    unix = {}
    for path in header.get("unix", []):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(1.0)
                client.connect(path)
            unix[path] = True
        except OSError:
            unix[path] = False
    try:
        with open("/proc/self/environ", "rb") as handle:
            environ = sorted(item.split(b"=", 1)[0].decode(errors="replace")
                             for item in handle.read().split(b"\0") if item)
    except OSError:
        environ = []
    return {"ok": True, "readable": readable, "connected": connected, "unix": unix,
            "environ": environ}
