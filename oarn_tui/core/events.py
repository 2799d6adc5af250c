"""Typed events: every state change in the node is published here for front ends and logs.

Each kind and its data are catalogued (`oarn_tui.core.catalog.EVENTS`); `EventBus.publish` checks
every event against its entry. What happens when one does not fit (an unknown kind, an unknown
or missing field, a value of the wrong type) depends on the bus's `strict` flag:

- strict (tests and development: `OARN_STRICT_CATALOG=1`, or `EventBus(strict=True)`): the
  publisher gets a `CatalogError` and nothing is delivered, so the mistake fails the test that
  made it;
- not strict (production, the default): the event is delivered as it is and one warning per
  kind and problem goes to the log (`oarn.events`), so a front end that does not know the
  field yet still sees the event and the node never stops over its own telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from oarn_tui.core.catalog import EVENTS, QUIET_KINDS, CatalogError, EventSpec, problems

__all__ = ["QUIET_KINDS", "STRICT_ENV", "Event", "EventBus", "payload_problem", "strict_default"]

_sequence = itertools.count(1)
log = logging.getLogger("oarn.events")

STRICT_ENV = "OARN_STRICT_CATALOG"
MAX_WARNED = 256
"""Distinct (kind, problem) warnings a non-strict bus logs before it stops logging new ones."""


def strict_default() -> bool:
    """Whether a bus built without `strict=` is strict: `OARN_STRICT_CATALOG` set, not 0."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def payload_problem(kind: str, data: Mapping[str, Any],
                    catalog: Mapping[str, EventSpec] = EVENTS) -> str:
    """One line saying why (`kind`, `data`) does not fit the catalogue ("" when it does)."""
    spec = catalog.get(kind)
    if spec is None:
        return (f"event kind {kind!r} is not catalogued: add it and its payload dataclass to "
                f"oarn_tui/core/catalog/events.py")
    found = problems(spec.payload, data, noun="field", open_fields=spec.open)
    return f"event {kind}: {'; '.join(found)}" if found else ""


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

    def __init__(self, history: int = 500, queue_size: int = 2000, *,
                 strict: bool | None = None,
                 catalog: Mapping[str, EventSpec] | None = None) -> None:
        self.strict = strict_default() if strict is None else strict
        """Raise `CatalogError` for an event that does not fit the catalogue (else warn)."""
        self._catalog = EVENTS if catalog is None else catalog
        self._warned: set[str] = set()
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._history: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self.dropped = 0
        self.revision = 0
        """Bumped by every event but the quiet ones: something in the status may have changed."""

    def publish(self, kind: str, **data: Any) -> Event:
        """Check (`kind`, `data`) against the catalogue (see the module docstring), then
        deliver it to every subscriber and the history."""
        problem = payload_problem(kind, data, self._catalog)
        if problem:
            self._misfit(problem)
        event = Event(kind, MappingProxyType(data))
        self.publish_event(event)
        return event

    def _misfit(self, problem: str) -> None:
        if self.strict:
            raise CatalogError(problem)
        if problem in self._warned or len(self._warned) >= MAX_WARNED:
            return
        self._warned.add(problem)  # before logging: the log line is itself an event
        log.warning("event does not fit the catalogue: %s", problem)

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
