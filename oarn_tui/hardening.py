"""Keep key material out of core dumps and away from same-user debuggers.

`harden_process()` sets the soft RLIMIT_CORE to 0 (no core file) and, on Linux,
PR_SET_DUMPABLE to 0 (no core dump whatever the limit; no ptrace attach or /proc/<pid>/mem read
by other processes of the same user). The hard core limit is left alone (lowering it cannot be
undone without CAP_SYS_RESOURCE), so a child that wants core dumps may raise its soft limit;
children inherit the soft limit, while `execve` resets "dumpable", so executor workers started
with exec are unaffected by it. Called first thing in the daemon and wherever a process
decrypts the vault (`vault.open_sealed`: CLI commands, the embedded dashboard runtime).
Idempotent and cheap; failures (another OS, a sandbox forbidding prctl) are ignored, as they
only lose the extra protection.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from typing import Any

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def _libc() -> Any:
    name = ctypes.util.find_library("c") or "libc.so.6"
    return ctypes.CDLL(name, use_errno=True)


def harden_process() -> dict[str, Any]:
    """Forbid core dumps and (Linux) ptrace/dumps of this process; returns `hardening_state()`."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return hardening_state()


def hardening_state() -> dict[str, Any]:
    """What this process allows: `core_limit` (bytes, soft limit) and `dumpable` (None when
    unknown on this OS). For `status --json`, so the protection can be checked from outside."""
    core_limit: int | None = None
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        core_limit = resource.getrlimit(resource.RLIMIT_CORE)[0]
    dumpable: bool | None = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            dumpable = bool(_libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
    return {"core_limit": core_limit, "dumpable": dumpable}
