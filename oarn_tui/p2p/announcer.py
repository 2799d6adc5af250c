"""Batched announcements: items queued within a short window go out as one signed message.

Gossipsub peers accept ~10 messages/s per topic from a peer, so many tasks per message is how a
busy requester announces quickly. `announce` waits (backpressure) when the node's publish queue is
full; nothing is dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from oarn_tui.p2p.messages import MAX_BATCH_ITEMS, MAX_MESSAGE_BYTES, TOPIC_KINDS, canonical_json

BATCH_BYTES = MAX_MESSAGE_BYTES // 2  # room for the envelope and padding


class Announcer:
    """Collect items for `topic` and publish them in batches through `node.publish`."""

    def __init__(self, node: Any, topic: str, window_s: float = 0.02) -> None:
        if topic not in TOPIC_KINDS:
            raise ValueError(f"unknown topic {topic}")
        self.node = node
        self.topic = topic
        self.key = TOPIC_KINDS[topic]  # the body key equals the kind for batched topics
        self.window_s = window_s
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.batches = 0

    async def announce(self, item: dict[str, Any]) -> None:
        """Queue one item; publishes at once when the batch is full, else after the window."""
        size = len(canonical_json(item))
        if size > BATCH_BYTES:
            raise ValueError(f"item of {size} bytes exceeds the {BATCH_BYTES}-byte batch limit")
        async with self._lock:
            if self._pending and (len(self._pending) >= MAX_BATCH_ITEMS
                                  or self._pending_bytes + size > BATCH_BYTES):
                await self._publish_pending()
            self._pending.append(item)
            self._pending_bytes += size
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.window_s)
        await self.flush()

    async def flush(self) -> None:
        """Publish whatever is pending as one message (waits under backpressure)."""
        async with self._lock:
            await self._publish_pending()

    async def _publish_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        await self.node.publish(self.topic, {self.key: batch})
        self.batches += 1

    async def close(self) -> None:
        """Wait for the window timer (never cancelled mid-publish), then flush the rest."""
        if self._flusher is not None:
            await self._flusher
        await self.flush()
