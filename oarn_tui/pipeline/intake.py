"""Intake of gossip task announcements: what a hostile peer can make this node spend, bounded.

An announcement is only a hint (chain discovery finds every task anyway), so the intake spends a
fixed budget on hints, whoever sends them and however many identities they mint:

- **Budgets before any RPC.** Each announced id costs one token. An origin peer has its own token
  bucket only once a task it announced was confirmed on chain with the origin's bound account as
  the requester (it paid escrow for it); every other origin — fresh identities, unbound peers —
  draws from one shared bucket, so minting identities does not multiply the budget.
- **Chain counter.** Ids above the TaskRegistry's task counter are dropped unstored. The counter
  is read at most once per `counter_ttl_s` (one read serves every waiting announcement).
- **Bounded memory.** Seen ids live in a capped ordered set, queued hints in a capped queue, and a
  hint expires after `hint_ttl_s`.
- **No ledger row** is written for an announced id here: the worker writes one only after the
  chain returned the task (see `worker.TaskNotOnChain`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

KNOWN_RATE_PER_S = 20.0  # ids/s an origin with a confirmed task may announce
KNOWN_BURST = 256.0  # four full batches at once
SHARED_RATE_PER_S = 4.0  # ids/s for all unconfirmed origins together
SHARED_BURST = 64.0  # one full batch
MAX_KNOWN_ORIGINS = 1024
MAX_SEEN_IDS = 20_000
MAX_QUEUED_HINTS = 1024
HINT_TTL_S = 120.0
COUNTER_TTL_S = 0.5
MAX_COUNTER_WAITERS = 8  # announcements that may wait for the next counter read

Clock = Callable[[], float]


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up."""

    def __init__(self, rate_per_s: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.updated = clock()

    def take(self, count: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True


class BoundedSet:
    """A set that forgets its oldest members beyond `max_items` (insertion order)."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, item: Hashable) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def discard(self, item: Hashable) -> None:
        self._items.pop(item, None)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class OriginBudgets:
    """Token buckets per confirmed origin (LRU-capped) and one shared by all the others."""

    def __init__(self, *, rate_per_s: float = KNOWN_RATE_PER_S, burst: float = KNOWN_BURST,
                 shared_rate_per_s: float = SHARED_RATE_PER_S,
                 shared_burst: float = SHARED_BURST, max_known: int = MAX_KNOWN_ORIGINS,
                 clock: Clock = time.monotonic) -> None:
        self.rate_per_s, self.burst = rate_per_s, burst
        self.max_known = max_known
        self.clock = clock
        self.shared = TokenBucket(shared_rate_per_s, shared_burst, clock)
        self._known: OrderedDict[str, TokenBucket] = OrderedDict()

    def charge(self, origin: str, count: float = 1.0) -> bool:
        """Take `count` tokens from `origin`'s budget (the shared one if it has none)."""
        bucket = self._known.get(origin)
        if bucket is None:
            return self.shared.take(count)
        self._known.move_to_end(origin)
        return bucket.take(count)

    def vouch(self, origin: str) -> None:
        """`origin` announced a task the chain confirms it paid for: give it its own budget."""
        if origin in self._known:
            return
        self._known[origin] = TokenBucket(self.rate_per_s, self.burst, self.clock)
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)

    def is_known(self, origin: str) -> bool:
        return origin in self._known

    def __len__(self) -> int:
        return len(self._known)


class TaskCounter:
    """The chain's task counter, read at most once per `ttl_s`; one read serves all waiters,
    and at most `max_waiters` announcements wait for the next read (the rest are dropped)."""

    def __init__(self, read: Callable[[], Awaitable[int]], ttl_s: float = COUNTER_TTL_S,
                 clock: Clock = time.monotonic, max_waiters: int = MAX_COUNTER_WAITERS) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_waiters = max_waiters
        self.value = 0
        self.read_at = -1e18
        self.reads = 0
        self._waiting = 0
        self._lock = asyncio.Lock()

    def raise_to(self, task_id: int) -> None:
        """A chain event proved `task_id` exists."""
        self.value = max(self.value, task_id)

    async def covers(self, task_id: int) -> bool:
        """Does the chain have a task `task_id`? Reads the counter only when the cached value is
        below `task_id`, and then not before `ttl_s` after the last read."""
        if task_id <= self.value:
            return True
        if self._waiting >= self.max_waiters:
            return False
        self._waiting += 1
        try:
            async with self._lock:
                if task_id <= self.value:
                    return True
                wait = self.read_at + self.ttl_s - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    self.reads += 1
                    self.value = max(self.value, int(await self._read()))
                except Exception:  # RPC down: nothing verifiable now; chain discovery catches up
                    return False
                finally:
                    self.read_at = self.clock()
        finally:
            self._waiting -= 1
        return task_id <= self.value


@dataclass(frozen=True)
class Hint:
    """One announced task id, with who announced it (for the origin's budget and trust)."""

    task_id: int
    origin: str
    address: str = ""  # the origin's bound (signature-checked) Ethereum account, if any
    model_name: str = ""  # display only (see compute.policy)
    seen_at: float = field(default_factory=time.time)


class HintQueue:
    """Hints waiting for a task slot: capped (the oldest goes first) and expiring."""

    def __init__(self, max_items: int = MAX_QUEUED_HINTS, ttl_s: float = HINT_TTL_S,
                 clock: Clock = time.time,
                 on_drop: Callable[[Hint], None] = lambda _hint: None) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self.clock = clock
        self.on_drop = on_drop  # told of each hint evicted or expired unrun
        self._items: OrderedDict[int, Hint] = OrderedDict()
        self.dropped = 0
        self.expired = 0

    def put(self, hint: Hint) -> None:
        self._items[hint.task_id] = hint
        while len(self._items) > self.max_items:
            _, oldest = self._items.popitem(last=False)
            self.dropped += 1
            self.on_drop(oldest)

    def pop(self) -> Hint | None:
        """The oldest hint that has not expired (expired ones are discarded on the way)."""
        while self._items:
            _, hint = self._items.popitem(last=False)
            if self.clock() - hint.seen_at <= self.ttl_s:
                return hint
            self.expired += 1
            self.on_drop(hint)
        return None

    def take(self, task_id: int) -> Hint | None:
        """Remove and return the hint for `task_id` (the chain showed the task meanwhile)."""
        return self._items.pop(task_id, None)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._items

    def __len__(self) -> int:
        return len(self._items)


class AnnouncementIntake:
    """Turns announced ids into hints worth a chain read (see the module docstring)."""

    def __init__(self, counter: TaskCounter, *, budgets: OriginBudgets | None = None,
                 seen: BoundedSet | None = None,
                 already_handled: Callable[[int], bool] = lambda _task_id: False) -> None:
        self.counter = counter
        self.budgets = OriginBudgets() if budgets is None else budgets
        self.seen = BoundedSet(MAX_SEEN_IDS) if seen is None else seen
        self.already_handled = already_handled
        self.stats = {"admitted": 0, "duplicate": 0, "over_budget": 0, "beyond_counter": 0}

    async def admit(self, origin: str, address: str, ids: list[int],
                    names: dict[int, str]) -> list[Hint]:
        """The hints among `ids` to queue; charges `origin`'s budget before any RPC call."""
        charged: list[int] = []
        for task_id in dict.fromkeys(ids):
            if task_id in self.seen or self.already_handled(task_id):
                self.stats["duplicate"] += 1
            elif not self.budgets.charge(origin):
                self.stats["over_budget"] += 1
            else:
                charged.append(task_id)
        if not charged:
            return []
        await self.counter.covers(max(charged))
        hints = []
        for task_id in charged:
            if task_id > self.counter.value:
                self.stats["beyond_counter"] += 1
                continue
            if task_id in self.seen:  # another announcement got it while we waited
                continue
            self.seen.add(task_id)
            self.stats["admitted"] += 1
            hints.append(Hint(task_id, origin, address, names.get(task_id, "")[:128]))
        return hints

    def confirmed(self, hint: Hint, requester: str) -> None:
        """The chain returned `hint`'s task: its origin earns a budget when it paid for it."""
        if hint.address and requester.lower() == hint.address.lower():
            self.budgets.vouch(hint.origin)
