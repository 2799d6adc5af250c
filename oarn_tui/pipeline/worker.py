"""The worker side of one task: accept → claim → fetch → run → store → submit → paid.

Every stage is written to the ledger *before* the action it announces, with what a restart
needs (the commit salt, the result CID and hash), so `resume()` after `kill -9` continues from
the chain's view of our claim: nothing is claimed twice, no result is lost, no transaction is
sent twice.

The stages stay in one module (~450 lines) because they are one state machine (`TaskRun`): its
ledger writes and the order `resume()` replays them in must be read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import ClientError
from web3.exceptions import Web3RPCError

from oarn_tui.chain.bindings import ContractRevert, OarnContracts
from oarn_tui.chain.client import ChainError, TxRejected, TxReverted
from oarn_tui.pipeline.classes import ANY_CLASS
from oarn_tui.storage.cid import CID, CIDError, as_cid
from oarn_tui.storage.fetch import FetchError
from oarn_tui.storage.limits import ContentRefused, FetchBudget

if TYPE_CHECKING:
    from oarn_tui.chain.bindings import TaskView
    from oarn_tui.chain.face import ChainFace
    from oarn_tui.compute.face import ComputeFace
    from oarn_tui.core.service import ServiceHost
    from oarn_tui.p2p.face import P2PFace
    from oarn_tui.storage.face import StorageFace

log = logging.getLogger("oarn.pipeline")

FRAMEWORK_SUFFIX = {"onnx": ".onnx", "gguf": ".gguf", "torchscript": ".pt"}
ACTIVE_STAGES = ("accepted", "claimed", "fetching", "running", "storing", "submitted")
POLL_S = 0.5
CLAIM_REFUSALS = {"NoOpenSlot": "another executor took the last slot first",
                  "TaskNotOpen": "the task closed before our claim",
                  "DeadlinePassed": "the deadline passed before our claim",
                  "InsufficientStake": "not enough GOV staked (see `oarn stake`)",
                  "TooManyClaimants": "the task has all its executors"}


class PermanentFailure(Exception):
    """The task cannot succeed on this node (bad model, wrong input, lost claim)."""


class TaskNotOnChain(PermanentFailure):
    """The chain has no task with this id (a forged or premature announcement): nothing is
    written to the ledger for it."""


def task_cids(view: TaskView) -> tuple[CID, CID]:
    """The task's model and input CIDs, parsed from the chain's strings before anything touches
    the filesystem (file names are built from the parsed CIDs only, never from chain text)."""
    parsed = []
    for label, text in (("model", view.model_cid), ("input", view.input_cid)):
        try:
            parsed.append(CID.parse(str(text)))
        except (CIDError, ValueError):
            raise PermanentFailure(f"the task's {label}_cid {str(text)[:64]!r} is not a CID"
                                   ) from None
    return parsed[0], parsed[1]


class InferenceTimer(Protocol):
    """Where inference wall times go (the runtime's Prometheus metrics)."""

    def observe_inference(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Handles:
    """What a pipeline run uses: the node that hosts it and the faces of the services it
    needs, handed in when the runtime is assembled."""

    host: ServiceHost
    chain: ChainFace
    storage: StorageFace
    compute: ComputeFace
    p2p: P2PFace | None = None
    metrics: InferenceTimer | None = None

    @property
    def contracts(self) -> OarnContracts:
        contracts = self.chain.contracts
        if contracts is None:
            raise ConnectionError(f"chain not ready: {self.chain.reason}")
        return contracts


NEVER_TRANSIENT: tuple[type[BaseException], ...] = (ContractRevert, TxRejected, TxReverted,
                                                     ContentRefused, PermanentFailure)
"""A revert, a refused transaction, refused content or a lost task: retrying cannot help."""
TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError, FetchError,
                                              ChainError, Web3RPCError, ClientError)
"""The network, the RPC (web3's and aiohttp's errors, the chain's RpcUnavailable / TxTimeout
/ ChainError) or content not reachable yet (storage's FetchError, NoProviders...)."""


def transient(exc: BaseException) -> bool:
    """Worth retrying: the network, the RPC or content not reachable yet; never a revert."""
    if isinstance(exc, NEVER_TRANSIENT):
        return False
    return isinstance(exc, TRANSIENT)


def _revert_name(exc: BaseException) -> str:
    """The custom error a contract reverted with (`AlreadyClaimed`), "" for anything else."""
    return exc.error.rsplit(".", 1)[-1] if isinstance(exc, ContractRevert) else ""


class TaskRun:
    """Drives one task for this node as executor; `await run()` returns when it ends."""

    def __init__(self, handles: Handles, task_id: int, *, class_id: int,
                 model_name: str = "", force: bool = False,
                 discovered_at: float | None = None,
                 on_chain: Callable[[TaskView], None] | None = None) -> None:
        self.h = handles
        self.on_chain = on_chain  # told the task's chain view once the chain confirms it
        self.task_id = task_id
        self.key = str(task_id)
        self.class_id = class_id
        self.model_name = model_name
        self.force = force
        self.discovered_at = discovered_at
        self.ledger = handles.host.ledger
        self.work_dir = handles.host.home / "work"
        self.fetch_budget: FetchBudget | None = None  # the task's disk quota, once fetching

    # -- helpers ------------------------------------------------------------------------------

    def _stage(self, stage: str, note: str = "", tx_hash: str = "", **fields: Any) -> None:
        details = fields.pop("details", None)
        self.ledger.transition(self.key, stage, note=note, tx_hash=tx_hash, details=details,
                               **fields)
        self.h.host.events.publish("task.stage", task_id=self.key, stage=stage, note=note,
                                      tx_hash=tx_hash)
        log.info("task %s %s%s", self.key, stage, f": {note}" if note else "",
                 extra={"task_id": self.key, "stage": stage, "tx_hash": tx_hash})

    def _details(self) -> dict[str, Any]:
        record = self.ledger.get(self.key)
        return dict(record.details) if record else {}

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> str:
        """Take the task from wherever the ledger and chain say it is to its end stage."""
        contracts = self.h.contracts
        try:
            view = await contracts.get_task(self.task_id)
        except ContractRevert as exc:
            if exc.error.endswith("UnknownTask"):
                raise TaskNotOnChain(f"no task {self.task_id} on chain") from None
            raise
        if self.on_chain is not None:
            self.on_chain(view)
        claim = await contracts.get_claim(self.task_id)
        record = self.ledger.get(self.key)
        if claim.state in ("none", "timed_out"):
            if record is not None and record.stage in ACTIVE_STAGES[1:]:
                self._stage("released", "our claim lapsed on chain (timed out or never mined)",
                            failure_reason="claim lapsed")
                return "released"
            if not await self._accept(view):
                return "rejected"
            await self._claim()
        elif record is None or record.stage in ("discovered", "accepted"):
            # killed between sending the claim and recording it: the chain has it
            self._stage("claimed", "claim found on chain (resumed)")
        if claim.state in ("none", "timed_out", "claimed"):
            details = self._details()
            if not details.get("result_cid"):
                model_path, input_path = await self._fetch(view)
                result = await self._execute(view, model_path, input_path)
                await self._store(result)
            await self._submit(view)
        elif claim.state == "committed":
            await self._reveal(view)
        return await self._await_payment(view)

    async def _accept(self, view: TaskView) -> bool:
        from oarn_tui.compute.policy import TaskRequirements

        now = await self.h.contracts.chain_time()
        reason = ""
        local_names: tuple[str, ...] = ()
        try:
            model_cid, _ = task_cids(view)
        except PermanentFailure as exc:
            cid_problem = str(exc)
        else:
            cid_problem = ""
            local_names = await self._bound_names(model_cid)
        if cid_problem:  # first: a chain string that is no CID reaches no file and no policy
            reason = cid_problem
        elif view.status != "open":
            reason = f"task is {view.status}"
        elif view.deadline <= now:
            reason = "deadline passed"
        elif await self.h.contracts.open_slots(self.task_id) == 0:
            reason = "no open slot"
        elif view.determinism not in (ANY_CLASS, self.class_id) and not self.force:
            reason = (f"needs determinism class {view.determinism}, this node is "
                      f"{self.class_id}")
        elif not self.force and not self.h.host.accepting:
            reason = "accepting is paused"
        elif view.redundancy > 1 and await self._disagrees_too_often():
            reason = ("this node's results disagreed on chain too often; taking only R = 1 "
                      "tasks until it agrees again")
        if not reason and not self.force:
            decision = self.h.compute.decide(TaskRequirements(
                framework=view.framework, min_vram_mb=view.min_vram_mb,
                min_ram_mb=view.min_ram_mb, max_runtime_s=view.max_runtime_s,
                model_name=self.model_name, model_cid=view.model_cid,
                reward_wei=view.reward_per_executor, local_names=local_names))
            reason = "" if decision.accepted else decision.reason
        label = local_names[0] if local_names else (self.model_name or view.model_cid[:16])
        common: dict[str, Any] = {"model": label[:64], "model_cid": view.model_cid[:100],
                                  "input_cid": view.input_cid[:100],
                                  "reward_wei": view.reward_per_executor}
        if reason:
            self._stage("rejected", reason, failure_reason=reason, **common)
            return False
        self._stage("accepted", "fits this node's hardware and policy", **common,
                    details={"redundancy": view.redundancy, "deadline": view.deadline,
                             "discovered_at": self.discovered_at or time.time()})
        return True

    async def _bound_names(self, model_cid: CID) -> tuple[str, ...]:
        """Names this node's own model store (`oarn model add/pull`) binds to `model_cid`."""
        from oarn_tui.compute.policy import names_bound_to

        models = self.h.storage.models
        if models is None:
            return ()
        try:
            manifests = await asyncio.to_thread(models.list)
        except Exception as exc:  # an unreadable store binds no name
            log.info("model store not readable for accepted_models: %s", exc)
            return ()
        return names_bound_to(str(model_cid), manifests)

    async def _disagrees_too_often(self) -> bool:
        """On-chain counters feed acceptance: a node whose redundant results disagreed in more
        than a quarter of its last tasks (at least 4) stops taking redundant tasks, where a
        minority result costs stake."""
        stats = await self.h.contracts.executor_stats()
        total = stats["completed"] + stats["disagreed"]
        return total >= 4 and stats["disagreed"] * 4 > total

    async def _claim(self) -> None:
        try:
            receipt = await self.h.contracts.claim(self.task_id)
        except Exception as exc:
            name = _revert_name(exc)
            if name == "AlreadyClaimed":
                self._stage("claimed", "claim already on chain (resumed)")
                return
            if name in ("NoOpenSlot", "TaskNotOpen", "DeadlinePassed", "InsufficientStake",
                        "TooManyClaimants"):
                reason = CLAIM_REFUSALS.get(name, name)
                self._stage("rejected", f"claim refused: {reason}", failure_reason=reason)
                raise PermanentFailure(reason) from None
            raise
        self._stage("claimed", "claimed on chain", tx_hash=receipt.tx_hash)

    async def _requester_peer(self, view: TaskView) -> str | None:
        """The requester's peer ID from the registry (it registered when its node started)."""
        with contextlib.suppress(Exception):
            return (await self.h.contracts.get_node(view.requester))["peer_id"] or None
        return None

    async def _fetch_cid(self, cid: str, dest: Path, label: str, hint: str | None) -> Path:
        storage = self.h.storage
        if dest.exists():
            return dest
        fetcher = storage.exchange
        if fetcher is not None and not storage.blocks.dag_complete(cid):

            def progress(done: int, total: int | None) -> None:
                if total:
                    self.ledger.update(self.key, progress=round(min(done / total, 1.0), 3))

            if self.fetch_budget is None:  # model + input share one quota
                self.fetch_budget = self.h.storage.task_budget()
            try:
                await fetcher.fetch(as_cid(cid), progress, hint=hint, budget=self.fetch_budget)
            except ContentRefused as exc:  # too big, too deep, a DAG bomb: no peer can fix it
                raise PermanentFailure(f"{label} {cid} refused: {exc}") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            await storage.local.get_file(cid, dest)
        except ContentRefused as exc:
            raise PermanentFailure(f"{label} {cid} refused: {exc}") from None
        except Exception as exc:
            raise ConnectionError(f"{label} {cid} is not available yet: {exc}") from None
        return dest

    async def _fetch(self, view: TaskView) -> tuple[Path, Path]:
        model_cid, input_cid = task_cids(view)  # canonical CID strings name the files
        self._stage("fetching", "model and input by CID")
        suffix = FRAMEWORK_SUFFIX.get(view.framework, "")
        hint = await self._requester_peer(view)
        model = await self._fetch_cid(str(model_cid),
                                      self.work_dir / "models" / f"{model_cid}{suffix}",
                                      "model", hint)
        data = await self._fetch_cid(str(input_cid),
                                     self.work_dir / "inputs" / f"{input_cid}.safetensors",
                                     "input", hint)
        return model, data

    async def _execute(self, view: TaskView, model_path: Path, input_path: Path) -> Any:
        from oarn_tui.compute.pool import InferenceTask, TaskFailed
        from oarn_tui.compute.tensors import load_tensors

        self._stage("running", f"{view.framework} in the sandboxed worker")
        try:
            inputs = await asyncio.to_thread(load_tensors, input_path)
        except Exception as exc:
            raise PermanentFailure(f"input is not a tensor file: {exc}") from None
        started = time.perf_counter()
        try:
            result = await self.h.compute.run(InferenceTask(
                model_path=model_path, inputs=inputs, timeout_s=float(view.max_runtime_s),
                model_format=view.framework, task_id=self.key))
        except TaskFailed as exc:
            raise PermanentFailure(exc.reason) from None
        if self.h.metrics is not None:
            self.h.metrics.observe_inference(time.perf_counter() - started)
        return result

    async def _store(self, result: Any) -> None:
        self._stage("storing", "result into the content store")
        cid = str(await self.h.storage.local.add_file(result.encoded))
        await self.h.storage.pin_result(cid)
        exchange = self.h.storage.exchange
        if exchange is not None:
            exchange.provide_later(as_cid(cid))
        self.ledger.update(self.key, result_cid=cid, result_hash=result.result_hash,
                           progress=1.0)
        self.ledger.transition(self.key, "storing", note=f"stored as {cid}",
                               details={"result_cid": cid, "result_hash": result.result_hash,
                                        "determinism": result.determinism.to_dict(),
                                        "timings_ms": result.timings})

    async def _submit(self, view: TaskView) -> None:
        details = self._details()
        cid, digest = details["result_cid"], bytes.fromhex(details["result_hash"])
        if view.redundancy == 1:
            try:
                receipt = await self.h.contracts.submit_result(self.task_id, digest, cid)
            except Exception as exc:
                if _revert_name(exc) in ("WrongPhase", "NotClaimant", "ClaimExpired"):
                    claim = await self.h.contracts.get_claim(self.task_id)
                    if claim.state == "revealed":  # a previous run's submit was mined
                        return
                raise
            self._stage("submitted", "result hash on chain", tx_hash=receipt.tx_hash)
            await self._notify(cid, details["result_hash"])
            return
        salt = bytes.fromhex(details["salt"]) if "salt" in details else secrets.token_bytes(32)
        self.ledger.transition(self.key, "storing", note="commitment prepared",
                               details={"salt": salt.hex()})
        await self.h.contracts.commit_result(self.task_id, digest, cid, salt)
        self._stage("submitted", "commitment on chain; revealing when all have committed")
        await self._reveal(view)

    async def _reveal(self, view: TaskView) -> None:
        details = self._details()
        deadline = time.monotonic() + max(view.deadline - time.time(), 0) + 60
        while time.monotonic() < deadline:
            task = await self.h.contracts.get_task(self.task_id)
            if task.status != "open":
                return
            if task.commitments + task.results >= task.redundancy or \
                    await self.h.contracts.reveal_open(self.task_id):
                break
            await asyncio.sleep(POLL_S)
        receipt = await self.h.contracts.reveal_result(
            self.task_id, bytes.fromhex(details["result_hash"]), details["result_cid"],
            bytes.fromhex(details["salt"]))
        self._stage("submitted", "result revealed", tx_hash=receipt.tx_hash)
        await self._notify(details["result_cid"], details["result_hash"])

    async def _notify(self, cid: str, digest: str) -> None:
        from oarn_tui.p2p.messages import TOPIC_RESULTS

        node = self.h.p2p.node if self.h.p2p is not None else None
        if node is None:
            return
        with contextlib.suppress(Exception):
            await node.publish(TOPIC_RESULTS, {"results": [
                {"task_id": self.task_id, "result_cid": cid, "result_hash": digest}]})

    async def _await_payment(self, view: TaskView) -> str:
        contracts = self.h.contracts
        limit = time.monotonic() + max(view.deadline - time.time(), 0) + 120
        while time.monotonic() < limit:
            try:
                task = await contracts.get_task(self.task_id)
            except Exception as exc:
                if not transient(exc):
                    raise
                await asyncio.sleep(1.0)
                continue
            if task.status == "finalized":
                break
            if task.status == "cancelled":
                self._stage("failed", "task cancelled", failure_reason="cancelled")
                return "failed"
            expired = task.deadline <= max(time.time(), await contracts.chain_time())
            if task.results >= task.redundancy or expired:
                with contextlib.suppress(Exception):
                    await contracts.finalize(self.task_id)
                continue
            await asyncio.sleep(POLL_S)
        else:
            raise ConnectionError("task not finalized yet")
        return await self._record_payment()

    async def _record_payment(self) -> str:
        paid = await self.h.contracts.payments_to(self.task_id)
        if not paid:
            self._stage("failed", "finalized without paying this node (minority or late "
                        "result)", failure_reason="not paid")
            return "failed"
        event = paid[0]
        total = int(event.args["reward"]) + int(event.args["bonus"])
        tx_hash = event.tx_hash
        if not any(e.task_id == self.key for e in self.ledger.earnings(500)):
            self.ledger.record_earning(self.key, total, tx_hash)
        self._stage("rewarded", "paid", tx_hash=tx_hash,
                    details={"reward_wei": str(event.args["reward"]),
                             "bonus_wei": str(event.args["bonus"])})
        self.h.host.events.publish("wallet.earned", task_id=self.key, amount_wei=str(total))
        return "rewarded"
