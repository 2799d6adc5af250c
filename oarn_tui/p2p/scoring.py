"""Per-peer scores: invalid messages lower a peer's score; below a threshold it is ignored.

At most `max_peers` scores are kept (the least recently touched goes first), so peers that
connect under ever new identities cannot grow this table without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

PENALTIES = {
    "oversized": 5.0,
    "malformed": 5.0,
    "bad_version": 2.0,
    "bad_schema": 5.0,
    "unsigned": 10.0,
    "bad_signature": 10.0,
    "bad_binding": 10.0,
    "no_binding": 2.0,
    "stale": 1.0,
    "replay": 2.0,
    "rate_limited": 0.5,
    "bad_block": 25.0,  # a bitswap block matching no CID we asked for (storage.bitswap)
}
DEFAULT_PENALTY = 5.0
MAX_SCORED_PEERS = 10_000


@dataclass
class PeerScore:
    """Score and counters of one peer."""

    score: float = 0.0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    updated: float = field(default_factory=time.monotonic)


class PeerScores:
    """Scores that decay back towards zero (half-life `half_life_s`) so peers can recover."""

    def __init__(self, ban_threshold: float = -100.0, half_life_s: float = 600.0,
                 max_peers: int = MAX_SCORED_PEERS) -> None:
        self.ban_threshold = ban_threshold
        self.half_life_s = half_life_s
        self.max_peers = max_peers
        self._peers: OrderedDict[str, PeerScore] = OrderedDict()

    def _entry(self, peer_id: str) -> PeerScore:
        entry = self._peers.get(peer_id)
        if entry is None:
            entry = self._peers[peer_id] = PeerScore()
            while len(self._peers) > self.max_peers:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer_id)
        now = time.monotonic()
        entry.score *= 0.5 ** ((now - entry.updated) / self.half_life_s)
        entry.updated = now
        return entry

    def penalize(self, peer_id: str, reason: str) -> float:
        """Lower `peer_id`'s score for one invalid message; returns the new score."""
        entry = self._entry(peer_id)
        entry.score -= PENALTIES.get(reason, DEFAULT_PENALTY)
        entry.rejected[reason] = entry.rejected.get(reason, 0) + 1
        return entry.score

    def reward(self, peer_id: str) -> None:
        """Count one valid message (a small bonus, capped)."""
        entry = self._entry(peer_id)
        entry.accepted += 1
        entry.score = min(entry.score + 0.1, 10.0)

    def score(self, peer_id: str) -> float:
        return self._entry(peer_id).score if peer_id in self._peers else 0.0

    def is_banned(self, peer_id: str) -> bool:
        return self.score(peer_id) <= self.ban_threshold

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Plain dict of every scored peer (for status and tests)."""
        return {
            peer: {"score": round(self._entry(peer).score, 3), "accepted": entry.accepted,
                   "rejected": dict(entry.rejected)}
            for peer, entry in list(self._peers.items())
        }
