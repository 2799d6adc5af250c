"""Peer discovery state: bootstrap list, known peers with re-dial backoff, reachability.

The trio-side loops that use this state live in `P2PNode`; this module is plain data so it can be
tested without libp2p. Known peers are not persisted here: the runtime's `PeerBook` (SQLite) is
the one record of peers seen; it seeds `KnownPeers` at start (`NodeOptions.known_peers`) and
learns every connection from the node's connection events.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

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
    """The dialler's table of peers seen, with exponential re-dial backoff (in memory; seeded
    from the peer book: `seeds` are `(peer_id, addrs)` pairs, all due at once)."""

    def __init__(self, seeds: Iterable[tuple[str, Sequence[str]]] = ()) -> None:
        self.peers: dict[str, KnownPeer] = {}
        for peer_id, addrs in seeds:
            if peer_id and addrs:
                self.peers[peer_id] = KnownPeer(peer_id=peer_id, addrs=sorted(set(addrs))[:8],
                                                source="peer book")

    def seen(self, peer_id: str, addrs: list[str], source: str = "dht") -> None:
        """Record a successful contact: reset backoff, refresh addresses."""
        peer = self.peers.get(peer_id) or KnownPeer(peer_id=peer_id, source=source)
        if addrs:
            peer.addrs = sorted(set(addrs))[:8]
        peer.last_seen = time.time()
        peer.failures = 0
        peer.next_attempt = 0.0
        self.peers[peer_id] = peer
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

    def failed(self, peer_id: str, now: float | None = None) -> float:
        """Record a failed dial; returns the delay until the next attempt (exponential, capped)."""
        peer = self.peers.get(peer_id)
        if peer is None:
            return 0.0
        peer.failures += 1
        delay = float(min(BACKOFF_BASE_S * 2.0 ** (peer.failures - 1), BACKOFF_MAX_S))
        peer.next_attempt = (time.time() if now is None else now) + delay
        return delay

    def due(self, connected: set[str], now: float | None = None) -> list[KnownPeer]:
        """Known peers with addresses, not connected, whose backoff has expired."""
        now = time.time() if now is None else now
        return [p for p in self.peers.values()
                if p.peer_id not in connected and p.addrs and p.next_attempt <= now]

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
