"""Peers the node knows: connected ones in memory, every one seen persisted for re-dialling."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from oarn_tui.core.frozen import freeze_mapping, thaw


@dataclass(frozen=True)
class PeerInfo:
    """What the dashboard and `oarn peers` show about one peer (read-only all the way down:
    `capabilities` is frozen on construction)."""

    peer_id: str
    address: str = ""
    latency_ms: float | None = None
    score: float = 0.0
    capabilities: Mapping[str, Any] = field(default_factory=dict, compare=False)
    connected: bool = True
    account: str = ""
    last_seen: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", freeze_mapping(self.capabilities))

    def to_dict(self) -> dict[str, Any]:
        return {"peer_id": self.peer_id, "address": self.address, "latency_ms": self.latency_ms,
                "score": self.score, "capabilities": thaw(self.capabilities),
                "connected": self.connected, "account": self.account,
                "last_seen": self.last_seen}


class PeerBook:
    """The p2p service writes here as peers come and go; snapshots read `connected()`."""

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        self._peers: dict[str, PeerInfo] = {}
        self._db = db
        self.revision = 0
        """Bumped on every change (see `TaskLedger.revision`)."""

    def upsert(self, peer: PeerInfo) -> None:
        self._peers[peer.peer_id] = peer
        self.revision += 1
        if self._db is not None:
            with self._db:
                self._db.execute(
                    "INSERT INTO peers (peer_id, addrs, score, capabilities, last_seen) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(peer_id) DO UPDATE SET "
                    "addrs = excluded.addrs, score = excluded.score, "
                    "capabilities = excluded.capabilities, last_seen = excluded.last_seen",
                    (peer.peer_id, json.dumps([peer.address] if peer.address else []),
                     peer.score, json.dumps(thaw(peer.capabilities)), peer.last_seen))

    def disconnected(self, peer_id: str) -> None:
        if peer_id in self._peers:
            self._peers[peer_id] = replace(self._peers[peer_id], connected=False)
            self.revision += 1

    def remove(self, peer_id: str) -> None:
        if self._peers.pop(peer_id, None) is not None:
            self.revision += 1

    def get(self, peer_id: str) -> PeerInfo | None:
        return self._peers.get(peer_id)

    def connected(self) -> list[PeerInfo]:
        return [p for p in self._peers.values() if p.connected]

    def known_addresses(self, limit: int = 100) -> list[tuple[str, list[str]]]:
        """Persisted peers, most recently seen first, for re-dialling at start."""
        if self._db is None:
            return []
        rows = self._db.execute("SELECT peer_id, addrs FROM peers ORDER BY last_seen DESC "
                                "LIMIT ?", (limit,))
        return [(row[0], json.loads(row[1])) for row in rows]
