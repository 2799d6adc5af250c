"""Persistent, verified block store with recursive pins (reasons + expiry), a size limit and GC.

Layout under `root` (the home's `storage.blocks_path`), like Kubo's flatfs:
`blocks/<shard>/<KEY>.data`, where KEY is the multihash in base32 upper case and the shard is the
two characters before its last one. Each block is written to a temp file and renamed, so a crash
never leaves a half-written block under its name; every block is re-hashed on put and on get, and a
block whose bytes no longer match is reported, deleted and treated as missing.

`index.sqlite` keeps per-block size and last access (for oldest-access-first GC), the links of
dag-pb blocks (so recursive pins are walked without reading blocks) and the pins. A pin is
(root CID, reason) with an optional expiry, so a requester's "task input" pin and an executor's
"result" pin on the same CID coexist; a block is protected while any active pin reaches it.

Thread-safe: one lock serialises every operation (the p2p layer calls in from its trio thread).

Blocks, pins and GC stay in one module (~480 lines) because they are one state: a put, a pin, a
hold and a GC pass change the block files and the same index under that one lock, and GC is only
correct if it sees every pin and hold of the same instant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from oarn_tui.fsutil import atomic_write_bytes
from oarn_tui.storage.cid import CID, DAG_PB, as_cid, base32_decode
from oarn_tui.storage.dagpb import DagPBError, block_links

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, last_access REAL NOT NULL);
CREATE INDEX IF NOT EXISTS blocks_by_access ON blocks(last_access);
CREATE TABLE IF NOT EXISTS links (
    parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child));
CREATE TABLE IF NOT EXISTS pins (
    key TEXT NOT NULL, cid TEXT NOT NULL, reason TEXT NOT NULL, expires_at REAL,
    created_at REAL NOT NULL, PRIMARY KEY (key, reason));
"""

_REACHABLE = """
WITH RECURSIVE reach(key) AS (
    {seed}
    UNION SELECT links.child FROM links JOIN reach ON links.parent = reach.key)
SELECT key FROM reach
"""

_ACTIVE_PINS = "SELECT key FROM pins WHERE expires_at IS NULL OR expires_at > ?"


class BlockNotFound(KeyError):
    """The block is not in the store."""


class BlockCorrupt(BlockNotFound):
    """The block on disk no longer matched its CID; it has been removed."""


class BlockMismatch(ValueError):
    """Bytes offered for a CID do not hash to it (or are not valid dag-pb)."""


@dataclass(frozen=True)
class PinRecord:
    cid: str
    reason: str
    expires_at: float | None
    created_at: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class GcReport:
    removed_blocks: int
    freed_bytes: int
    remaining_bytes: int
    expired_pins: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Blockstore:
    """Blocks on disk keyed by multihash; see the module docstring for layout and guarantees."""

    def __init__(self, root: Path, *, max_bytes: int | None = None, durable: bool = True,
                 on_corrupt: Callable[[CID], None] | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.durable = durable
        self.on_corrupt = on_corrupt
        self.corrupt_detected = 0
        self._lock = threading.RLock()
        self._blocks_dir = self.root / "blocks"
        self._blocks_dir.mkdir(parents=True, exist_ok=True)
        index_path = self.root / "index.sqlite"
        fresh = not index_path.exists()
        self._db = sqlite3.connect(index_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        if fresh:
            self._rebuild_index()
        self._total = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM blocks")
                          .fetchone()[0])
        self._warned_full = False
        self._holds: list[set[str]] = []
        self._shards: set[str] = set()
        self._gc_threshold = max_bytes if max_bytes is not None else 0

    # -- blocks -----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self._blocks_dir / key[-3:-1] / f"{key}.data"

    def has(self, cid: CID | str) -> bool:
        key = as_cid(cid).key
        with self._lock:
            return self._db.execute("SELECT 1 FROM blocks WHERE key = ?", (key,)).fetchone() \
                is not None

    def get(self, cid: CID | str) -> bytes:
        """The block's bytes, verified; raises BlockNotFound / BlockCorrupt."""
        cid = as_cid(cid)
        key = cid.key
        with self._lock:
            try:
                data = self._path(key).read_bytes()
            except FileNotFoundError:
                self._forget(key)
                raise BlockNotFound(str(cid)) from None
            if not cid.verifies(data):
                self._drop_corrupt(cid)
                raise BlockCorrupt(str(cid))
            self._db.execute("UPDATE blocks SET last_access = ? WHERE key = ?",
                             (time.time(), key))
            return data

    def get_or_none(self, cid: CID | str) -> bytes | None:
        try:
            return self.get(cid)
        except BlockNotFound:
            return None

    def put(self, cid: CID | str, data: bytes) -> bool:
        """Store a block after checking it hashes to `cid`; False if it was already there."""
        cid = as_cid(cid)
        if not cid.verifies(data):
            raise BlockMismatch(f"data does not hash to {cid}")
        try:
            children = block_links(cid, data)
        except DagPBError as exc:
            raise BlockMismatch(f"{cid} is not valid dag-pb: {exc}") from None
        key = cid.key
        with self._lock:
            if self._db.execute("SELECT 1 FROM blocks WHERE key = ?", (key,)).fetchone():
                if self._path(key).exists():
                    self._db.execute("UPDATE blocks SET last_access = ? WHERE key = ?",
                                     (time.time(), key))
                    return False
                self._forget(key)
            self._write_file(self._path(key), data)
            with self._transaction():
                self._db.execute("INSERT INTO blocks VALUES (?, ?, ?)",
                                 (key, len(data), time.time()))
                self._db.executemany("INSERT OR IGNORE INTO links VALUES (?, ?)",
                                     [(key, child.key) for child in children])
            self._total += len(data)
            for held in self._holds:
                held.add(key)
            if self.max_bytes is not None and self._total > self._gc_threshold:
                self._gc(self.max_bytes, None)
                if self._total > self.max_bytes:  # all pinned: do not rescan on every put
                    self._gc_threshold = self._total + self.max_bytes // 20
            return True

    def put_many(self, blocks: list[tuple[CID, bytes]]) -> int:
        """Store blocks the caller has already hashed to their CIDs (bitswap's receive path),
        in one index transaction and without an fsync per block: a fetched block can be
        fetched again, and every read re-hashes it, so a block torn by a power loss is dropped
        and fetched anew, never served. Returns how many were new."""
        parsed: list[tuple[str, bytes, tuple[CID, ...]]] = []
        for cid, data in blocks:
            try:
                parsed.append((cid.key, data, block_links(cid, data)))
            except DagPBError as exc:
                raise BlockMismatch(f"{cid} is not valid dag-pb: {exc}") from None
        new = 0
        with self._lock:
            fresh: list[tuple[str, bytes, tuple[CID, ...]]] = []
            for key, data, children in parsed:
                if self._db.execute("SELECT 1 FROM blocks WHERE key = ?", (key,)).fetchone():
                    if self._path(key).exists():
                        continue
                    self._forget(key)
                path = self._path(key)
                if path.parent.name not in self._shards:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._shards.add(path.parent.name)
                atomic_write_bytes(path, data, mode=0o644, durable=False)
                fresh.append((key, data, children))
            if not fresh:
                return 0
            now = time.time()
            with self._transaction():
                self._db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?)",
                                     [(key, len(data), now) for key, data, _ in fresh])
                self._db.executemany("INSERT OR IGNORE INTO links VALUES (?, ?)",
                                     [(key, child.key) for key, _, children in fresh
                                      for child in children])
            for key, data, _ in fresh:
                self._total += len(data)
                new += 1
                for held in self._holds:
                    held.add(key)
            if self.max_bytes is not None and self._total > self._gc_threshold:
                self._gc(self.max_bytes, None)
                if self._total > self.max_bytes:
                    self._gc_threshold = self._total + self.max_bytes // 20
        return new

    def sizes(self, cids: list[CID]) -> dict[str, int]:
        """{key: size} of the given blocks that the index holds (one query per 500)."""
        keys = [cid.key for cid in cids]
        out: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                for key, size in self._db.execute(
                        f"SELECT key, size FROM blocks WHERE key IN ({marks})", part):
                    out[key] = int(size)
        return out

    def put_block(self, data: bytes, codec: int, version: int = 1) -> CID:
        cid = CID.for_block(data, codec, version)
        self.put(cid, data)
        return cid

    def delete(self, cid: CID | str) -> bool:
        key = as_cid(cid).key
        with self._lock:
            return self._delete_key(key) is not None

    def size(self) -> int:
        """Total bytes of stored blocks."""
        with self._lock:
            return self._total

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0])

    def keys(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT key FROM blocks")]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- pins -------------------------------------------------------------------------------

    def pin(self, cid: CID | str, reason: str, expires_at: float | None = None) -> None:
        """Pin `cid` and everything it links to, for `reason` (replacing that reason's expiry)."""
        cid = as_cid(cid)
        if not reason:
            raise ValueError("a pin needs a reason")
        with self._lock:
            self._db.execute(
                "INSERT INTO pins VALUES (?, ?, ?, ?, ?) ON CONFLICT(key, reason) DO UPDATE "
                "SET expires_at = excluded.expires_at, cid = excluded.cid",
                (cid.key, str(cid), reason, expires_at, time.time()))

    def unpin(self, cid: CID | str, reason: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM pins WHERE key = ? AND reason = ?",
                                      (as_cid(cid).key, reason))
            self._pins_released()
            return cursor.rowcount > 0

    def unpin_reason(self, reason: str) -> int:
        """Drop every pin held for `reason` (e.g. all inputs of a finalized task)."""
        with self._lock:
            removed = self._db.execute("DELETE FROM pins WHERE reason = ?", (reason,)).rowcount
            self._pins_released()
            return removed

    def pins(self, cid: CID | str | None = None) -> list[PinRecord]:
        query = "SELECT cid, reason, expires_at, created_at FROM pins"
        args: tuple[object, ...] = ()
        if cid is not None:
            query += " WHERE key = ?"
            args = (as_cid(cid).key,)
        with self._lock:
            return [PinRecord(*row) for row in self._db.execute(query + " ORDER BY created_at",
                                                                args)]

    def is_pinned(self, cid: CID | str) -> bool:
        """True while an unexpired pin reaches this block (directly or through a parent)."""
        key = as_cid(cid).key
        with self._lock:
            return key in self._protected_keys()

    def purge_expired_pins(self) -> list[PinRecord]:
        with self._lock:
            now = time.time()
            rows = self._db.execute(
                "SELECT cid, reason, expires_at, created_at FROM pins "
                "WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)).fetchall()
            self._db.execute("DELETE FROM pins WHERE expires_at IS NOT NULL AND expires_at <= ?",
                             (now,))
            if rows:
                self._pins_released()
            return [PinRecord(*row) for row in rows]

    def _pins_released(self) -> None:
        """Pins went away: the next put over the limit may free space again."""
        if self.max_bytes is not None:
            self._gc_threshold = self.max_bytes

    # -- DAG walks and GC -------------------------------------------------------------------

    def dag_keys(self, root: CID | str) -> set[str]:
        """Keys of every block reachable from `root` through the stored blocks' links."""
        with self._lock:
            sql = _REACHABLE.format(seed="SELECT ?")
            return {row[0] for row in self._db.execute(sql, (as_cid(root).key,))}

    def dag_complete(self, root: CID | str) -> bool:
        """True when `root` and every block below it are present."""
        with self._lock:
            keys = self.dag_keys(root)
            present = {row[0] for row in self._db.execute(
                "SELECT key FROM blocks WHERE key IN (SELECT value FROM json_each(?))",
                (_json_list(keys),))}
            return keys <= present

    def collect_garbage(self, max_bytes: int | None = None,
                        only: set[str] | None = None) -> GcReport:
        """Purge expired pins, then delete unpinned blocks, least recently used first.

        `max_bytes` stops once the store fits in it (None: remove every unpinned block);
        `only` restricts deletion to those keys (e.g. the blocks of a removed model).
        """
        with self._lock:
            return self._gc(max_bytes, only)

    def _gc(self, max_bytes: int | None, only: set[str] | None) -> GcReport:
        expired = self.purge_expired_pins()
        protected = self._protected_keys()
        removed = 0
        freed = 0
        rows = self._db.execute("SELECT key, size FROM blocks ORDER BY last_access").fetchall()
        for key, _size in rows:
            if max_bytes is not None and self._total <= max_bytes:
                break
            if key in protected or (only is not None and key not in only):
                continue
            size = self._delete_key(key)
            if size is not None:
                removed += 1
                freed += size
        if max_bytes is not None and self._total > max_bytes and not self._warned_full:
            self._warned_full = True
            log.warning("block store holds %d bytes of pinned data, over its %d byte limit",
                        self._total, max_bytes)
        return GcReport(removed, freed, self._total, len(expired))

    def _protected_keys(self) -> set[str]:
        sql = _REACHABLE.format(seed=_ACTIVE_PINS)
        protected = {row[0] for row in self._db.execute(sql, (time.time(),))}
        for held in self._holds:
            protected |= held
        return protected

    @contextlib.contextmanager
    def hold(self) -> Iterator[set[str]]:
        """Protect every block put while this is open from GC (an import or fetch in progress,
        before its root is pinned)."""
        held: set[str] = set()
        with self._lock:
            self._holds.append(held)
        try:
            yield held
        finally:
            with self._lock:
                self._holds = [other for other in self._holds if other is not held]

    # -- internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _write_file(self, path: Path, data: bytes) -> None:
        if path.parent.name not in self._shards:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._shards.add(path.parent.name)
        atomic_write_bytes(path, data, mode=0o644, durable=self.durable)

    def _delete_key(self, key: str) -> int | None:
        row = self._db.execute("SELECT size FROM blocks WHERE key = ?", (key,)).fetchone()
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
        if row is None:
            return None
        self._forget(key)
        return int(row[0])

    def _forget(self, key: str) -> None:
        row = self._db.execute("SELECT size FROM blocks WHERE key = ?", (key,)).fetchone()
        if row is None:
            return
        with self._transaction():
            self._db.execute("DELETE FROM blocks WHERE key = ?", (key,))
            self._db.execute("DELETE FROM links WHERE parent = ?", (key,))
        self._total -= int(row[0])

    def _drop_corrupt(self, cid: CID) -> None:
        self.corrupt_detected += 1
        log.warning("block %s on disk does not match its CID; removed it", cid)
        with contextlib.suppress(FileNotFoundError):
            self._path(cid.key).unlink()
        self._forget(cid.key)
        if self.on_corrupt is not None:
            self.on_corrupt(cid)

    def _rebuild_index(self) -> None:
        """Re-index block files left by an earlier index (lost or deleted)."""
        found = 0
        for path in self._blocks_dir.glob("*/*.data"):
            key = path.stem
            try:
                data = path.read_bytes()
                cid = CID(1, DAG_PB, _digest_of_key(key))
            except (OSError, ValueError):
                continue
            if not cid.verifies(data):
                path.unlink(missing_ok=True)
                continue
            try:
                children = block_links(cid, data)
            except DagPBError:
                children = ()
            self._db.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?)",
                             (key, len(data), path.stat().st_mtime))
            self._db.executemany("INSERT OR IGNORE INTO links VALUES (?, ?)",
                                 [(key, child.key) for child in children])
            found += 1
        if found:
            log.info("re-indexed %d blocks under %s", found, self._blocks_dir)


def _digest_of_key(key: str) -> bytes:
    multihash = base32_decode(key)
    if len(multihash) != 34 or multihash[:2] != b"\x12\x20":
        raise ValueError("not a sha2-256 block key")
    return multihash[2:]


def _json_list(values: set[str]) -> str:
    return json.dumps(sorted(values))
