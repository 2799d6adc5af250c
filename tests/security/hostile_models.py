"""Hostile models and executor payloads for the sandbox suite (test_hostile_models.py).

Models are what a requester can really send: ONNX graphs whose tensors point at external files,
TorchScript modules that use `torch.from_file` to read or create files, spin, or return a huge
output. Process-level attacks (fork, children, sockets, environment) cannot be written as a model,
so `payload_entry` builds a replacement for the executor's entry code: it runs inside the real
sandbox through the same `ExecutorProcess` launch path (bwrap, seccomp, -I -S, descriptors),
answers the `ready` handshake, then runs the attack and reports what it achieved as a frame.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def onnx_external_data(path: Path, location: str, length: int) -> Path:
    """`stolen` uint8[length] whose bytes ONNX Runtime would read from `location` (relative
    to its working directory), returned as the output."""
    tensor = TensorProto(name="stolen", data_type=TensorProto.UINT8, dims=[length],
                         data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("Add", ["stolen", "zero"], ["out"])
    return _save(helper.make_graph(
        [node], "exfiltrate", [helper.make_tensor_value_info("zero", TensorProto.UINT8, [1])],
        [helper.make_tensor_value_info("out", TensorProto.UINT8, [length])],
        initializer=[tensor]), path)


def onnx_huge_output(path: Path) -> Path:
    """ConstantOfShape from the input: as large an output as the caller asks for."""
    node = helper.make_node("ConstantOfShape", ["shape"], ["y"],
                            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))
    return _save(helper.make_graph(
        [node], "huge", [helper.make_tensor_value_info("shape", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])]), path)


def torch_reader(path: Path, target: str, size: int) -> Path:
    """A TorchScript module that returns the first `size` bytes of `target`."""
    import torch

    class Reader(torch.nn.Module):
        def __init__(self, target: str, size: int) -> None:
            super().__init__()
            self.target, self.size = target, size

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.from_file(self.target, shared=False, size=self.size, dtype=torch.uint8)

    torch.jit.script(Reader(target, size)).save(str(path))
    return path


def torch_writer(path: Path, target: str, content: bytes) -> Path:
    """A TorchScript module that creates `target` (shared=True) and writes `content` into it."""
    import torch

    class Writer(torch.nn.Module):
        def __init__(self, target: str, content: torch.Tensor) -> None:
            super().__init__()
            self.target, self.content = target, content

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mapped = torch.from_file(self.target, shared=True, size=self.content.numel(),
                                     dtype=torch.uint8)
            mapped.copy_(self.content)
            return mapped

    data = torch.from_numpy(np.frombuffer(content, dtype=np.uint8).copy())
    torch.jit.script(Writer(target, data)).save(str(path))
    return path


def torch_filler(path: Path, target: str, size: int) -> Path:
    """A TorchScript module that creates a `size`-byte file at `target` and fills it."""
    import torch

    class Filler(torch.nn.Module):
        def __init__(self, target: str, size: int) -> None:
            super().__init__()
            self.target, self.size = target, size

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mapped = torch.from_file(self.target, shared=True, size=self.size,
                                     dtype=torch.uint8)
            mapped.fill_(7)
            return mapped[:4]

    torch.jit.script(Filler(target, size)).save(str(path))
    return path


def torch_spinner(path: Path) -> Path:
    """A TorchScript module that never returns."""
    import torch

    class Spin(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            while bool(x.sum() > -1.0):
                x = x + 1.0
            return x

    torch.jit.script(Spin()).save(str(path))
    return path


PAYLOAD_PREFIX = """\
import sys, json
c = json.loads(sys.argv[1])
sys.path[:] = c["path"]
from oarn_tui.compute.framing import BlockingStream
conn = BlockingStream(int(c["fds"]["channel"]))
conn.send({"ok": True, "event": "ready", "limits": {}})
conn.receive()  # the test's request

def reply(**fields):
    conn.send({"ok": True, **fields})
"""


def payload_entry(body: str, targets: object = None) -> str:
    """Entry code for `ExecutorProcess(entry=...)`: handshake, wait for one request, then
    `body` (which sees `TARGETS`)."""
    return PAYLOAD_PREFIX + f"TARGETS = {targets!r}\n" + textwrap.dedent(body)


FORK_BOMB = """
import os, subprocess, ctypes
results = {}
forked = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as exc:
        results["fork"] = exc.strerror
        break
    if pid == 0:
        while True:
            pass
    forked += 1
results["forked"] = forked
try:
    subprocess.Popen(["/proc/self/exe", "-c", "import time; time.sleep(600)"])
    results["spawn"] = "started"
except OSError as exc:
    results["spawn"] = exc.strerror
import platform
if platform.machine() == "x86_64":
    libc = ctypes.CDLL(None, use_errno=True)
    SIGCHLD = 17
    pid = libc.syscall(56, SIGCHLD, 0, 0, 0, 0)  # raw clone(2) without CLONE_THREAD
    if pid == 0:
        while True:
            pass
    results["raw_clone"] = "child" if pid > 0 else os.strerror(ctypes.get_errno())
reply(**results)
while True:  # then spin until the node kills the sandbox
    pass
"""

SURROUNDINGS = """
import os, socket
found = {}
for label, address in TARGETS.items():
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(address)
        found[label] = "connected"
    except OSError as exc:
        found[label] = exc.strerror or str(exc)
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    found["inet"] = "created"
except OSError as exc:
    found["inet"] = exc.strerror
environ = {}
for pid in ("self", "1"):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ[pid] = handle.read().decode(errors="replace")
    except OSError as exc:
        environ[pid] = exc.strerror
found["visible_pids"] = sorted(int(n) for n in os.listdir("/proc") if n.isdigit())
reply(found=found, environ=environ, os_environ=dict(os.environ))
"""

INTERPRETER = """
import os
writes = {}
for target in TARGETS:
    try:
        with open(target, "w") as handle:
            handle.write("import os; os.system('echo pwned')\\n")
        writes[target] = "written"
    except OSError as exc:
        writes[target] = exc.strerror
reply(no_site=sys.flags.no_site, isolated=sys.flags.isolated,
      site_loaded="site" in sys.modules, writes=writes, cwd=os.getcwd(),
      root=sorted(os.listdir("/")))
"""

MEMORY = """
blocks = []
try:
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))
except MemoryError:
    count = len(blocks)
    blocks.clear()
    reply(allocated_mib=count * 64)
"""
