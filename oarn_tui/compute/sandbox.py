"""Isolation applied inside a worker process before it loads a model.

Linux, in order: environment scrubbed to what runtimes need; new network namespace (no
interfaces up, so no network); new mount namespace with an empty read-only tmpfs over the node's
home (the model was opened first and is read through its file descriptor); every capability and
the bounding set dropped with no-new-privileges, so root inside cannot unmount the tmpfs or reach
the node through /proc/<parent>/; then resource limits: address space (RLIMIT_AS), open files
(RLIMIT_NOFILE) and, per task, CPU time (RLIMIT_CPU). As root the namespaces come from `unshare`;
otherwise an unprivileged user namespace is tried. Whatever could not be applied is reported in
plain words in `SandboxReport.notes`, never silently skipped. Other systems get the limits only,
and the report says so. Not covered: a shared /tmp and the rest of the filesystem stay readable
as for any process of the node's user (only the home is hidden).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import sys
from dataclasses import dataclass, field
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000
MIB = 1024 * 1024
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SAFE_ENV_PREFIXES = ("PATH", "LANG", "LC_", "LD_LIBRARY_PATH", "CUDA_", "NVIDIA_", "OMP_",
                     "MKL_", "OPENBLAS_", "GGML_", "TMPDIR", "PYTHONPATH", "PYTHONHASHSEED",
                     "SYSTEMROOT")


@dataclass
class SandboxReport:
    """What isolation a worker actually got (returned with every result)."""

    network_isolated: bool = False
    home_hidden: bool = False
    user: str = ""
    limits: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"network_isolated": self.network_isolated, "home_hidden": self.home_hidden,
                "user": self.user, "limits": dict(self.limits), "notes": list(self.notes)}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _unshare(libc: ctypes.CDLL, flags: int) -> int:
    """0 on success, else errno."""
    if libc.unshare(ctypes.c_int(flags)) == 0:
        return 0
    return ctypes.get_errno()


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None,
           flags: int, data: str | None = None) -> int:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) == 0:
        return 0
    return ctypes.get_errno()


def _enter_namespaces(libc: ctypes.CDLL, report: SandboxReport) -> bool:
    """New network + mount namespaces; True when the mount namespace is usable."""
    error = _unshare(libc, CLONE_NEWNET | CLONE_NEWNS)
    if error == 0:
        report.network_isolated = True
        return True
    uid, gid = os.getuid(), os.getgid()
    user_error = _unshare(libc, CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)
    if user_error == 0:
        try:
            with open("/proc/self/setgroups", "w") as handle:
                handle.write("deny")
            with open("/proc/self/uid_map", "w") as handle:
                handle.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as handle:
                handle.write(f"{gid} {gid} 1")
        except OSError as exc:
            report.notes.append(f"user namespace id mapping failed: {exc}")
        report.network_isolated = True
        report.notes.append("namespaces from an unprivileged user namespace")
        return True
    report.notes.append(
        f"network NOT isolated: unshare failed ({os.strerror(error)}; unprivileged user "
        f"namespaces: {os.strerror(user_error)}) — the model could reach the network")
    return False


def _hide_paths(libc: ctypes.CDLL, paths: list[str], report: SandboxReport) -> None:
    error = _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    if error:
        report.notes.append(f"home NOT hidden: making mounts private failed "
                            f"({os.strerror(error)})")
        return
    hidden = []
    for path in paths:
        if not os.path.isdir(path):
            continue
        error = _mount(libc, "tmpfs", path, "tmpfs",
                       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0500")
        if error:
            report.notes.append(f"home NOT hidden: tmpfs over {path} failed "
                                f"({os.strerror(error)})")
            return
        hidden.append(path)
    os.chdir("/")
    report.home_hidden = bool(hidden)


def isolate(hide_paths: list[str], *, isolate_network: bool = True) -> SandboxReport:
    """Apply namespaces (Linux). Call after opening the model, before loading it."""
    report = SandboxReport()
    if not sys.platform.startswith("linux"):
        report.notes.append(f"no namespaces on {sys.platform}: network and home are NOT "
                            "isolated; only resource limits apply")
        return report
    if not isolate_network:
        report.notes.append("network isolation disabled by the caller")
        return report
    libc = _libc()
    if _enter_namespaces(libc, report):
        _hide_paths(libc, hide_paths, report)
    return report


def limit_memory(report: SandboxReport, memory_mb: int) -> None:
    """Cap the address space; allocations beyond it fail inside the worker."""
    limit = memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    report.limits["address_space_mb"] = memory_mb


def limit_open_files(report: SandboxReport, count: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(count, hard) if hard != resource.RLIM_INFINITY else count
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    report.limits["open_files"] = count


def limit_cpu_for_task(seconds: float) -> None:
    """Allow `seconds` more CPU time from now (the worker is reused, so the limit moves)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = int(used + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def scrub_environment() -> None:
    """Drop environment variables a model has no use for (tokens, keys, OARN_* settings)."""
    for name in list(os.environ):
        if not name.startswith(SAFE_ENV_PREFIXES):
            del os.environ[name]


def drop_capabilities(report: SandboxReport) -> None:
    """Give up every capability (and the bounding set) and forbid regaining any.

    Called right after the namespaces are set up, while the worker is still single-threaded,
    so every runtime thread inherits it. Root without capabilities cannot unmount the tmpfs over
    the home, cannot read the node through /proc/<parent>/ (ptrace checks need the parent's
    capabilities), and gains nothing by exec. The uid is kept so the interpreter can still
    import modules from wherever Python is installed.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = _libc()
    libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
               ctypes.c_ulong(0))
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), ctypes.c_ulong(0),
                      ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            break
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable × 2 words, all zero
    if libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        report.notes.append(f"capabilities NOT dropped: capset failed "
                            f"({os.strerror(ctypes.get_errno())})")
        report.user = f"uid {os.geteuid()} with capabilities"
        return
    report.user = f"uid {os.geteuid()} without capabilities"
