"""`PipelineService`: discovers tasks (chain events and gossip; duplicates merge), runs them
with bounded concurrency and retries, resumes after a crash, and serves the task commands.

Chain-discovered ids are queued as they come (the chain bounds them). Gossip announcements are
hints that go through `intake.AnnouncementIntake` (budgets per origin before any RPC, the chain's
task counter, capped and expiring queues); an announced id that the chain does not have leaves no
ledger row.

It is handed the faces of the chain, storage, compute and p2p services (and the metrics'
inference timer) when the runtime is assembled; its status section is the `pipeline` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oarn_tui.core.service import Handler, ServiceBase, ServiceHost
from oarn_tui.pipeline.announce import announced_task_ids, model_names
from oarn_tui.pipeline.intake import (
    AnnouncementIntake,
    BoundedSet,
    Hint,
    HintQueue,
    TaskCounter,
)
from oarn_tui.pipeline.requester import Requester, RequestError
from oarn_tui.pipeline.worker import (
    ACTIVE_STAGES,
    Handles,
    InferenceTimer,
    PermanentFailure,
    TaskNotOnChain,
    TaskRun,
    transient,
)

if TYPE_CHECKING:
    from oarn_tui.chain.bindings import TaskView
    from oarn_tui.chain.face import ChainFace
    from oarn_tui.compute.face import ComputeFace
    from oarn_tui.p2p.face import P2PFace
    from oarn_tui.p2p.messages import Envelope
    from oarn_tui.storage.face import StorageFace

log = logging.getLogger("oarn.pipeline")

MAX_ATTEMPTS = 6
BACKOFF_CAP_S = 20.0
DISCOVERY_INTERVAL_S = 0.5
MIN_ANNOUNCER_SCORE = -50.0  # peers that sent many invalid messages stop hinting us


class PipelineService(ServiceBase):
    """Runs the worker pipeline and the requester commands inside the runtime."""

    name = "pipeline"
    depends_on: tuple[str, ...] = ("wallet", "chain", "storage", "compute", "p2p", "hardware")

    def __init__(self, *, chain: ChainFace, storage: StorageFace, compute: ComputeFace,
                 p2p: P2PFace | None = None, metrics: InferenceTimer | None = None,
                 worker: bool = True) -> None:
        """`worker=False`: a requester-only node (it never claims tasks)."""
        self.worker = worker
        self.chain, self.storage, self.compute, self.p2p = chain, storage, compute, p2p
        self.metrics = metrics
        self.handles: Handles | None = None
        self.requester: Requester | None = None
        self.class_id = 0
        self.class_key = ""
        self._queue: deque[tuple[int, Hint | None]] = deque()  # chain-confirmed and resumed
        self._known = BoundedSet(20_000)
        self._hints = HintQueue(on_drop=lambda hint: self._known.discard(hint.task_id))
        self._wake = asyncio.Event()
        self._seen_at: dict[int, float] = {}  # first sighting, for the distribution latency
        self._active: dict[int, asyncio.Task[None]] = {}
        self.intake = AnnouncementIntake(TaskCounter(self._task_count), seen=self._known,
                                         already_handled=self._handled)
        self._loops: list[asyncio.Task[None]] = []
        self._state, self._reason = "stopped", "not started"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: ServiceHost) -> None:
        from oarn_tui.pipeline.classes import node_class

        self.handles = Handles(host, self.chain, self.storage, self.compute, self.p2p,
                               self.metrics)
        self.requester = Requester(self.handles)
        self.class_id, self.class_key = node_class(host.config)
        self._register_commands(host)
        node = self.p2p.node if self.p2p is not None else None
        if node is not None:
            from oarn_tui.p2p.messages import TOPIC_TASKS

            node.subscribe(TOPIC_TASKS, self._on_announcement)
        self._loops = [asyncio.create_task(self._discover_from_chain(), name="pipeline-chain"),
                       asyncio.create_task(self._dispatch(), name="pipeline-dispatch")]
        self._state, self._reason = "running", "waiting for the chain" \
            if self.chain.contracts is None else "ready"

    async def stop(self) -> None:
        for task in [*self._loops, *self._active.values()]:
            task.cancel()
        for task in [*self._loops, *self._active.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        self._active.clear()
        self._state, self._reason = "stopped", "stopped"

    def status(self) -> dict[str, Any]:
        return {"state": self._state, "reason": self._reason, "active": len(self._active),
                "queued": self.queued, "determinism_class": self.class_id}

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._hints)

    def status_fields(self) -> Mapping[str, Any]:
        """The `pipeline` block: active and queued tasks, role, class, announcement intake."""
        return {"pipeline": {"active": sorted(str(t) for t in self._active),
                             "queued": self.queued, "worker": self.worker,
                             "determinism_class": {"id": self.class_id, "key": self.class_key},
                             "announcements": {**self.intake.stats,
                                               "expired": self._hints.expired,
                                               "dropped": self._hints.dropped,
                                               "counter_reads": self.intake.counter.reads}}}

    # -- discovery ----------------------------------------------------------------------------

    def offer(self, task_id: int) -> None:
        """Queue a task the chain showed us, once, whichever source saw it first."""
        self.intake.counter.raise_to(task_id)
        hint = self._hints.take(task_id)
        if hint is not None:  # announced earlier, now confirmed by the chain: run it first
            self._known.discard(task_id)
            self._seen_at.setdefault(task_id, hint.seen_at)
        if task_id in self._known or task_id in self._active or not self.worker:
            return
        self._seen_at.setdefault(task_id, time.time())
        self._known.add(task_id)
        self._queue.append((task_id, hint))
        self._wake.set()

    async def _task_count(self) -> int:
        contracts = self.chain.contracts
        if self.handles is None or contracts is None:
            raise ConnectionError("chain not ready")
        return await contracts.task_count()

    def _handled(self, task_id: int) -> bool:
        """Running, or already ended in the ledger: an announcement of it costs nothing more."""
        if task_id in self._active:
            return True
        ledger = self.handles.host.ledger if self.handles else None
        return ledger is not None and ledger.get(str(task_id)) is not None

    async def _on_announcement(self, envelope: Envelope) -> None:
        if not self.worker:
            return
        node = self.p2p.node if self.p2p is not None else None
        if node is not None and node.scores.score(envelope.sender) < MIN_ANNOUNCER_SCORE:
            log.info("ignored announcement from low-scored peer %s", envelope.sender)
            return
        ids, problems = announced_task_ids(envelope.body)
        if problems:
            log.info("ignored malformed announcement items from %s: %s", envelope.sender,
                     "; ".join(problems[:3]))
        address = envelope.binding.address if envelope.binding is not None else ""
        for hint in await self.intake.admit(envelope.sender, address, ids,
                                            model_names(envelope.body)):
            self._hints.put(hint)
        self._wake.set()

    async def _discover_from_chain(self) -> None:
        assert self.handles is not None
        chain = self.handles.chain
        await chain.connected.wait()
        while chain.contracts is None:
            await asyncio.sleep(1.0)
        if self.worker:
            await self._resume()
        contracts = chain.contracts
        poller = chain.task_event_poller(event_names=["TaskSubmitted"])
        # The events start at the head read BEFORE the scan of the open tasks: a task submitted
        # meanwhile is in both (offers merge), never in neither (a just-restarted worker lost
        # such tasks). Unreadable head: the events start at block 0.
        with contextlib.suppress(Exception):
            poller.next_block = await contracts.block_number() + 1
        with contextlib.suppress(Exception):
            for view in await contracts.open_tasks(limit=100):
                self.offer(view.task_id)
        self._state, self._reason = "running", "ready"  # ready = discovery armed
        while True:
            try:
                for event in await poller.poll():
                    self.offer(int(event.args["taskId"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RPC outage: keep polling, say so once per failure
                log.warning("chain event poll failed: %s", exc)
                await asyncio.sleep(2.0)
            await asyncio.sleep(DISCOVERY_INTERVAL_S)

    async def _resume(self) -> None:
        """After a restart: continue every task the ledger shows in flight."""
        assert self.handles is not None
        for record in self.handles.host.ledger.in_stages(ACTIVE_STAGES):
            if record.role != "worker":
                continue
            log.info("resuming task %s from %s", record.task_id, record.stage)
            task_id = int(record.task_id)
            self._known.add(task_id)
            self._queue.append((task_id, None))
            self._wake.set()

    # -- execution ----------------------------------------------------------------------------

    def _next(self) -> tuple[int, Hint | None] | None:
        """Chain-discovered ids first, then the oldest unexpired gossip hint."""
        if self._queue:
            return self._queue.popleft()
        hint = self._hints.pop()
        return (hint.task_id, hint) if hint is not None else None

    async def _dispatch(self) -> None:
        assert self.handles is not None
        while True:
            item = self._next()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            task_id, hint = item
            if task_id in self._active:
                continue
            while len(self._active) >= self.handles.host.config.compute.max_concurrent_tasks:
                await asyncio.sleep(0.05)
            self._active[task_id] = asyncio.create_task(self._run(task_id, hint=hint),
                                                        name=f"task-{task_id}")

    async def _run(self, task_id: int, *, force: bool = False, hint: Hint | None = None
                   ) -> None:
        assert self.handles is not None
        ledger = self.handles.host.ledger
        seen_at = self._seen_at.pop(task_id, None) or (hint.seen_at if hint else None)

        def on_chain(view: TaskView) -> None:
            if hint is not None:
                self.intake.confirmed(hint, view.requester)

        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                run = TaskRun(self.handles, task_id, class_id=self.class_id,
                              model_name=hint.model_name if hint else "", force=force,
                              discovered_at=seen_at, on_chain=on_chain)
                try:
                    await run.run()
                    return
                except TaskNotOnChain as exc:  # a forged or premature id: no ledger row
                    log.info("task %s: %s (announced by %s)", task_id, exc,
                             hint.origin if hint else "the chain")
                    self._known.discard(task_id)
                    return
                except PermanentFailure as exc:
                    self._fail(task_id, str(exc))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not transient(exc) or attempt == MAX_ATTEMPTS:
                        self._fail(task_id, f"{type(exc).__name__}: {exc}")
                        return
                    delay = min(BACKOFF_CAP_S, 0.5 * 2 ** (attempt - 1)) * random.uniform(1, 1.3)
                    log.info("task %s: transient failure (%s); retry %d in %.1f s", task_id,
                             exc, attempt, delay)
                    ledger.update(str(task_id), failure_reason=f"retrying: {exc}"[:200])
                    await asyncio.sleep(delay)
        finally:
            self._active.pop(task_id, None)

    def _fail(self, task_id: int, reason: str) -> None:
        assert self.handles is not None
        ledger = self.handles.host.ledger
        record = ledger.get(str(task_id))
        if record is not None and record.stage in ("rejected", "released", "failed"):
            return
        ledger.transition(str(task_id), "failed", note=reason, failure_reason=reason[:300])
        self.handles.host.events.publish("task.stage", task_id=str(task_id), stage="failed",
                                            note=reason, tx_hash="")
        log.warning("task %s failed: %s", task_id, reason)

    # -- commands -----------------------------------------------------------------------------

    def _register_commands(self, host: ServiceHost) -> None:
        from oarn_tui.core.service import CommandError

        def requester() -> Requester:
            if self.requester is None or self.handles is None or \
                    self.handles.chain.contracts is None:
                raise CommandError("the chain is not connected (wallet locked or RPC down)")
            return self.requester

        async def submit(**args: Any) -> dict[str, Any]:
            args["input_path"] = Path(args["input_path"])
            try:
                return await requester().submit(**args)
            except RequestError as exc:
                raise CommandError(str(exc)) from None

        async def wait(task_id: int, timeout_s: float = 600) -> dict[str, Any]:
            return await requester().wait(int(task_id), float(timeout_s))

        async def result(task_id: int, out: str) -> dict[str, Any]:
            try:
                return await requester().fetch_result(int(task_id), Path(out))
            except RequestError as exc:
                raise CommandError(str(exc)) from None

        async def cancel(task_id: int) -> dict[str, Any]:
            try:
                return await requester().cancel(int(task_id))
            except Exception as exc:
                raise CommandError(f"cannot cancel task {task_id}: {exc}") from None

        async def claim(task_id: int, force: bool = False) -> dict[str, Any]:
            requester()
            task_id = int(task_id)
            if task_id in self._active:
                raise CommandError(f"task {task_id} is already being worked on")
            self._known.add(task_id)
            await self._run(task_id, force=force)
            record = host.ledger.get(str(task_id))
            if record is None:  # the chain has no such task (nothing was written)
                raise CommandError(f"no task {task_id} on chain")
            return record.to_dict()

        handlers: dict[str, Handler] = {"task.submit": submit, "task.wait": wait,
                                        "task.result": result, "task.cancel": cancel,
                                        "task.claim": claim}
        for name, handler in handlers.items():
            host.commands.register(name, handler)
