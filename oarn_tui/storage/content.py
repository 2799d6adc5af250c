"""`ContentStore`: the one interface the node uses for files by CID, over either backend.

`LocalContentStore` is the built-in store (UnixFS importer + Blockstore); `kubo.KuboContentStore`
talks to an IPFS daemon. Both import with the same options (CIDv1, raw leaves, 256 KiB chunks,
balanced layout), so the same bytes get the same CID whichever backend is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from oarn_tui.fsutil import atomic_write_chunks
from oarn_tui.storage.blockstore import BlockNotFound, Blockstore
from oarn_tui.storage.cid import CID, as_cid
from oarn_tui.storage.limits import ContentRefused, DagLimits
from oarn_tui.storage.unixfs import ImportOptions, iter_file
from oarn_tui.storage.unixfs import import_bytes as unixfs_import_bytes
from oarn_tui.storage.unixfs import import_path as unixfs_import_path


class ContentNotFound(LookupError):
    """The content (or one of its blocks) is not available in this store."""


class DigestMismatch(ContentRefused):
    """A file's bytes do not hash to the digest it was expected to have."""


class ContentStore(Protocol):
    """Files by CID; pins carry a reason and an optional expiry (Unix time)."""

    async def add_file(self, source: Path | bytes) -> CID: ...

    async def get_file(self, cid: CID | str, dest: Path | None = None) -> bytes | None:
        """The file's bytes, or None after writing them atomically to `dest`."""
        ...

    async def has(self, cid: CID | str) -> bool: ...

    async def pin(self, cid: CID | str, reason: str, expires_at: float | None = None) -> None: ...

    async def unpin(self, cid: CID | str, reason: str) -> bool: ...

    async def gc(self) -> dict[str, int]: ...

    async def stat(self) -> dict[str, object]: ...


def write_chunks_atomically(dest: Path, chunks: Iterable[bytes]) -> int:
    """Write byte chunks to `dest` via a temp file + rename; return the size."""
    return atomic_write_chunks(dest, chunks, mode=0o644)


class LocalContentStore:
    """The built-in backend: blocks in a local Blockstore. Files are read back under `limits`
    (the node's `storage.max_fetch_bytes` / `max_dag_*`), so a DAG bomb that reached the store
    is refused while it is assembled, never written out."""

    backend = "local"

    def __init__(self, blocks: Blockstore, options: ImportOptions | None = None,
                 limits: DagLimits | None = None) -> None:
        self.blocks = blocks
        self.options = options or ImportOptions.v1()
        self.limits = limits or DagLimits()

    def add_file_sync(self, source: Path | bytes, pin_reason: str | None = None) -> CID:
        """Import into the blockstore; optionally pin the root before the import's hold ends."""
        with self.blocks.hold():
            if isinstance(source, bytes | bytearray):
                result = unixfs_import_bytes(bytes(source), self.options, self.blocks.put)
            else:
                result = unixfs_import_path(Path(source), self.options, self.blocks.put)
            if pin_reason is not None:
                self.blocks.pin(result.cid, pin_reason)
        return result.cid

    async def add_file(self, source: Path | bytes) -> CID:
        return await asyncio.to_thread(self.add_file_sync, source)

    def get_file_sync(self, cid: CID | str, dest: Path | None = None,
                      limits: DagLimits | None = None) -> bytes | None:
        """The file's bytes, or None after writing them to `dest` through a temp file (removed
        if a limit is broken half way: nothing half-written is left)."""
        root = as_cid(cid)
        chunks = iter_file(root, self.blocks.get, verify=False, limits=limits or self.limits)
        try:
            if dest is None:
                return b"".join(chunks)
            write_chunks_atomically(dest, chunks)
            return None
        except BlockNotFound as exc:
            raise ContentNotFound(f"{root} is not complete in the local store "
                                  f"(missing block {exc.args[0]})") from None

    async def get_file(self, cid: CID | str, dest: Path | None = None,
                       limits: DagLimits | None = None) -> bytes | None:
        return await asyncio.to_thread(self.get_file_sync, cid, dest, limits)

    def save_verified_sync(self, cid: CID | str, dest: Path, sha256_hex: str,
                           limits: DagLimits | None = None) -> int:
        """Stream the file to a temp file beside `dest` while hashing it, then rename it to
        `dest` only if its SHA-256 is `sha256_hex` (`0x` optional). Memory stays at one block;
        a limit broken while streaming or a wrong digest raises `ContentRefused` and leaves
        neither `dest` nor a temp file. Returns the size."""
        root = as_cid(cid)
        expected = sha256_hex.lower().removeprefix("0x")
        digest = hashlib.sha256()
        chunks = iter_file(root, self.blocks.get, verify=False, limits=limits or self.limits)

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != expected:  # raised before the rename
                raise DigestMismatch(f"{root} hashes to 0x{digest.hexdigest()}, "
                                     f"not 0x{expected}")

        try:
            return write_chunks_atomically(dest, hashed())
        except BlockNotFound as exc:
            raise ContentNotFound(f"{root} is not complete in the local store "
                                  f"(missing block {exc.args[0]})") from None

    async def save_verified(self, cid: CID | str, dest: Path, sha256_hex: str,
                            limits: DagLimits | None = None) -> int:
        return await asyncio.to_thread(self.save_verified_sync, cid, dest, sha256_hex, limits)

    async def has(self, cid: CID | str) -> bool:
        return await asyncio.to_thread(self.blocks.dag_complete, cid)

    async def pin(self, cid: CID | str, reason: str, expires_at: float | None = None) -> None:
        await asyncio.to_thread(self.blocks.pin, cid, reason, expires_at)

    async def unpin(self, cid: CID | str, reason: str) -> bool:
        return await asyncio.to_thread(self.blocks.unpin, cid, reason)

    async def gc(self) -> dict[str, int]:
        """Remove every unpinned block (as `ipfs repo gc` does)."""
        report = await asyncio.to_thread(self.blocks.collect_garbage, None)
        return report.to_dict()

    def stat_sync(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "blocks": self.blocks.count(),
            "bytes": self.blocks.size(),
            "max_bytes": self.blocks.max_bytes,
            "pins": len(self.blocks.pins()),
            "corrupt_blocks_removed": self.blocks.corrupt_detected,
            "path": str(self.blocks.root),
        }

    async def stat(self) -> dict[str, object]:
        return await asyncio.to_thread(self.stat_sync)


def local_root_cid(source: Path | bytes, options: ImportOptions | None = None) -> CID:
    """The CID `source` gets with `options`, without storing anything."""
    if isinstance(source, bytes | bytearray):
        return unixfs_import_bytes(bytes(source), options).cid
    return unixfs_import_path(Path(source), options).cid


__all__ = ["ContentNotFound", "ContentStore", "DigestMismatch", "LocalContentStore",
           "local_root_cid", "write_chunks_atomically"]
