"""Typed events: every state change in the node is published here for front ends and logs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_sequence = itertools.count(1)

QUIET_KINDS = frozenset({"hardware.sample", "log"})
"""Events that change nothing in the status document (telemetry and log lines travel as events
only), so they leave `EventBus.revision` alone."""


@dataclass(frozen=True)
class Event:
    """One thing that happened; `kind` is dotted (`task.stage`, `peer.connected`, ...)."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    seq: int = field(default_factory=lambda: next(_sequence))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ts": self.ts, "seq": self.seq, "data": dict(self.data)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        return cls(kind=str(raw["kind"]), data=MappingProxyType(dict(raw.get("data") or {})),
                   ts=float(raw.get("ts", time.time())), seq=int(raw.get("seq", 0)))


class EventBus:
    """Fan-out of events to bounded subscriber queues; a slow subscriber loses old events, never
    blocks the publisher. Also keeps a short history for late subscribers (the dashboard)."""

    def __init__(self, history: int = 500, queue_size: int = 2000) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._history: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self.dropped = 0
        self.revision = 0
        """Bumped by every event but the quiet ones: something in the status may have changed."""

    def publish(self, kind: str, **data: Any) -> Event:
        event = Event(kind, MappingProxyType(data))
        self.publish_event(event)
        return event

    def publish_event(self, event: Event) -> None:
        self._history.append(event)
        if event.kind not in QUIET_KINDS:
            self.revision += 1
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                    self.dropped += 1
            queue.put_nowait(event)

    def recent(self, limit: int = 100, prefix: str = "") -> list[Event]:
        """The last `limit` events whose kind starts with `prefix` (none for 0)."""
        if limit <= 0:
            return []
        events = [e for e in self._history if e.kind.startswith(prefix)]
        return events[-limit:]

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def stream(self) -> AsyncIterator[Event]:
        async with self.subscription() as queue:
            while True:
                yield await queue.get()
