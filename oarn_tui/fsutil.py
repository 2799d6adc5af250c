"""Small filesystem helpers: atomic writes with restrictive permissions."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write_chunks(path: Path, chunks: Iterable[bytes], *, mode: int = 0o600,
                        durable: bool = True) -> int:
    """Write `chunks` to `path` via a temp file and a rename, so a crash never leaves it half
    written; `durable` also fsyncs the file and its directory. Returns the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    size = 0
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if durable:
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return size


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600,
                       durable: bool = True) -> None:
    atomic_write_chunks(path, (data,), mode=mode, durable=durable)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable only by the owner."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path
