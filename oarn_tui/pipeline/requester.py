"""The requester side: store model and input, escrow the reward, submit, announce; then await
the result, finalize, fetch it by CID and verify its hash against the chain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from oarn_tui.pipeline.announce import task_item
from oarn_tui.pipeline.worker import Handles, transient
from oarn_tui.storage.cid import as_cid

log = logging.getLogger("oarn.requester")

POLL_S = 0.25
FORMATS = {".onnx": "onnx", ".gguf": "gguf", ".pt": "torchscript", ".ts": "torchscript"}


class RequestError(Exception):
    """A requester action failed for a reason to show as one line."""


class Requester:
    """Submits tasks and collects their results through this node's services."""

    def __init__(self, handles: Handles) -> None:
        self.h = handles
        self.ledger = handles.host.ledger
        self._submit_lock = asyncio.Lock()

    async def _store(self, source: Path | bytes) -> str:
        return str(await self.h.storage.local.add_file(source))

    async def submit(self, *, model: str, input_path: Path, reward_wei: int, redundancy: int = 1,
                     deadline_s: int = 600, min_vram_mb: int = 0, min_ram_mb: int = 0,
                     max_runtime_s: int = 120, determinism: int = 0,
                     claim_timeout_s: int = 300, framework: str = "") -> dict[str, Any]:
        """Store model and input, approve + escrow, submit on chain, announce. Returns the task."""
        from oarn_tui.chain.bindings import TaskSpec
        from oarn_tui.compute.tensors import encode_canonical, load_tensors

        model_path = Path(model)
        if model_path.exists():
            model_cid = await self._store(model_path)
            framework = framework or FORMATS.get(model_path.suffix.lower(), "")
            model_name = model_path.stem
        else:
            try:
                model_cid = str(as_cid(model))
            except Exception:
                raise RequestError(f"--model {model!r} is neither a file nor a CID") from None
            model_name = model
        if not framework:
            raise RequestError("cannot tell the model's framework; pass --framework")
        try:
            tensors = await asyncio.to_thread(load_tensors, input_path)
        except Exception as exc:
            raise RequestError(f"--input {input_path}: not a tensor file ({exc})") from None
        input_cid = await self._store(encode_canonical(tensors))
        contracts = self.h.contracts
        now = max(int(time.time()), await contracts.chain_time())  # idle devnets mine lazily
        spec = TaskSpec(model_cid=model_cid, input_cid=input_cid,
                        reward_per_executor=reward_wei, deadline=now + deadline_s,
                        framework=framework, min_vram_mb=min_vram_mb, min_ram_mb=min_ram_mb,
                        max_runtime_s=max_runtime_s, determinism=determinism,
                        redundancy=redundancy, claim_timeout_s=claim_timeout_s)
        async with self._submit_lock:  # approve + submit must not interleave (allowance)
            task_id = await contracts.submit_task(spec)
        key = str(task_id)
        for cid in (model_cid, input_cid):
            await self.h.storage.pin_task_input(cid, task_id)
        self.ledger.transition(key, "requested", role="requester", model=model_name,
                               model_cid=model_cid, input_cid=input_cid, reward_wei=reward_wei,
                               note=f"submitted with R = {redundancy}",
                               details={"redundancy": redundancy, "deadline": spec.deadline,
                                        "submitted_at": time.time()})
        self.h.host.events.publish("task.stage", task_id=key, stage="requested",
                                      note="submitted", tx_hash="")
        await self._announce([task_item(task_id, model_cid=model_cid, input_cid=input_cid,
                                        framework=framework, reward_wei=reward_wei,
                                        redundancy=redundancy, model_name=model_name)])
        return {"task_id": task_id, "model_cid": model_cid, "input_cid": input_cid,
                "deadline": spec.deadline, "redundancy": redundancy, "framework": framework}

    async def _announce(self, items: list[dict[str, Any]]) -> None:
        from oarn_tui.p2p.messages import TOPIC_TASKS

        node = self.h.p2p.node if self.h.p2p is not None else None
        exchange = self.h.storage.exchange
        if exchange is not None:
            for item in items:
                for cid in (item["model_cid"], item["input_cid"]):
                    exchange.provide_later(as_cid(cid))
        if node is not None:
            try:
                await node.publish(TOPIC_TASKS, {"tasks": items})
            except Exception as exc:  # the chain event still reaches workers
                log.warning("announcement failed: %s", exc)

    async def wait(self, task_id: int, timeout_s: float) -> dict[str, Any]:
        """Wait until every executor has a result in (then finalize) or the task ends."""
        contracts = self.h.contracts
        key = str(task_id)
        deadline = time.monotonic() + timeout_s
        assigned = False
        while time.monotonic() < deadline:
            try:
                task = await contracts.get_task(task_id)
            except Exception as exc:  # an RPC hiccup or outage: keep waiting
                if not transient(exc):
                    raise
                log.info("waiting for task %s: %s", task_id, exc)
                await asyncio.sleep(1.0)
                continue
            if task.status in ("finalized", "cancelled"):
                break
            if not assigned and task.active_claims + task.results > 0:
                assigned = True
                self._stage(key, "assigned", "an executor claimed it")
            expired = task.deadline <= max(time.time(), await contracts.chain_time())
            if task.results >= task.redundancy or expired:
                with contextlib.suppress(Exception):
                    receipt = await contracts.finalize(task_id)
                    self._stage(key, "result_ready" if task.results else "refunded",
                                "finalized on chain" if task.results else
                                "deadline passed without results; escrow refunded",
                                tx_hash=receipt.tx_hash)
                await asyncio.sleep(POLL_S)
                continue
            await asyncio.sleep(POLL_S)
        task = await contracts.get_task(task_id)
        if task.status == "finalized":
            for cid in (task.model_cid, task.input_cid):
                await self.h.storage.release_task_input(cid, task_id)
        return task.to_dict()

    def _stage(self, key: str, stage: str, note: str, tx_hash: str = "") -> None:
        record = self.ledger.get(key)
        if record is not None and record.stage == stage:
            return
        self.ledger.transition(key, stage, note=note, tx_hash=tx_hash, role="requester")
        self.h.host.events.publish("task.stage", task_id=key, stage=stage, note=note,
                                      tx_hash=tx_hash)

    async def result_cid(self, task_id: int) -> tuple[str, str]:
        """(CID, hash) of the agreed result of a finalized task."""
        contracts = self.h.contracts
        task = await contracts.get_task(task_id)
        if task.status != "finalized":
            raise RequestError(f"task {task_id} is {task.status}, not finalized yet")
        if int(task.result_hash, 16) == 0:
            raise RequestError(f"task {task_id} finalized without an agreed result")
        for executor in await contracts.claimants(task_id):
            claim = await contracts.get_claim(task_id, executor)
            if claim.result_hash == task.result_hash and claim.result_cid:
                return claim.result_cid, task.result_hash
        raise RequestError(f"no executor of task {task_id} revealed the agreed result")

    async def fetch_result(self, task_id: int, out: Path) -> dict[str, Any]:
        """Fetch the result by CID under the node's content limits, then stream it to a temp
        file beside `out` while hashing it; renamed to `out` only when its SHA-256 matches the
        chain. The result is never held in memory whole; a bad one leaves no file behind."""
        from oarn_tui.storage.content import ContentNotFound, DigestMismatch
        from oarn_tui.storage.limits import ContentRefused

        cid, expected = await self.result_cid(task_id)
        exchange = self.h.storage.exchange
        blocks = self.h.storage.blocks
        try:
            if exchange is not None and not blocks.dag_complete(cid):
                await exchange.fetch(as_cid(cid))
            size = await self.h.storage.local.save_verified(cid, out, expected)
        except DigestMismatch as exc:
            raise RequestError(f"result {cid} does not match the hash on chain: {exc}") from None
        except ContentRefused as exc:
            raise RequestError(f"result {cid} refused: {exc}") from None
        except ContentNotFound:
            raise RequestError(f"result {cid} is not available") from None
        self._stage(str(task_id), "fetched", f"result verified and written to {out}")
        return {"task_id": task_id, "result_cid": cid, "result_hash": expected,
                "out": str(out), "bytes": size}

    async def cancel(self, task_id: int) -> dict[str, Any]:
        receipt = await self.h.contracts.cancel(task_id)
        self._stage(str(task_id), "cancelled", "cancelled before any claim",
                    tx_hash=receipt.tx_hash)
        return {"task_id": task_id, "cancelled": True}
