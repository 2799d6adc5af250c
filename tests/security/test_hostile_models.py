"""Hostile models cannot hurt the node (issue 14, executor sandbox).

Each hostile model or payload runs in the real sandbox (bubblewrap + seccomp, started by
`ExecutorProcess` exactly as for a task): it reads nothing outside its allow-list, writes nothing
that outlives it, creates no process, reaches no socket, sees no environment of the node, and its
task fails with a readable reason while the pool keeps serving the next task. With the sandbox
forced unavailable, tasks (network tasks included) are refused instead of run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from oarn_tui.compute import bwrap, channel, executor, sandbox
from oarn_tui.compute.executor import ExecutorProcess
from oarn_tui.compute.executor_main import ExecutorSpec
from oarn_tui.compute.policy import TaskRequirements
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings, TaskFailed
from oarn_tui.compute.service import ComputeService
from oarn_tui.config import load_config_from_text
from tests.compute import onnx_models
from tests.security import hostile_models as hostile

pytestmark = pytest.mark.timeout(180)
needs_sandbox = pytest.mark.skipif(not sandbox.status().ok,
                                   reason=f"no sandbox here: {sandbox.status().reason}")
REPO = Path(__file__).resolve().parents[2]
SECRET = b"wallet-seed: abandon abandon abandon about"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / "models").mkdir(parents=True)
    (path / "wallet.vault").write_bytes(SECRET)
    return path


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the node home in the real /tmp, with a secret in it."""
    path = Path("/tmp") / f"oarn-hostile-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    (path / "secret.bin").write_bytes(SECRET)
    try:
        yield path
    finally:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def make_pool(**changes: object) -> ExecutorPool:
    values: dict = {"timeout_s": 30.0, "memory_mb": 2048, **changes}
    return ExecutorPool(SandboxSettings(**values), max_executors=1)


async def still_serves(pool: ExecutorPool, home: Path) -> None:
    """The pool runs an honest task after the hostile one."""
    model = onnx_models.mlp(home / "models" / "honest.onnx")
    result = await pool.run(InferenceTask(model, inputs={"x": np.ones((2, 4), np.float32)}))
    assert result.outputs["probs"].shape == (2, 3)


def spec_for(model: Path) -> ExecutorSpec:
    return ExecutorSpec(model_path=str(model), model_format="onnx", memory_mb=1024,
                      use_cuda=False)


async def run_payload(model: Path, body: str, targets: object = None,
                      timeout_s: float = 20.0) -> tuple[ExecutorProcess, dict]:
    """Start `body` as the executor's entry in the real sandbox; its one reply."""
    process = ExecutorProcess(spec_for(model), "0" * 64,
                              entry=hostile.payload_entry(body, targets))
    await process.start(timeout_s)
    reply, _ = await process.request({"op": "attack"}, {}, timeout_s)
    return process, reply


# ---- finding 1: reading files outside the node home -------------------------------------

@needs_sandbox
@pytest.mark.parametrize("style", ["relative", "dotdot"])
async def test_onnx_external_data_is_refused_both_ways(home: Path, outside: Path,
                                                       style: str) -> None:
    target = str(outside / "secret.bin").lstrip("/")
    location = target if style == "relative" else f"../../../{target}"
    model = hostile.onnx_external_data(home / "models" / f"{style}.onnx", location, len(SECRET))
    pool = make_pool()
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"zero": np.zeros(1, np.uint8)}))
        assert failure.value.kind == "model"
        assert failure.value.reason.startswith("model refused: tensor 'stolen' keeps its data "
                                               "in an external file")
        await still_serves(pool, home)
    finally:
        await pool.close()


@needs_sandbox
async def test_torchscript_cannot_read_files_outside_the_sandbox(home: Path,
                                                                 outside: Path) -> None:
    pytest.importorskip("torch")
    pool = make_pool()
    try:
        for target in (str(outside / "secret.bin"), str(home / "wallet.vault"), "/etc/hostname"):
            model = hostile.torch_reader(home / "models" / "reader.pt", target, 8)
            with pytest.raises(TaskFailed) as failure:
                await pool.run(InferenceTask(model, inputs={"x": np.zeros(1, np.float32)}))
            assert failure.value.reason.startswith("TorchScript model failed:")
            assert "No such file" in failure.value.reason
        await still_serves(pool, home)
    finally:
        await pool.close()


# ---- finding 2: writing files (and start-up code in site-packages) ----------------------

@needs_sandbox
async def test_torchscript_cannot_create_files_on_the_host(home: Path, outside: Path) -> None:
    pytest.importorskip("torch")
    site_dir = Path(bwrap.site_directories()[0])
    planted = site_dir / f"oarn_hostile_{uuid.uuid4().hex[:8]}.pth"
    targets = [outside / "dropped.bin", planted, home / "models" / "dropped.bin"]
    pool = make_pool()
    try:
        for target in targets:
            model = hostile.torch_writer(home / "models" / "writer.pt", str(target),
                                         b"# a comment line, harmless if it ever lands\n")
            with pytest.raises(TaskFailed) as failure:
                await pool.run(InferenceTask(model, inputs={"x": np.zeros(1, np.float32)}))
            assert failure.value.reason.startswith("TorchScript model failed:")
            assert not target.exists()
        await still_serves(pool, home)
    finally:
        planted.unlink(missing_ok=True)
        await pool.close()


@needs_sandbox
async def test_scratch_writes_are_bounded_and_do_not_outlive_the_executor(home: Path) -> None:
    pytest.importorskip("torch")
    pool = make_pool()
    x = {"x": np.zeros(1, np.float32)}
    try:
        small = hostile.torch_filler(home / "models" / "small.pt", "/scratch/kept.bin", 4096)
        result = await pool.run(InferenceTask(small, inputs=x))
        assert result.outputs["output"].tolist() == [7, 7, 7, 7]  # its own scratch works
        reader = hostile.torch_reader(home / "models" / "reader.pt", "/scratch/kept.bin", 4)
        with pytest.raises(TaskFailed, match="No such file"):  # another executor's scratch
            await pool.run(InferenceTask(reader, inputs=x))
        big = hostile.torch_filler(home / "models" / "big.pt", "/scratch/big.bin",
                                   executor.SCRATCH_BYTES * 2)
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(big, inputs=x))
        assert failure.value.reason.startswith("TorchScript model failed:")
        assert "File too large" in failure.value.reason  # RLIMIT_FSIZE
        await still_serves(pool, home)
    finally:
        await pool.close()


@needs_sandbox
async def test_executor_runs_no_start_up_code_and_cannot_write_its_libraries(
        home: Path) -> None:
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    site_dir = bwrap.site_directories()[0]
    targets = [f"{site_dir}/evil.pth", f"{bwrap.PACKAGE_MOUNT}/oarn_tui/sitecustomize.py",
               "/usr/lib/evil.so", "/evil"]
    process, reply = await run_payload(model, hostile.INTERPRETER, targets)
    try:
        assert reply["no_site"] == 1 and reply["isolated"] == 1 and not reply["site_loaded"]
        assert set(reply["writes"].values()) <= {"Read-only file system", "No such file or "
                                                 "directory"}, reply["writes"]
        assert reply["cwd"] == bwrap.SCRATCH
        assert "tmp" not in reply["root"] and "home" not in reply["root"] \
            and "run" not in reply["root"]
        assert not Path(site_dir, "evil.pth").exists()
    finally:
        process.kill()


# ---- finding 9 and build item 1: processes, sockets, environment, limits ----------------

def namespace_members(pid_namespace: str) -> list[int]:
    """Host PIDs of live (non-zombie) processes in a PID namespace."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/pid") != pid_namespace:
                continue
            with open(f"/proc/{name}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            members.append(int(name))
    return members


@needs_sandbox
async def test_fork_bomb_and_children_are_impossible_and_the_timeout_kills_everything(
        home: Path) -> None:
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    process, reply = await run_payload(model, hostile.FORK_BOMB)
    try:
        assert reply["forked"] == 0 and reply["fork"] == "Operation not permitted"
        assert reply["spawn"] == "Operation not permitted"
        assert reply.get("raw_clone", "Operation not permitted") == "Operation not permitted"
        namespace = os.readlink(f"/proc/{process.pid}/ns/pid")
        assert namespace != os.readlink("/proc/self/ns/pid")
        assert namespace_members(namespace) == [process.pid] or \
            len(namespace_members(namespace)) <= 2  # bwrap's init and the executor, no more
        with pytest.raises(TaskFailed) as failure:  # it spins now: the timeout kills it
            await process.request({"op": "run"}, {}, 1.0)
        assert failure.value.kind == "timeout"
        assert namespace_members(namespace) == []
    finally:
        process.kill()


@needs_sandbox
async def test_no_unix_socket_network_or_node_environment_is_reachable(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OARN_WALLET_PASSWORD", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    bus = tmp_path / "bus"  # stand-ins for the D-Bus session bus, ssh-agent, docker.sock
    listeners = []
    for address in (str(bus), "\0oarn-hostile-abstract"):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen()
        listeners.append(listener)
    targets = {"filesystem": str(bus), "abstract": "\0oarn-hostile-abstract",
               "docker": "/var/run/docker.sock", "dbus": "/run/dbus/system_bus_socket"}
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    process, reply = await run_payload(model, hostile.SURROUNDINGS, targets)
    try:
        assert "connected" not in reply["found"].values(), reply["found"]
        assert reply["found"]["inet"] == "Address family not supported by protocol"
        assert os.getpid() not in reply["found"]["visible_pids"]
        assert max(reply["found"]["visible_pids"]) < 10  # its own PID namespace
        for text in (*reply["environ"].values(), json.dumps(reply["os_environ"])):
            assert "hunter2" not in text and "also-secret" not in text
        assert set(reply["os_environ"]) <= {"HOME", "TMPDIR", "LANG", "OMP_NUM_THREADS", "PWD",
                                            *bwrap.PASSED_ENVIRONMENT}
    finally:
        process.kill()
        for listener in listeners:
            listener.close()


@needs_sandbox
async def test_unbounded_allocation_stops_at_the_memory_limit(home: Path) -> None:
    model = hostile.onnx_huge_output(home / "models" / "hog.onnx")
    pool = make_pool(memory_mb=1024)
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"shape": np.array([2**31])}))
        assert failure.value.kind == "memory" and "1024 MiB" in failure.value.reason
        await still_serves(pool, home)
    finally:
        await pool.close()
    process, reply = await run_payload(onnx_models.mlp(home / "models" / "m.onnx"),
                                       "import resource\nresource.setrlimit(resource.RLIMIT_AS,"
                                       " (512 << 20, 512 << 20))\n" + hostile.MEMORY)
    try:
        assert reply["allocated_mib"] < 512
    finally:
        process.kill()


@needs_sandbox
async def test_spinning_torchscript_is_killed_at_the_timeout(home: Path) -> None:
    pytest.importorskip("torch")
    model = hostile.torch_spinner(home / "models" / "spin.pt")
    pool = make_pool()
    try:
        started = time.monotonic()
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"x": np.zeros(1, np.float32)},
                                         timeout_s=2.0))
        assert failure.value.kind == "timeout"
        assert failure.value.reason == "timed out after 2 s while running the task; " \
                                       "executor killed"
        assert time.monotonic() - started < 60
        await still_serves(pool, home)
    finally:
        await pool.close()


@needs_sandbox
async def test_huge_output_is_refused_without_the_node_allocating_it(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "MAX_REPLY_BYTES", 64 << 20)
    model = hostile.onnx_huge_output(home / "models" / "huge.onnx")
    pool = make_pool()
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"shape": np.array([1 << 25])}))
        assert failure.value.kind == "protocol"
        assert "byte reply (limit 67108864); executor killed" in failure.value.reason
        await still_serves(pool, home)
    finally:
        await pool.close()


# ---- finding 3 and build item 2: fail closed ---------------------------------------------

async def test_forced_unavailable_sandbox_refuses_tasks_and_network_tasks(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.FORCE_ENV, "1")
    status = sandbox.status()
    assert not status.ok and sandbox.FORCE_ENV in status.reason
    assert "seccomp" not in status.layers and "network-namespace" not in status.layers
    model = onnx_models.mlp(home / "models" / "mlp.onnx")
    pool = make_pool()
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"x": np.ones((1, 4), np.float32)}))
        assert failure.value.kind == "sandbox"
        assert failure.value.reason.startswith("refused: the executor sandbox is not available")
        assert pool.stats["worker_starts"] == 0  # nothing was started unsandboxed
    finally:
        await pool.close()
    config = load_config_from_text(home, "")
    service = ComputeService()
    await service.start(SimpleNamespace(config=config, services={}, accepting=True))
    try:
        for framework in ("onnx", "torchscript"):
            decision = service.decide(TaskRequirements(framework=framework))
            assert not decision.accepted and decision.reason == status.refusal()
        doc = dict(service.status_fields())
        assert doc["sandbox"] == {"ok": False, "layers": list(sandbox.PLAIN_LAYERS),
                                  "reason": status.reason, "bwrap": ""}
    finally:
        await service.stop()
    monkeypatch.delenv(sandbox.FORCE_ENV)
    assert sandbox.FORCE_ENV not in sandbox.status().reason


HOSTILE_KINDS = ("onnx-external-data", "onnx-huge-output", "torch-reader", "torch-writer",
                 "torch-spinner")


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
async def test_with_namespaces_forced_off_every_hostile_model_is_refused_unrun(
        home: Path, outside: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile suite with namespaces forced off: nothing is contained because nothing runs —
    each model's task is refused with the sandbox's reason, no executor starts, no host file is
    read into a result or created."""
    if kind.startswith("torch"):
        pytest.importorskip("torch")
    monkeypatch.setenv(sandbox.FORCE_ENV, "1")
    created = outside / "created-by-model.bin"
    models = home / "models"
    build = {
        "onnx-external-data": lambda: hostile.onnx_external_data(
            models / "x.onnx", str(outside / "secret.bin").lstrip("/"), len(SECRET)),
        "onnx-huge-output": lambda: hostile.onnx_huge_output(models / "huge.onnx"),
        "torch-reader": lambda: hostile.torch_reader(models / "r.pt",
                                                     str(outside / "secret.bin"), 8),
        "torch-writer": lambda: hostile.torch_writer(models / "w.pt", str(created), SECRET),
        "torch-spinner": lambda: hostile.torch_spinner(models / "s.pt"),
    }
    model = build[kind]()
    pool = make_pool(timeout_s=5.0)
    try:
        with pytest.raises(TaskFailed) as failure:
            await pool.run(InferenceTask(model, inputs={"x": np.ones((1, 4), np.float32)}))
        assert failure.value.kind == "sandbox"
        assert failure.value.reason == sandbox.status().refusal()
        assert pool.stats["worker_starts"] == 0
        assert not created.exists()
    finally:
        await pool.close()


async def test_worker_node_refuses_network_tasks_when_the_sandbox_is_forced_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real worker node on an in-process chain: the task is announced and would be taken,
    but the node rejects it with the sandbox's reason and never claims it."""
    from oarn_tui.samples import sample_model
    from tests.security.worker_node import (
        announcement,
        item,
        stake_worker,
        start_chain,
        start_worker,
        wait_for,
    )

    monkeypatch.setenv(sandbox.FORCE_ENV, "1")
    chain = await start_chain(tmp_path)
    await stake_worker(chain, chain.keys[1], tmp_path)
    env = {"OARN_BLOCKCHAIN_CONFIRMATIONS": "64", "OARN_COMPUTE_ACCEPTED_MODELS": '["mlp-*"]'}
    runtime = await start_worker(chain, tmp_path / "worker", env)
    try:
        pipeline, ledger = runtime.services["pipeline"], runtime.ledger
        bound = runtime.services["storage"].storage.models.add(sample_model(), "mlp-mnist")
        task = await chain.submit(bound["cid"], bound["cid"])
        await pipeline._on_announcement(announcement([item(task, "mlp-mnist")],
                                                     account_key=chain.keys[0]))
        await wait_for(lambda: (r := ledger.get(str(task))) is not None
                       and r.stage not in ("discovered", "accepted"), 60, "the decision")
        record = ledger.get(str(task))
        assert record is not None and record.stage == "rejected", record
        assert record.failure_reason == sandbox.status().refusal()
        assert await chain.requester.claimants(task) == []
        assert runtime.services["compute"].pool.stats["worker_starts"] == 0
    finally:
        await runtime.stop()
        runtime.close()


REFUSING_KERNEL = """
import asyncio, ctypes, errno, json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, {repo!r})
from oarn_tui.compute import seccomp
# what Docker's default seccomp profile / Ubuntu 24.04's AppArmor do: namespaces are refused
lib = seccomp._library()
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ctx = lib.seccomp_init(seccomp.SCMP_ACT_ALLOW)
seccomp._add(lib, ctx, seccomp._errno_action(errno.EPERM), "unshare")
seccomp._add(lib, ctx, seccomp._errno_action(errno.ENOSYS), "clone3")
for flag in seccomp.CLONE_NEW_FLAGS.values():
    seccomp._add(lib, ctx, seccomp._errno_action(errno.EPERM), "clone",
                 (0, seccomp.SCMP_CMP_MASKED_EQ, flag, flag))
assert lib.seccomp_load(ctx) == 0
from oarn_tui.compute import sandbox
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings, TaskFailed

async def main():
    pool = ExecutorPool(SandboxSettings(timeout_s=30))
    try:
        await pool.run(InferenceTask(Path({model!r}), inputs={{"x": np.ones((1, 4), np.float32)}}))
        outcome = "ran"
    except TaskFailed as exc:
        outcome = exc.reason
    print(json.dumps({{"status": sandbox.status().to_dict(), "outcome": outcome,
                      "starts": pool.stats["worker_starts"]}}))

asyncio.run(main())
"""


@needs_sandbox
def test_refused_namespaces_fail_closed_with_the_kernel_setting_to_change(
        tmp_path: Path) -> None:
    model = onnx_models.mlp(tmp_path / "mlp.onnx")
    script = REFUSING_KERNEL.format(repo=str(REPO), model=str(model))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120,
                          cwd=str(REPO))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    status = report["status"]
    assert status["ok"] is False and "seccomp" not in status["layers"]
    assert status["reason"].startswith("bubblewrap cannot create namespaces (bwrap:")
    assert "kernel.apparmor_restrict_unprivileged_userns" in status["reason"]
    assert report["outcome"] == f"refused: the executor sandbox is not available — " \
                                f"{status['reason']}"
    assert report["starts"] == 0


def test_probe_explains_missing_namespaces_with_the_fix() -> None:
    line = sandbox._explain("bwrap: No permissions to creating new namespace, likely because "
                            "the kernel does not allow non-privileged user namespaces.\n")
    assert "kernel.apparmor_restrict_unprivileged_userns" in line
    assert "user.max_user_namespaces" in line


# ---- issue 21: the node dies, no executor is left ----------------------------------------

OWNER = """
import asyncio, sys
import numpy as np
from pathlib import Path
sys.path.insert(0, {repo!r})
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings
from tests.compute import onnx_models

async def main():
    model = onnx_models.runaway(Path({model!r}))
    pool = ExecutorPool(SandboxSettings(timeout_s=600))
    await pool.run(InferenceTask(model, inputs={{"trips": np.array(2)}}))
    executor = pool.executors[0]
    print(" ".join(map(str, executor.sandbox_pids)), flush=True)
    await pool.run(InferenceTask(model, inputs={{"trips": np.array(2**62)}}))

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_sandbox
def test_sigkill_of_the_pool_owner_leaves_no_executor(tmp_path: Path) -> None:
    script = OWNER.format(repo=str(REPO), model=str(tmp_path / "loop.onnx"))
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             cwd=str(REPO))
    try:
        line = owner.stdout.readline() if owner.stdout else b""  # bounded: the pool's timeout
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2, line
        time.sleep(0.5)  # the spinning task is running
        assert all(alive(pid) for pid in pids)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)


@pytest.mark.skipif(not os.path.exists("/usr/bin/bwrap"), reason="no system bubblewrap here")
def test_system_bubblewrap_is_found_with_a_minimal_path() -> None:
    """A node started with a bare PATH (a launcher, a service manager) still finds the
    system's bubblewrap instead of refusing every task as if it were not installed."""
    probe = subprocess.run(
        [sys.executable, "-c", "from oarn_tui.compute import sandbox; s = sandbox.status(); "
         "print(s.bwrap); print(s.ok)"],
        env={"PATH": "/nonexistent", "HOME": "/nonexistent"}, cwd=REPO, capture_output=True,
        text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["/usr/bin/bwrap", str(sandbox.status().ok)]


def test_library_path_keeps_only_entries_inside_the_read_only_prefix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A relocatable bundle's interpreter needs its own lib dir; nothing writable gets in."""
    inside = os.path.join(os.path.realpath(sys.base_prefix), "lib")
    monkeypatch.setenv("LD_LIBRARY_PATH", os.pathsep.join([str(tmp_path), inside, "relative"]))
    assert bwrap.environment(1)["LD_LIBRARY_PATH"] == inside
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert "LD_LIBRARY_PATH" not in bwrap.environment(1)


def test_demo_refuses_at_once_when_executors_cannot_be_sandboxed(tmp_path: Path) -> None:
    """Without a sandbox every worker refuses every task: the demo says why in one line at
    start instead of waiting for tasks that can never finish."""
    from tests.conftest import oarn_env, run_oarn

    home = tmp_path / "home"
    env = {**oarn_env(home), sandbox.FORCE_ENV: "1"}
    result = run_oarn(home, "demo", "--headless", "--tasks", "1", timeout=60, env=env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot run tasks: refused: the executor sandbox is not " \
        "available" in lines[0] and sandbox.FORCE_ENV in lines[0], result.stderr
    assert not (home / "demo").exists()
