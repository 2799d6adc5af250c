"""The executor sandbox: which layers hold on this machine, and the limits an executor sets.

An executor is an interpreter exec'd under bubblewrap (`compute/bwrap.py`: user, PID, network,
IPC and UTS namespaces, an allow-list read-only filesystem, no capabilities, no-new-privileges,
die-with-parent, a new session, an empty environment, `python -I -S`) with a libseccomp filter
(`compute/seccomp.py`: no processes, no sockets but AF_UNIX, no namespace, mount, ptrace, bpf,
keyring or io_uring calls). Inside, before it loads anything, the executor caps core dumps (0),
file size and open files, then the address space after its runtime is imported, and CPU time per
task; the node kills the whole sandbox (its PID namespace) at the wall-clock timeout.

Fail closed: `status()` runs bwrap once with the real flags and filter (cached per process) and
says which layers hold. When it is not ok, the pool refuses every sandboxed task with the reason
(which package or kernel setting to fix), so network tasks are refused rather than run bare; only
`oarn local --no-sandbox` runs without it. `OARN_SANDBOX_FORCE_UNAVAILABLE=1` makes the probe
report not-ok (tests prove the refusal with it).

Not covered: cgroups (this code does not create cgroup v2 groups; memory is bounded by
RLIMIT_AS, processes by the seccomp filter, which forbids creating any, root included), Landlock
(the mount namespace already hides everything outside the allow-list).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

FORCE_ENV = "OARN_SANDBOX_FORCE_UNAVAILABLE"
MIB = 1024 * 1024
PROBE_TIMEOUT_S = 20.0
TRUSTED_BIN_DIRS = ("/usr/bin", "/bin", "/usr/local/bin")
SANDBOX_LAYERS = ("bubblewrap", "user-namespace", "pid-namespace", "network-namespace",
                  "ipc-uts-namespaces", "filesystem-allowlist", "no-capabilities",
                  "no-new-privileges", "seccomp", "no-child-processes", "die-with-parent",
                  "clean-environment", "isolated-interpreter", "rlimits")
PLAIN_LAYERS = ("clean-environment", "isolated-interpreter", "rlimits")
USERNS_HINT = ("allow user namespaces: sysctl kernel.apparmor_restrict_unprivileged_userns=0 "
               "(Ubuntu 24.04+), sysctl user.max_user_namespaces=15000, or in Docker run with "
               "--security-opt seccomp=unconfined (its default profile refuses unshare)")
PROBE_ENTRY = """
import json, os, socket, sys
canaries = json.loads(sys.argv[1]).get("canaries", [])
report = {"uid": os.getuid(), "host_files_visible": [p for p in canaries if os.path.lexists(p)],
          "environ": sorted(os.environ)}
try:
    pid = os.fork()
except OSError:
    report["fork_denied"] = True
else:
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    report["fork_denied"] = False
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    report["inet_denied"] = False
except OSError:
    report["inet_denied"] = True
print(json.dumps(report))
"""


@dataclass(frozen=True)
class SandboxStatus:
    """Which isolation layers hold here; `reason` says why not and how to fix it."""

    ok: bool
    layers: tuple[str, ...]
    reason: str = ""
    bwrap: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "layers": list(self.layers), "reason": self.reason,
                "bwrap": self.bwrap}

    def refusal(self) -> str:
        """The one line a refused network task carries."""
        return f"refused: the executor sandbox is not available — {self.reason}"


_CACHE: dict[str, SandboxStatus] = {}
_LOCK = threading.Lock()


def status(refresh: bool = False) -> SandboxStatus:
    """Probe once per process (and per value of OARN_SANDBOX_FORCE_UNAVAILABLE). Blocking:
    the first call runs bwrap (~10-50 ms)."""
    key = os.environ.get(FORCE_ENV, "")
    with _LOCK:
        if refresh or key not in _CACHE:
            _CACHE[key] = _probe(key)
        return _CACHE[key]


def peek() -> SandboxStatus | None:
    """The cached status, or None before the first probe (never blocks)."""
    return _CACHE.get(os.environ.get(FORCE_ENV, ""))


def _unavailable(reason: str, bwrap: str = "") -> SandboxStatus:
    return SandboxStatus(ok=False, layers=PLAIN_LAYERS, reason=reason, bwrap=bwrap)


def find_bwrap() -> str | None:
    """bubblewrap from the system's own directories first (root-owned, so a writable directory
    early in `PATH` cannot substitute it, and a node started with a minimal `PATH` — a service
    manager, a launcher — still finds it), else from `PATH`."""
    for directory in TRUSTED_BIN_DIRS:
        candidate = os.path.join(directory, "bwrap")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("bwrap")


def _probe(forced: str) -> SandboxStatus:
    if forced not in ("", "0"):
        return _unavailable(f"forced off by {FORCE_ENV}={forced} (unset it to use the sandbox)")
    if not sys.platform.startswith("linux"):
        return _unavailable(f"the executor sandbox needs Linux (bubblewrap); this is "
                            f"{sys.platform}")
    path = find_bwrap()
    if path is None:
        return _unavailable("bubblewrap is not installed: install the bubblewrap package "
                            "(apt-get install bubblewrap)")
    from oarn_tui.compute import bwrap, seccomp

    try:
        filter_fd = seccomp.filter_fd()
    except seccomp.SeccompUnavailable as exc:
        return _unavailable(str(exc), path)
    canary = tempfile.NamedTemporaryFile(prefix="oarn-sandbox-canary-")  # noqa: SIM115
    canaries = [canary.name, "/etc/passwd"]  # a fresh host file, one outside the allow-list
    try:
        argv = bwrap.command(json.dumps({"canaries": canaries}), threads=1, scratch_bytes=MIB,
                             seccomp_fd=filter_fd, bwrap=path, entry=PROBE_ENTRY)
        done = subprocess.run(argv, pass_fds=(filter_fd,), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=PROBE_TIMEOUT_S, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _unavailable(f"bubblewrap did not start: {exc}", path)
    finally:
        os.close(filter_fd)
        canary.close()
    if done.returncode != 0:
        return _unavailable(_explain(done.stderr.decode(errors="replace")), path)
    try:
        report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return _unavailable("the sandbox probe printed no report", path)
    missing = [name for name, held in (("seccomp (fork denied)", report.get("fork_denied")),
                                       ("seccomp (IP sockets denied)",
                                        report.get("inet_denied")),
                                       ("filesystem allow-list",
                                        report.get("host_files_visible") == []),
                                       ("user namespace", report.get("uid") == bwrap.SANDBOX_UID))
               if not held]
    if missing:
        return _unavailable(f"bubblewrap ran but these layers did not hold: "
                            f"{', '.join(missing)}", path)
    return SandboxStatus(ok=True, layers=SANDBOX_LAYERS, bwrap=path)


def _explain(stderr: str) -> str:
    """One line from bwrap's complaint, with the setting that fixes it."""
    line = next((text.strip() for text in stderr.splitlines() if text.startswith("bwrap:")),
                stderr.strip().splitlines()[-1] if stderr.strip() else "no message")
    lowered = line.lower()
    if "source path" in lowered:
        return (f"bubblewrap cannot bind the Python runtime into the sandbox ({line}); run the "
                "node as a user who can read its Python installation")
    if "seccomp" in lowered:
        return (f"the kernel refused the seccomp filter ({line}); it needs "
                "CONFIG_SECCOMP_FILTER")
    if any(word in lowered for word in ("namespace", "uid map", "permission", "not permitted")):
        return f"bubblewrap cannot create namespaces ({line}); {USERNS_HINT}"
    return f"bubblewrap failed: {line}"


@dataclass
class SandboxReport:
    """What isolation one executor got (returned with every result)."""

    sandboxed: bool
    layers: tuple[str, ...]
    limits: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from oarn_tui.compute.bwrap import SANDBOX_UID

        return {"sandboxed": self.sandboxed, "layers": list(self.layers),
                "network_isolated": self.sandboxed, "home_hidden": self.sandboxed,
                "filesystem": "allow-list" if self.sandboxed else "the node's",
                "user": f"uid {SANDBOX_UID} in a user namespace, no capabilities"
                if self.sandboxed else f"uid {os.geteuid()} (no sandbox)",
                "limits": dict(self.limits), "notes": list(self.notes)}


# ---- applied by the executor itself (compute/executor_main.py), inside the sandbox ----

def limit_start(file_size_mb: int) -> dict[str, Any]:
    """Before anything else: no core dumps, bounded file writes (hard limits, so nothing the
    executor runs can raise them again)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = file_size_mb * MIB
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return {"core_dumps": 0, "file_size_mb": file_size_mb}


def limit_memory(memory_mb: int) -> None:
    """Cap the address space; allocations beyond it fail inside the executor."""
    limit = memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def limit_open_files(count: int) -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(count, hard) if hard != resource.RLIM_INFINITY else count
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return count


def limit_cpu_for_task(seconds: float) -> None:
    """Allow `seconds` more CPU time from now (the executor is reused, so the limit moves)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = int(used + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
