"""Nonces that are never reused or skipped, across concurrent sends, processes and restarts.

Every signed transaction is written to a small sqlite table *before* it is broadcast, so after a
crash the node knows every nonce it handed out and can rebroadcast what the chain never saw.
Allocation happens under one asyncio lock per sender and, when the table lives in a file, under
an exclusive `flock` on a lock file beside it, one per sender: the daemon and a CLI command (or
two commands) that send from the same account of the same home take turns, and each reads the
table under the lock, so a nonce another process recorded is never handed out again. A nonce is
consumed only when its transaction was recorded and broadcast (or the broadcast's fate is
unknown), so a rejected transaction gives its nonce back instead of leaving a gap; a nonce that
another process recorded but the chain never saw (it died between the two) is rebroadcast by the
next sender before it sends behind it, so nothing waits behind a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS chain_txs (
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    all_hashes TEXT NOT NULL,
    raw_tx BLOB NOT NULL,
    max_fee TEXT NOT NULL,
    priority_fee TEXT NOT NULL,
    state TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (chain_id, sender, nonce)
)
"""
UNFINISHED = "pending"
FINAL_STATES = ("confirmed", "failed", "dropped")
LOCK_POLL_S = 0.005
LOCK_TIMEOUT_S = 120.0
Resend = Callable[[str, int], Awaitable[None]]
"""`resend(sender, on_chain)`: rebroadcast the recorded, unfinished transactions of `sender`
with a nonce from `on_chain` up (the chain's pending count) that the chain does not know."""


class NonceLockTimeout(TimeoutError):
    """Another process held the account's nonce lock for longer than `LOCK_TIMEOUT_S`."""


@dataclass(frozen=True)
class TxRecord:
    """One nonce's transaction as last broadcast, with every hash it was sent under."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    all_hashes: tuple[str, ...]
    raw_tx: bytes
    max_fee: int
    priority_fee: int
    state: str
    label: str
    created_at: float


def open_db(path: Path) -> sqlite3.Connection:
    """Open (and create) a sqlite file for the tx store in WAL mode.

    `synchronous=NORMAL`: a commit survives a crash of the process (what nonce safety needs)
    without an fsync per transaction, which would cap sends at ~100/s on an ordinary disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level="DEFERRED")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class TxStore:
    """The `chain_txs` table: every transaction this node signed, keyed by sender and nonce."""

    def __init__(self, db: sqlite3.Connection | Path) -> None:
        self.conn = db if isinstance(db, sqlite3.Connection) else open_db(Path(db))
        with self.conn:
            self.conn.execute(SCHEMA)

    def record(self, chain_id: int, sender: str, nonce: int, tx_hash: str, raw_tx: bytes,
               max_fee: int, priority_fee: int, label: str = "") -> None:
        """Remember a signed transaction before it is broadcast (or a replacement of it)."""
        now = time.time()
        row = self.conn.execute(
            "SELECT all_hashes, created_at, state FROM chain_txs WHERE chain_id=? AND sender=? "
            "AND nonce=?", (chain_id, sender, nonce)).fetchone()
        if row is not None and row[2] != UNFINISHED:
            row = None  # the nonce was given up earlier (dropped): a new transaction reuses it
        hashes = json.loads(row[0]) if row else []
        if tx_hash not in hashes:
            hashes.append(tx_hash)
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO chain_txs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (chain_id, sender, nonce, tx_hash, json.dumps(hashes), raw_tx, str(max_fee),
                 str(priority_fee), UNFINISHED, label, row[1] if row else now, now))

    def forget(self, chain_id: int, sender: str, nonce: int) -> None:
        """Drop a record whose broadcast was refused outright: the nonce was never used."""
        with self.conn:
            self.conn.execute("DELETE FROM chain_txs WHERE chain_id=? AND sender=? AND nonce=?",
                              (chain_id, sender, nonce))

    def finish(self, chain_id: int, sender: str, nonce: int, state: str,
               tx_hash: str | None = None) -> None:
        """Mark a nonce done: `confirmed`/`failed` (mined, `tx_hash` is the one that was)."""
        if state not in FINAL_STATES:
            raise ValueError(f"unknown final state {state!r}")
        with self.conn:
            self.conn.execute(
                "UPDATE chain_txs SET state=?, tx_hash=COALESCE(?, tx_hash), updated_at=? "
                "WHERE chain_id=? AND sender=? AND nonce=?",
                (state, tx_hash, time.time(), chain_id, sender, nonce))

    def get(self, chain_id: int, sender: str, nonce: int) -> TxRecord | None:
        row = self.conn.execute(
            "SELECT * FROM chain_txs WHERE chain_id=? AND sender=? AND nonce=?",
            (chain_id, sender, nonce)).fetchone()
        return _record(row) if row else None

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        rows = self.conn.execute(
            "SELECT * FROM chain_txs WHERE chain_id=? AND sender=? AND state=? ORDER BY nonce",
            (chain_id, sender, UNFINISHED)).fetchall()
        return [_record(row) for row in rows]

    def highest_nonce(self, chain_id: int, sender: str) -> int | None:
        row = self.conn.execute(
            "SELECT MAX(nonce) FROM chain_txs WHERE chain_id=? AND sender=? AND state != ?",
            (chain_id, sender, "dropped")).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def db_file(self) -> Path | None:
        """The table's database file (None for an in-memory table)."""
        for _seq, name, file in self.conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return Path(file)
        return None

    def history(self, chain_id: int, sender: str, limit: int = 100) -> list[TxRecord]:
        rows = self.conn.execute(
            "SELECT * FROM chain_txs WHERE chain_id=? AND sender=? ORDER BY nonce DESC LIMIT ?",
            (chain_id, sender, limit)).fetchall()
        return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> TxRecord:
    return TxRecord(chain_id=row[0], sender=row[1], nonce=row[2], tx_hash=row[3],
                    all_hashes=tuple(json.loads(row[4])), raw_tx=bytes(row[5]),
                    max_fee=int(row[6]), priority_fee=int(row[7]), state=row[8], label=row[9],
                    created_at=row[10])


class NonceSlot:
    """A nonce held under the sender's lock; `consume()` once its transaction is out."""

    def __init__(self, nonce: int) -> None:
        self.nonce = nonce
        self.consumed = False

    def consume(self) -> None:
        self.consumed = True


class AccountLock:
    """An exclusive `flock` on one lock file per account and home, taken without blocking the
    event loop (polled, so a cancelled wait leaves nothing behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                               0o600)
        return self._fd

    @asynccontextmanager
    async def held(self, timeout_s: float = LOCK_TIMEOUT_S) -> AsyncIterator[None]:
        fd = self._open()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise NonceLockTimeout(f"another process has held {self.path} for over "
                                           f"{timeout_s:.0f} s") from None
                await asyncio.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class NonceManager:
    """Hands out nonces per sender, one at a time across this home's processes, reconciled
    with the chain at first use and whenever another process sent meanwhile."""

    def __init__(self, store: TxStore, chain_id: int, lock_base: Path | None = None) -> None:
        """`lock_base`: the lock files are `<lock_base>.nonce-<chain>-<account>.lock`
        (default: beside the store's database file; none for a table in memory)."""
        self.store = store
        self.chain_id = chain_id
        self.lock_base = lock_base if lock_base is not None else store.db_file()
        self._locks: dict[str, asyncio.Lock] = {}
        self._files: dict[str, AccountLock] = {}
        self._next: dict[str, int] = {}
        self.foreign_sends = 0
        """How often another process of this home had sent since this one last did."""

    def _lock(self, sender: str) -> asyncio.Lock:
        return self._locks.setdefault(sender, asyncio.Lock())

    @asynccontextmanager
    async def exclusive(self, sender: str) -> AsyncIterator[None]:
        """Hold `sender`'s nonces against this process's other tasks and every other process
        on this home (a table in memory has only the first)."""
        async with self._lock(sender):
            if self.lock_base is None:
                yield
                return
            account_lock = self._files.get(sender)
            if account_lock is None:
                name = f"{self.lock_base.name}.nonce-{self.chain_id}-{sender.lower()}.lock"
                account_lock = self._files[sender] = AccountLock(self.lock_base.with_name(name))
            async with account_lock.held():
                yield

    def _recorded_next(self, sender: str) -> int:
        highest = self.store.highest_nonce(self.chain_id, sender)
        return 0 if highest is None else highest + 1

    async def _initialise(self, sender: str,
                          pending_count: Callable[[str], Awaitable[int]]) -> None:
        on_chain = await pending_count(sender)
        self._next[sender] = max(on_chain, self._recorded_next(sender))

    async def _catch_up(self, sender: str, pending_count: Callable[[str], Awaitable[int]],
                        resend: Resend | None) -> None:
        """Another process recorded nonces since this one last sent: skip them, and first
        rebroadcast any the chain never saw (their sender died before broadcasting)."""
        self.foreign_sends += 1
        on_chain = await pending_count(sender)
        if resend is not None and on_chain < self._recorded_next(sender):
            await resend(sender, on_chain)
        self._next[sender] = max(on_chain, self._recorded_next(sender))

    def peek(self, sender: str) -> int | None:
        """The next nonce that would be handed out (None before first use)."""
        return self._next.get(sender)

    def forget_sender(self, sender: str) -> None:
        """Re-read the chain at next use (after an external send from the same account)."""
        self._next.pop(sender, None)

    @asynccontextmanager
    async def slot(self, sender: str, pending_count: Callable[[str], Awaitable[int]],
                   resend: Resend | None = None) -> AsyncIterator[NonceSlot]:
        """Hold `sender`'s next nonce; it is used up only if the block calls `consume()`."""
        async with self.exclusive(sender):
            if sender not in self._next:
                await self._initialise(sender, pending_count)
            elif self._recorded_next(sender) > self._next[sender]:
                await self._catch_up(sender, pending_count, resend)
            held = NonceSlot(self._next[sender])
            try:
                yield held
            finally:
                if held.consumed:
                    self._next[sender] = held.nonce + 1

    def close(self) -> None:
        """Close the lock files (the locks themselves are released after every slot)."""
        for account_lock in self._files.values():
            account_lock.close()
        self._files.clear()
