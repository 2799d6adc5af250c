"""`oarn` in a real pseudo-terminal, for the terminal tests and the first-paint benchmark
(`benchmarks/bench_tui.py`). A unique module name, like `tui_seed`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """`oarn --home HOME` on a pty of `size` (columns, rows); output is accumulated as bytes."""

    def __init__(self, home: Path, size: tuple[int, int] = (100, 30)) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: become `oarn --home HOME`, with no inherited OARN_* settings
            os.chdir(ROOT)
            env = {k: v for k, v in os.environ.items() if not k.startswith("OARN_")}
            env.update({"TERM": "xterm-256color", "HOME": str(home.parent),
                        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
            os.execve(sys.executable, [sys.executable, "-m", "oarn_tui", "--home", str(home)],
                      env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.pid, self.fd, self.output = pid, fd, b""

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    break
        return needle in self.output

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until(b"\x00never", 0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        return None

    def kill(self) -> None:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        os.close(self.fd)
