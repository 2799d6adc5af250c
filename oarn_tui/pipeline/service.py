"""`PipelineService`: discovers tasks (chain events and gossip; duplicates merge), runs them
with bounded concurrency and retries, resumes after a crash, and serves the task commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from pathlib import Path
from typing import Any

from oarn_tui.pipeline.announce import announced_task_ids, model_names
from oarn_tui.pipeline.requester import Requester, RequestError
from oarn_tui.pipeline.worker import ACTIVE_STAGES, Handles, PermanentFailure, TaskRun, transient

log = logging.getLogger("oarn.pipeline")

MAX_ATTEMPTS = 6
BACKOFF_CAP_S = 20.0
DISCOVERY_INTERVAL_S = 0.5
MIN_ANNOUNCER_SCORE = -50.0  # peers that sent many invalid messages stop hinting us


class PipelineService:
    """Runs the worker pipeline and the requester commands inside the runtime."""

    name = "pipeline"
    depends_on: tuple[str, ...] = ("wallet", "chain", "storage", "compute", "p2p", "hardware")

    def __init__(self, *, worker: bool = True) -> None:
        self.worker = worker
        self.handles: Handles | None = None
        self.requester: Requester | None = None
        self.class_id = 0
        self.class_key = ""
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._known: set[int] = set()
        self._names: dict[int, str] = {}
        self._seen_at: dict[int, float] = {}  # first sighting, for the distribution latency
        self._active: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._state, self._reason = "stopped", "not started"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, runtime: Any) -> None:
        from oarn_tui.pipeline.classes import node_class

        services = runtime.services
        missing = [name for name in ("chain", "storage", "compute") if name not in services]
        if missing:
            self._state, self._reason = "degraded", f"missing services: {', '.join(missing)}"
            return
        self.handles = Handles(runtime, services["chain"], services["storage"],
                               services["compute"], services.get("p2p"))
        self.requester = Requester(self.handles)
        self.class_id, self.class_key = node_class(runtime.config)
        self._register_commands(runtime)
        p2p = services.get("p2p")
        if p2p is not None and getattr(p2p, "node", None) is not None:
            from oarn_tui.p2p.messages import TOPIC_TASKS

            p2p.node.subscribe(TOPIC_TASKS, self._on_announcement)
        self._loops = [asyncio.create_task(self._discover_from_chain(), name="pipeline-chain"),
                       asyncio.create_task(self._dispatch(), name="pipeline-dispatch")]
        self._state, self._reason = "running", "waiting for the chain" \
            if services["chain"].contracts is None else "ready"

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
                "queued": self._queue.qsize(), "determinism_class": self.class_id}

    def contribute_status(self, doc: dict[str, Any]) -> None:
        doc["pipeline"] = {"active": sorted(str(t) for t in self._active),
                           "queued": self._queue.qsize(), "worker": self.worker,
                           "determinism_class": {"id": self.class_id, "key": self.class_key}}

    # -- discovery ----------------------------------------------------------------------------

    def offer(self, task_id: int, model_name: str = "") -> None:
        """Queue a task once, whichever source saw it first."""
        if model_name:
            self._names.setdefault(task_id, model_name)
        if task_id in self._known or not self.worker:
            return
        self._seen_at[task_id] = time.time()
        self._known.add(task_id)
        self._queue.put_nowait(task_id)

    async def _on_announcement(self, envelope: Any) -> None:
        node = getattr(self.handles.p2p, "node", None) if self.handles else None
        if node is not None and node.scores.score(envelope.sender) < MIN_ANNOUNCER_SCORE:
            log.info("ignored announcement from low-scored peer %s", envelope.sender)
            return
        ids, problems = announced_task_ids(envelope.body)
        if problems:
            log.info("ignored malformed announcement items from %s: %s", envelope.sender,
                     "; ".join(problems[:3]))
        names = model_names(envelope.body)
        for task_id in ids:
            self.offer(task_id, names.get(task_id, ""))

    async def _discover_from_chain(self) -> None:
        from oarn_tui.chain.contracts import abi
        from oarn_tui.chain.events import LogPoller

        assert self.handles is not None
        chain = self.handles.chain
        await chain.connected.wait()
        while chain.contracts is None:
            await asyncio.sleep(1.0)
        self._state, self._reason = "running", "ready"
        if self.worker:
            await self._resume()
        contracts = chain.contracts
        poller = LogPoller(contracts.client.pool, [contracts.addresses["task_registry"]],
                           [abi("TaskRegistry")],
                           confirmations=self.handles.runtime.config.blockchain.confirmations,
                           event_names=["TaskSubmitted"])
        with contextlib.suppress(Exception):
            for view in await contracts.open_tasks(limit=100):
                self.offer(view.task_id)
            poller.next_block = int(await contracts.client.block_number()) + 1
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
        for record in self.handles.runtime.ledger.in_stages(ACTIVE_STAGES):
            if record.role != "worker":
                continue
            log.info("resuming task %s from %s", record.task_id, record.stage)
            task_id = int(record.task_id)
            self._known.add(task_id)
            self._queue.put_nowait(task_id)

    # -- execution ----------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        assert self.handles is not None
        while True:
            task_id = await self._queue.get()
            while len(self._active) >= self.handles.runtime.config.compute.max_concurrent_tasks:
                await asyncio.sleep(0.05)
            self._active[task_id] = asyncio.create_task(self._run(task_id),
                                                        name=f"task-{task_id}")

    async def _run(self, task_id: int, *, force: bool = False) -> None:
        assert self.handles is not None
        ledger = self.handles.runtime.ledger
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                run = TaskRun(self.handles, task_id, class_id=self.class_id,
                              model_name=self._names.get(task_id, ""), force=force,
                              discovered_at=self._seen_at.pop(task_id, None))
                try:
                    await run.run()
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
        ledger = self.handles.runtime.ledger
        record = ledger.get(str(task_id))
        if record is not None and record.stage in ("rejected", "released", "failed"):
            return
        ledger.transition(str(task_id), "failed", note=reason, failure_reason=reason[:300])
        self.handles.runtime.events.publish("task.stage", task_id=str(task_id), stage="failed",
                                            note=reason, tx_hash="")
        log.warning("task %s failed: %s", task_id, reason)

    # -- commands -----------------------------------------------------------------------------

    def _register_commands(self, runtime: Any) -> None:
        from oarn_tui.runtime.node import CommandError

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
            record = runtime.ledger.get(str(task_id))
            return record.to_dict() if record else {"task_id": str(task_id)}

        for name, handler in {"task.submit": submit, "task.wait": wait, "task.result": result,
                              "task.cancel": cancel, "task.claim": claim}.items():
            runtime.commands.register(name, handler)
