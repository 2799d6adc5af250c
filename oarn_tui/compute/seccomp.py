"""The executor's seccomp filter, compiled by libseccomp (ctypes on `libseccomp.so.2`).

Why libseccomp and a deny list: libseccomp is the library Docker, Flatpak, systemd and
bubblewrap's own users compile filters with; it resolves syscall numbers per architecture and
kills a process that switches ABI (the "bad arch" action), which hand-written BPF gets wrong.
The filter is exported as BPF and handed to bubblewrap (`--seccomp FD`), which installs it with
no-new-privileges right before it execs the executor, so bwrap's own set-up is not filtered.
ONNX Runtime, torch and llama.cpp need a wide, version-dependent set of syscalls, so the policy
is the Flatpak/Docker one: allow by default, deny what an inference process has no use for and
what widens kernel attack surface or escapes the namespaces:

* creating processes: fork, vfork and any clone without CLONE_THREAD (threads still work), so a
  fork bomb or a leftover child is impossible whatever uid the sandbox maps to (as real root,
  RLIMIT_NPROC does not bind); clone3 answers ENOSYS so glibc falls back to clone;
* sockets other than AF_UNIX (no IP, netlink, packet, vsock... even inside the empty network
  namespace);
* namespaces and mounts: unshare, setns, clone with CLONE_NEW*, mount family, pivot_root, chroot;
* debugging and cross-process access: ptrace, process_vm_readv/writev, kcmp, pidfd_getfd;
* kernel surfaces: bpf, perf_event_open, userfaultfd, io_uring, keyctl/add_key/request_key,
  module loading, kexec, reboot, swap, acct, quotactl, syslog, clock setting, iopl/ioperm,
  open_by_handle_at/name_to_handle_at.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from functools import lru_cache

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE, SCMP_CMP_MASKED_EQ = 1, 7
AF_UNIX = 1
CLONE_THREAD = 0x00010000
CLONE_NEW_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000,
                   "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
                   "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}
DENIED = (
    "fork", "vfork", "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot",
    "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm",
    "open_by_handle_at", "name_to_handle_at", "uselib", "lookup_dcookie", "vhangup",
    "sethostname", "setdomainname")


class SeccompUnavailable(RuntimeError):
    """libseccomp is missing or refused to build the filter; the message says how to fix it."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        raise SeccompUnavailable("libseccomp is not installed (apt-get install libseccomp2)") \
            from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _add(lib: ctypes.CDLL, ctx: int, action: int, name: str,
         *conditions: tuple[int, int, int, int]) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:  # not a syscall on this architecture (e.g. `fork` on arm64)
        return
    array = (_ArgCmp * max(1, len(conditions)))(*[_ArgCmp(*c) for c in conditions])
    result = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array)
    if result < 0:
        raise SeccompUnavailable(f"libseccomp refused the rule for {name}: "
                                 f"{os.strerror(-result)}")


@lru_cache(maxsize=1)
def filter_bpf() -> bytes:
    """The compiled filter (BPF program bytes) for bwrap's `--seccomp FD`; cached."""
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("libseccomp could not start a filter")
    try:
        eperm = _errno_action(errno.EPERM)
        for name in DENIED:
            _add(lib, ctx, eperm, name)
        _add(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        _add(lib, ctx, eperm, "clone", (0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))
        for flag in CLONE_NEW_FLAGS.values():
            _add(lib, ctx, eperm, "clone", (0, SCMP_CMP_MASKED_EQ, flag, flag))
        _add(lib, ctx, _errno_action(errno.EAFNOSUPPORT), "socket",
             (0, SCMP_CMP_NE, AF_UNIX, 0))
        _add(lib, ctx, _errno_action(errno.EAFNOSUPPORT), "socketpair",
             (0, SCMP_CMP_NE, AF_UNIX, 0))
        read_fd, write_fd = os.pipe()
        try:
            result = lib.seccomp_export_bpf(ctx, write_fd)
            os.close(write_fd)
            write_fd = -1
            if result < 0:
                raise SeccompUnavailable(f"libseccomp could not export the filter: "
                                         f"{os.strerror(-result)}")
            chunks = []
            while chunk := os.read(read_fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
    finally:
        lib.seccomp_release(ctx)


def filter_fd() -> int:
    """A readable descriptor holding the filter (a memfd, rewound), for `pass_fds`."""
    program = filter_bpf()
    fd = os.memfd_create("oarn-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
