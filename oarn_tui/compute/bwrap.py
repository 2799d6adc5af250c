"""The bubblewrap command line that starts an executor, and what the executor may see.

Why bubblewrap: it is the sandbox Flatpak and many build tools run on every desktop; it sets up
user, mount, PID, network, IPC and UTS namespaces, an allow-list root filesystem, drops every
capability, sets no-new-privileges and installs a seccomp filter, with a small, audited C code
base (packaged in Debian as `bubblewrap`). Doing the same by hand with `unshare(2)` and `mount(2)`
from Python failed open and left the rest of the filesystem in view.

The executor sees: the system libraries (`/usr/lib*`, read-only), the Python prefix, the
site-packages directories and the `oarn_tui` package (read-only), `/proc` of its own PID
namespace, a minimal `/dev`, a private size-limited scratch tmpfs (its cwd, HOME and TMPDIR) —
and nothing else: no /tmp, no home, no /run, no /etc beyond the loader cache, so no Unix socket
of the host (D-Bus, ssh-agent, docker.sock) is reachable; abstract sockets stay behind in the
host's network namespace. The model, the tensor memfd, the channel and stderr arrive as file
descriptors. The interpreter starts with `-I -S -B`, so no `.pth`, `sitecustomize`, user site or
PYTHON* variable runs or applies; `sys.path` is set from the list the node computes here.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

import oarn_tui

SANDBOX_UID = 65534  # nobody: the executor is never root inside its namespace
PACKAGE_MOUNT = "/oarn/lib"
SCRATCH = "/scratch"
SYSTEM_LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32")
TOP_LIBRARY_DIRS = ("/lib", "/lib64", "/lib32", "/libx32")
OPTIONAL_FILES = ("/etc/ld.so.cache",)
CPU_TOPOLOGY = "/sys/devices/system/cpu"  # thread pools size themselves from it
PASSED_ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
BOOTSTRAP = ("import sys,json;c=json.loads(sys.argv[1]);sys.path[:]=c['path'];"
             "from oarn_tui.compute.executor_main import main;main(c)")


def interpreter() -> str:
    """The real interpreter binary (a venv's `python` is a symlink to it)."""
    return os.path.realpath(sys.executable)


def site_directories() -> list[str]:
    """The site-packages directories the node itself imports from (no user site unless the
    node runs with it), without `.pth` processing."""
    found: list[str] = []
    candidates = [*site.getsitepackages(), *sys.path]
    for entry in candidates:
        if entry and Path(entry).name in ("site-packages", "dist-packages") \
                and os.path.isdir(entry) and entry not in found:
            found.append(entry)
    return found


def standard_library() -> list[str]:
    """The interpreter's own module directories (stdlib, lib-dynload, its zip)."""
    prefix = os.path.realpath(sys.base_prefix)
    return [entry for entry in sys.path if entry and os.path.realpath(entry).startswith(prefix)
            and Path(entry).name not in ("site-packages", "dist-packages")
            and os.path.exists(entry)]


def sandbox_sys_path() -> list[str]:
    """`sys.path` inside the executor: the package mount, the stdlib, site-packages."""
    return [PACKAGE_MOUNT, *standard_library(), *site_directories()]


def plain_sys_path() -> list[str]:
    """`sys.path` for an unsandboxed executor (`--no-sandbox`): the same list, real paths."""
    return [str(Path(oarn_tui.__file__).parent.parent), *standard_library(),
            *site_directories()]


def environment(threads: int) -> dict[str, str]:
    """The executor's whole environment: what runtimes need, nothing of the node's."""
    env = {"HOME": SCRATCH, "TMPDIR": SCRATCH, "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": str(max(1, threads))}
    env.update({name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ})
    libraries = bound_library_path()
    if libraries:
        env["LD_LIBRARY_PATH"] = libraries
    return env


def bound_library_path() -> str:
    """The node's `LD_LIBRARY_PATH` entries that lie inside the read-only Python prefix (a
    relocatable bundle's interpreter finds its libpython there); entries anywhere else are
    dropped, so no library from a writable place is loaded."""
    prefix = os.path.realpath(sys.base_prefix)
    kept = [entry for entry in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
            if entry and os.path.isabs(entry)
            and (os.path.realpath(entry) + os.sep).startswith(prefix + os.sep)]
    return os.pathsep.join(kept)


def _read_only_binds() -> list[str]:
    args: list[str] = []
    for directory in SYSTEM_LIBRARY_DIRS:
        if os.path.isdir(directory) and not os.path.islink(directory):
            args += ["--ro-bind", directory, directory]
    for directory in TOP_LIBRARY_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    for path in (*OPTIONAL_FILES, CPU_TOPOLOGY):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    prefix = os.path.realpath(sys.base_prefix)
    binary = interpreter()
    args += ["--ro-bind", prefix, prefix]
    if not binary.startswith(prefix + os.sep):
        args += ["--ro-bind", binary, binary]
    for directory in site_directories():
        if not os.path.realpath(directory).startswith(prefix + os.sep):
            args += ["--ro-bind", directory, directory]
    package = str(Path(oarn_tui.__file__).parent)
    args += ["--ro-bind", package, f"{PACKAGE_MOUNT}/oarn_tui"]
    return args


def _gpu_devices(use_gpu: bool) -> list[str]:
    """NVIDIA device nodes, only when GPU use is on and they exist."""
    if not use_gpu or not os.path.isdir("/dev"):
        return []
    args: list[str] = []
    for name in sorted(os.listdir("/dev")):
        if name.startswith("nvidia"):
            args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    if args and os.path.isdir("/proc/driver/nvidia"):
        args += ["--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    return args


def command(config_json: str, *, threads: int, scratch_bytes: int, seccomp_fd: int,
            info_fd: int | None = None, use_gpu: bool = False, bwrap: str = "bwrap",
            entry: str = BOOTSTRAP) -> list[str]:
    """The argv that starts one executor under bubblewrap."""
    args = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID), "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in environment(threads).items():
        args += ["--setenv", name, value]
    args += _read_only_binds()
    args += ["--proc", "/proc", "--dev", "/dev", *_gpu_devices(use_gpu),
             "--size", str(scratch_bytes), "--tmpfs", SCRATCH, "--chdir", SCRATCH,
             "--remount-ro", "/", "--seccomp", str(seccomp_fd)]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return [*args, interpreter(), "-I", "-S", "-B", "-c", entry, config_json]


def plain_command(config_json: str, entry: str = BOOTSTRAP) -> list[str]:
    """The argv of an unsandboxed executor (`--no-sandbox`): still -I -S, still a clean env."""
    return [interpreter(), "-I", "-S", "-B", "-c", entry, config_json]
