"""Peers the node knows: connected ones in memory, every one seen persisted for re-dialling.

The one record of peers: the p2p service writes here from libp2p's connection events (no
polling), the state database's `peers` table is its persistence (where each peer listens, when
it was last seen), and the next start re-dials `known_addresses()`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
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

    def upsert(self, peer: PeerInfo, addrs: Sequence[str] = ()) -> None:
        """Record a peer (connected or refreshed); `addrs` are where it listens (persisted for
        re-dialling; default: its `address`)."""
        self._peers[peer.peer_id] = peer
        self.revision += 1
        listen = list(addrs) or ([peer.address] if peer.address else [])
        if self._db is not None:
            with self._db:
                self._db.execute(
                    "INSERT INTO peers (peer_id, addrs, score, capabilities, last_seen) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(peer_id) DO UPDATE SET "
                    "addrs = excluded.addrs, score = excluded.score, "
                    "capabilities = excluded.capabilities, last_seen = excluded.last_seen",
                    (peer.peer_id, json.dumps(listen),
                     peer.score, json.dumps(thaw(peer.capabilities)), peer.last_seen))

    def disconnected(self, peer_id: str) -> None:
        """Mark a peer gone (kept, with `connected=False`, until removed)."""
        peer = self._peers.get(peer_id)
        if peer is not None and peer.connected:
            self._peers[peer_id] = replace(peer, connected=False, last_seen=time.time())
            self.revision += 1
            if self._db is not None:
                with self._db:
                    self._db.execute("UPDATE peers SET last_seen = ? WHERE peer_id = ?",
                                     (self._peers[peer_id].last_seen, peer_id))

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
        return [(peer["peer_id"], peer["addrs"]) for peer in self.known(limit)]

    def known(self, limit: int = 100) -> list[dict[str, Any]]:
        """Persisted peers, most recently seen first (`oarn peers` when the node is down)."""
        if self._db is None:
            return []
        rows = self._db.execute("SELECT peer_id, addrs, score, last_seen, failures FROM peers "
                                "ORDER BY last_seen DESC LIMIT ?", (limit,)).fetchall()
        return [{"peer_id": row[0], "addrs": _addrs(row[1]), "score": row[2],
                 "last_seen": row[3], "failures": row[4]} for row in rows]


def _addrs(text: str) -> list[str]:
    """A row's address list; a damaged one reads as none (it only costs a re-dial)."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [str(a) for a in value] if isinstance(value, list) else []
