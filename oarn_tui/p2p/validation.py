"""Validation of incoming messages: size, schema, signature, binding, freshness, replay, rate.

An invalid message is dropped, logged once per (peer, reason) window, and lowers the score of the
peer that delivered it. The rate limit is kept per origin (the peer that published the message),
so a flood is cut at every hop while the honest relays that carry it keep their own budget; each
forwarder also has a wider budget (`RELAY_FACTOR` times an origin's) so no connected peer can push
messages without bound by inventing origins.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from oarn_tui.p2p.messages import (
    MAX_MESSAGE_BYTES,
    Envelope,
    MessageError,
    decode_message,
)
from oarn_tui.p2p.scoring import PeerScores

log = logging.getLogger("oarn.p2p.validation")

RELAY_FACTOR = 10  # a forwarder's budget, in origins' budgets
# reasons that depend on what else reached us first: a relay that forwards such a message in good
# faith is not penalised for it, only the origin when it delivers the message itself
ORIGIN_REASONS = frozenset({"rate_limited", "replay"})
MAX_BUCKETS = 10_000
MAX_LOG_KEYS = 10_000  # (peer, reason) pairs remembered for once-per-window logging


def verify_account_binding(peer_id: str, address: str, signature: str) -> bool:
    """The wallet's check that `address` signed the binding of `peer_id`."""
    from oarn_tui.wallet.identity import verify_binding

    return bool(verify_binding(peer_id, address, signature))


class MessageValidator:
    """Stateful validator shared by all topics and request handlers of one node."""

    def __init__(
        self,
        scores: PeerScores,
        max_bytes: int = MAX_MESSAGE_BYTES,
        freshness_s: float = 120.0,
        rate_per_s: float = 20.0,
        rate_burst: int = 40,
        require_binding: bool = True,
        log_window_s: float = 60.0,
        replay_capacity: int = 50_000,
        verify_binding: Callable[[str, str, str], bool] = verify_account_binding,
    ) -> None:
        self.scores = scores
        self.max_bytes = max_bytes
        self.freshness_ms = int(freshness_s * 1000)
        self.rate_per_s = rate_per_s
        self.rate_burst = rate_burst
        self.require_binding = require_binding
        self.log_window_s = log_window_s
        self.replay_capacity = replay_capacity
        self._verify_binding = verify_binding
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._bindings: dict[tuple[str, str, str], bool] = {}
        self._logged: dict[tuple[str, str], float] = {}
        self.dropped: dict[str, int] = {}
        self.accepted = 0

    def validate(self, forwarder: str, data: bytes, now_ms: int | None = None,
                 origin: str | None = None) -> Envelope:
        """Return the envelope or raise MessageError (after scoring and logging the drop).

        `origin` is the peer that published a gossiped message (the forwarder when omitted).
        """
        origin = origin or forwarder
        try:
            envelope = self._check(forwarder, origin, data, now_ms)
        except MessageError as error:
            self._reject(forwarder, origin, error)
            raise
        self.accepted += 1
        self.scores.reward(forwarder)
        return envelope

    def is_valid(self, forwarder: str, data: bytes, origin: str | None = None) -> bool:
        """Boolean form for the gossipsub topic validator."""
        try:
            self.validate(forwarder, data, origin=origin)
        except MessageError:
            return False
        return True

    def _check(self, forwarder: str, origin: str, data: bytes, now_ms: int | None) -> Envelope:
        if self.scores.is_banned(forwarder) or self.scores.is_banned(origin):
            raise MessageError("banned")
        self._take_token(("origin", origin), 1)
        if forwarder != origin:
            self._take_token(("relay", forwarder), RELAY_FACTOR)
        envelope = decode_message(data, self.max_bytes)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if abs(now - envelope.timestamp_ms) > self.freshness_ms:
            raise MessageError("stale", f"{(now - envelope.timestamp_ms) / 1000:.0f}s old")
        if envelope.message_id in self._seen:
            raise MessageError("replay")
        self._check_binding(envelope)
        self._remember(envelope.message_id, envelope.timestamp_ms)
        return envelope

    def _take_token(self, key: tuple[str, str], scale: int) -> None:
        now = time.monotonic()
        burst = float(self.rate_burst * scale)
        if key not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()  # forgetting buckets only ever refills them
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * self.rate_per_s * scale)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise MessageError("rate_limited")
        self._buckets[key] = (tokens - 1.0, now)

    def _check_binding(self, envelope: Envelope) -> None:
        if envelope.binding is None:
            if self.require_binding:
                raise MessageError("no_binding")
            return
        key = (envelope.sender, envelope.binding.address, envelope.binding.signature)
        if key not in self._bindings:
            if len(self._bindings) > 10_000:
                self._bindings.clear()
            self._bindings[key] = self._verify_binding(*key)
        if not self._bindings[key]:
            raise MessageError("bad_binding")

    def _remember(self, message_id: str, timestamp_ms: int) -> None:
        self._seen[message_id] = timestamp_ms
        while len(self._seen) > self.replay_capacity:
            self._seen.popitem(last=False)
        # entries older than the freshness window can go: a replay of them is stale anyway
        horizon = int(time.time() * 1000) - 2 * self.freshness_ms
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)

    def _reject(self, forwarder: str, origin: str, error: MessageError) -> None:
        self.dropped[error.reason] = self.dropped.get(error.reason, 0) + 1
        relayed = forwarder != origin and error.reason in ORIGIN_REASONS
        if error.reason != "banned" and not relayed:
            self.scores.penalize(forwarder, error.reason)
        key = (forwarder, error.reason)
        now = time.monotonic()
        if now - self._logged.get(key, -1e9) >= self.log_window_s:
            if key not in self._logged and len(self._logged) >= MAX_LOG_KEYS:
                self._logged.clear()  # forgetting only means one more log line per peer
            self._logged[key] = now
            log.warning("dropped message from %s: %s", forwarder, error)

    def sizes(self) -> dict[str, int]:
        """How many entries each table holds (all are capped; for tests and status)."""
        return {"seen": len(self._seen), "buckets": len(self._buckets),
                "bindings": len(self._bindings), "logged": len(self._logged)}


class RateWindow:
    """Sliding count of events in the last `window_s` seconds (publish pacing)."""

    def __init__(self, limit: int, window_s: float = 1.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def delay(self, now: float | None = None) -> float:
        """Seconds to wait before one more event fits the limit (0 when it fits now)."""
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self.window_s - (now - self._times[0])

    def record(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)
