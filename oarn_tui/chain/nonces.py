"""Nonces that are never reused or skipped, across concurrent sends and restarts.

Every signed transaction is written to a small sqlite table *before* it is broadcast, so after a
crash the node knows every nonce it handed out and can rebroadcast what the chain never saw.
Allocation happens under one asyncio lock per sender; a nonce is consumed only when its
transaction was recorded and broadcast (or the broadcast's fate is unknown), so a rejected
transaction gives its nonce back instead of leaving a gap.
"""

from __future__ import annotations

import asyncio
import json
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


class NonceManager:
    """Hands out nonces per sender, one at a time, reconciled with the chain at first use."""

    def __init__(self, store: TxStore, chain_id: int) -> None:
        self.store = store
        self.chain_id = chain_id
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, int] = {}

    def _lock(self, sender: str) -> asyncio.Lock:
        return self._locks.setdefault(sender, asyncio.Lock())

    async def _initialise(self, sender: str,
                          pending_count: Callable[[str], Awaitable[int]]) -> None:
        on_chain = await pending_count(sender)
        highest = self.store.highest_nonce(self.chain_id, sender)
        recorded = -1 if highest is None else highest
        self._next[sender] = max(on_chain, recorded + 1)

    def peek(self, sender: str) -> int | None:
        """The next nonce that would be handed out (None before first use)."""
        return self._next.get(sender)

    def forget_sender(self, sender: str) -> None:
        """Re-read the chain at next use (after an external send from the same account)."""
        self._next.pop(sender, None)

    @asynccontextmanager
    async def slot(self, sender: str,
                   pending_count: Callable[[str], Awaitable[int]]) -> AsyncIterator[NonceSlot]:
        """Hold `sender`'s next nonce; it is used up only if the block calls `consume()`."""
        async with self._lock(sender):
            if sender not in self._next:
                await self._initialise(sender, pending_count)
            held = NonceSlot(self._next[sender])
            try:
                yield held
            finally:
                if held.consumed:
                    self._next[sender] = held.nonce + 1
