"""Peer discovery state: bootstrap list, known peers persisted with re-dial backoff, reachability.

The trio-side loops that use this state live in `P2PNode`; this module is plain data so it can be
tested and read (by `oarn peers` when the node is not running) without libp2p.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oarn_tui.fsutil import atomic_write_text

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 600.0
MAX_KNOWN_PEERS = 1000


@dataclass
class KnownPeer:
    """A peer seen before: where it listens and when to try it again."""

    peer_id: str
    addrs: list[str] = field(default_factory=list)
    last_seen: float = 0.0
    failures: int = 0
    next_attempt: float = 0.0
    source: str = "dht"


def split_p2p_addr(maddr: str) -> tuple[str, str]:
    """('/ip4/…/tcp/…', peer_id) from '/ip4/…/tcp/…/p2p/<peer_id>'; ValueError if no /p2p/."""
    head, sep, peer_id = maddr.rpartition("/p2p/")
    if not sep or not peer_id or "/" in peer_id:
        raise ValueError(f"multiaddr has no /p2p/<peer id>: {maddr}")
    return head, peer_id


class KnownPeers:
    """Known peers kept in a JSON file (atomic writes) with exponential re-dial backoff."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.peers: dict[str, KnownPeer] = {}
        self._dirty = False
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text())
            entries = raw.get("peers", []) if isinstance(raw, dict) else []
            for entry in entries:
                peer = KnownPeer(**{k: entry[k] for k in KnownPeer.__dataclass_fields__
                                    if k in entry})
                peer.next_attempt = 0.0  # a restart re-dials everyone once
                self.peers[peer.peer_id] = peer
        except (OSError, ValueError, TypeError, KeyError):
            self.peers = {}  # a damaged file only costs the cache

    def seen(self, peer_id: str, addrs: list[str], source: str = "dht") -> None:
        """Record a successful contact: reset backoff, refresh addresses."""
        peer = self.peers.get(peer_id) or KnownPeer(peer_id=peer_id, source=source)
        if addrs:
            peer.addrs = sorted(set(addrs))[:8]
        peer.last_seen = time.time()
        peer.failures = 0
        peer.next_attempt = 0.0
        self.peers[peer_id] = peer
        self._dirty = True
        if len(self.peers) > MAX_KNOWN_PEERS:
            oldest = min(self.peers.values(), key=lambda p: p.last_seen)
            del self.peers[oldest.peer_id]

    def note(self, peer_id: str, addrs: list[str], source: str = "dht") -> None:
        """Remember where a peer listens without counting it as a successful contact."""
        peer = self.peers.get(peer_id)
        if peer is None:
            peer = self.peers[peer_id] = KnownPeer(peer_id=peer_id, source=source)
        if addrs:
            peer.addrs = sorted(set(addrs))[:8]
        self._dirty = True

    def failed(self, peer_id: str, now: float | None = None) -> float:
        """Record a failed dial; returns the delay until the next attempt (exponential, capped)."""
        peer = self.peers.get(peer_id)
        if peer is None:
            return 0.0
        peer.failures += 1
        delay = min(BACKOFF_BASE_S * 2 ** (peer.failures - 1), BACKOFF_MAX_S)
        peer.next_attempt = (time.time() if now is None else now) + delay
        self._dirty = True
        return delay

    def due(self, connected: set[str], now: float | None = None) -> list[KnownPeer]:
        """Known peers with addresses, not connected, whose backoff has expired."""
        now = time.time() if now is None else now
        return [p for p in self.peers.values()
                if p.peer_id not in connected and p.addrs and p.next_attempt <= now]

    def save(self) -> None:
        """Write the file if anything changed."""
        if self.path is None or not self._dirty:
            return
        data = {"version": 1, "saved_at": time.time(),
                "peers": [asdict(p) for p in self.peers.values()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(data, indent=1))
        self._dirty = False

    def snapshot(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in sorted(self.peers.values(), key=lambda p: -p.last_seen)]


def is_loopback_addr(maddr: str) -> bool:
    """True for /ip4/127.x and /ip6/::1 multiaddrs."""
    return maddr.startswith("/ip4/127.") or maddr.startswith("/ip6/::1/")


@dataclass
class Reachability:
    """Whether peers outside this machine can dial us, and on what basis."""

    state: str = "unknown"  # unknown | reachable | not reachable
    basis: str = "no inbound connection from another host yet"

    def update(self, listen_addrs: list[str], inbound_remote_hosts: set[str]) -> None:
        """Recompute from the listen addresses and the remote IPs of inbound connections."""
        public = [a for a in listen_addrs if not is_loopback_addr(a)]
        if not public:
            self.state, self.basis = "not reachable", "listening on loopback addresses only"
            return
        outside = sorted(h for h in inbound_remote_hosts
                         if not (h.startswith("127.") or h == "::1"))
        if outside:
            self.state = "reachable"
            self.basis = f"inbound connection from {outside[0]}"
        else:
            self.state, self.basis = "unknown", "no inbound connection from another host yet"
