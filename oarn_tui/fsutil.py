"""Small filesystem helpers: atomic writes with restrictive permissions."""

from __future__ import annotations

import contextlib
import os
import stat
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
    """Create `path` (and parents) readable only by the owner.

    Only a directory this call creates is given mode 0700: an existing one (`/tmp`, a user's
    own folder) keeps its mode, since changing the mode of a directory we did not make can
    lock others out of it or hide that it was never private.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return path
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


class UnsafeDirectory(OSError):
    """A directory that must be private is a link, is owned by another user, or is open to
    other users; its message is one line that names the directory and the fix."""


def verified_private_dir(path: Path, *, create: bool = True,
                         trusted_uids: frozenset[int] | None = None) -> Path:
    """`path` as a directory only its owner can enter, or `UnsafeDirectory`.

    With `create`, a missing directory is created with mode 0700. An existing one must be a
    real directory (not a symbolic link), owned by one of `trusted_uids` (default: this
    process's effective uid) and give no permission to group or others. Nothing is chmodded:
    a directory someone else prepared is refused, never "fixed", because they may still hold
    files or a handle in it.
    """
    path = Path(path)
    trusted = trusted_uids if trusted_uids is not None else frozenset({os.geteuid()})
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeDirectory(f"{path} does not exist") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeDirectory(f"{path} is a symbolic link, not a private directory; refusing "
                              f"to use it (remove it: `rm {path}`)")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory; refusing to use it (remove it)")
    if info.st_uid not in trusted:
        raise UnsafeDirectory(f"{path} is owned by uid {info.st_uid}, not by this user "
                              f"(uid {os.geteuid()}); refusing to use it (another user may "
                              f"control it: remove it as root or choose another home)")
    if info.st_mode & 0o077:
        raise UnsafeDirectory(f"{path} has mode {stat.S_IMODE(info.st_mode):04o}, open to other "
                              f"users; refusing to use it (`chmod 700 {path}` if it is yours)")
    return path
