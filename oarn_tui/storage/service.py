"""Opening the storage layer from a config, and the runtime's `storage` service.

`open_storage(config)` builds the Blockstore (always local: bitswap serves from it), the
`ContentStore` for `storage.backend` and the ModelStore. `StorageService` owns them inside the
runtime, sweeps expired pins / enforces the cache limit periodically, offers the retention helpers
(executor results, requester inputs) and registers the `storage.*` and `model.*` commands. Its
face (`storage/face.py`) is what the pipeline and the p2p service use; its status section is the
document's `transfer` block (bytes bitswap fetched and served).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oarn_tui.config import NodeConfig
from oarn_tui.core.service import ServiceBase, ServiceHost
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, as_cid
from oarn_tui.storage.content import ContentStore, LocalContentStore
from oarn_tui.storage.fetch import BlockFetcher
from oarn_tui.storage.limits import ContentRefused, DagLimits, FetchBudget
from oarn_tui.storage.models import Describer, ModelStore
from oarn_tui.storage.progress import ProgressMeter

if TYPE_CHECKING:
    from oarn_tui.storage.exchange import BitswapExchange

BYTES_PER_GB = 10**9
RESULT_REASON = "result"
SWEEP_INTERVAL_S = 60.0


def task_input_reason(task_id: str | int) -> str:
    return f"task-input:{task_id}"


@dataclass
class Storage:
    blocks: Blockstore
    local: LocalContentStore
    content: ContentStore
    models: ModelStore

    def close(self) -> None:
        self.blocks.close()


def dag_limits(config: NodeConfig) -> DagLimits:
    """The node's limits on fetched content (`storage.max_fetch_bytes`, `max_dag_*`)."""
    section = config.storage
    return DagLimits(max_bytes=section.max_fetch_bytes, max_links=section.max_dag_links,
                     max_depth=section.max_dag_depth, max_repeats=section.max_dag_repeats,
                     max_blocks=section.max_dag_blocks)


def open_storage(config: NodeConfig, *, describe: Describer | None = None,
                 **blockstore_options: Any) -> Storage:
    """The home's storage; `describe` adds a model's compute fields to its manifest."""
    blocks = Blockstore(config.path(config.storage.blocks_path),
                        max_bytes=int(config.storage.max_cache_size_gb * BYTES_PER_GB),
                        **blockstore_options)
    local = LocalContentStore(blocks, limits=dag_limits(config))
    content: ContentStore = local
    if config.storage.backend == "kubo":
        from oarn_tui.storage.kubo import KuboContentStore

        content = KuboContentStore(config.storage.kubo_api_url,
                                   config.path(config.storage.blocks_path) / "kubo-pins.json")
    models = ModelStore(config.path(config.storage.model_cache_path), local, describe)
    return Storage(blocks, local, content, models)


class StorageService(ServiceBase):
    """Runtime service `storage`; the p2p service calls `set_fetcher` once bitswap runs."""

    name = "storage"
    depends_on: tuple[str, ...] = ()

    def __init__(self, describe: Describer | None = None) -> None:
        self.describe = describe  # a model file's compute fields, from the assembler
        self.storage: Storage | None = None
        self.fetcher: BlockFetcher | None = None
        self.result_retention_s = 24 * 3600.0
        self.limits = DagLimits()
        self.max_task_bytes = DagLimits().max_bytes
        self._sweeper: asyncio.Task[None] | None = None
        self._state = "stopped"
        self._reason = ""
        self._host: ServiceHost | None = None

    async def start(self, host: ServiceHost) -> None:
        self._host = runtime = host
        config: NodeConfig = runtime.config
        loop = asyncio.get_running_loop()

        def corrupt(cid: CID) -> None:
            loop.call_soon_threadsafe(lambda: runtime.events.publish(
                "storage.corrupt_block", cid=str(cid)))

        self.storage = await asyncio.to_thread(open_storage, config, describe=self.describe,
                                             on_corrupt=corrupt)
        self.result_retention_s = config.storage.result_retention_h * 3600.0
        self.limits = dag_limits(config)
        self.max_task_bytes = config.storage.max_task_bytes
        if self.exchange is not None:
            self.exchange.limits = self.limits
        for name, handler in (("storage.stat", self.stat), ("storage.gc", self.gc),
                              ("model.list", self.model_list), ("model.info", self.model_info),
                              ("model.add", self.model_add), ("model.remove", self.model_remove),
                              ("model.pull", self.model_pull)):
            runtime.commands.register(name, handler)
        self._sweeper = asyncio.create_task(self._sweep_forever())
        self._state, self._reason = "running", ""

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.storage is not None:
            self.storage.close()
        self._state, self._reason = "stopped", ""

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self._state, "reason": self._reason}
        if self.storage is not None and self._state == "running":
            data.update(self.storage.local.stat_sync())
            data["backend"] = getattr(self.storage.content, "backend", "local")
        return data

    def status_fields(self) -> Mapping[str, Any]:
        """`transfer {received, sent}`: bytes bitswap fetched and served (while it runs)."""
        exchange = self.exchange
        if exchange is None:
            return {}
        return {"transfer": {"received": exchange.fetched_bytes,
                             "sent": exchange.adapter.served_bytes}}

    # -- the face (storage/face.py) ---------------------------------------------------------

    @property
    def local(self) -> LocalContentStore:
        return self._require().local

    @property
    def blocks(self) -> Blockstore:
        return self._require().blocks

    @property
    def models(self) -> ModelStore | None:
        return self.storage.models if self.storage is not None else None

    @property
    def exchange(self) -> BitswapExchange | None:
        """The fetcher when it is the bitswap exchange (the p2p service's), else None."""
        fetcher = self.fetcher
        if fetcher is None:
            return None
        from oarn_tui.storage.exchange import BitswapExchange

        return fetcher if isinstance(fetcher, BitswapExchange) else None

    def set_fetcher(self, fetcher: BlockFetcher | None) -> None:
        """Use `fetcher` (the bitswap exchange) for pulls; it gets this node's content limits."""
        self.fetcher = fetcher
        if self.exchange is not None:
            self.exchange.limits = self.limits

    def task_budget(self) -> FetchBudget:
        """A fresh disk quota (`storage.max_task_bytes`) for the fetches of one task."""
        return FetchBudget(self.max_task_bytes)

    def _require(self) -> Storage:
        if self.storage is None:
            raise RuntimeError("storage service is not started")
        return self.storage

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            await self.sweep()

    async def sweep(self) -> dict[str, int]:
        """Drop expired pins and shrink the cache to its limit."""
        blocks = self._require().blocks
        report = await asyncio.to_thread(blocks.collect_garbage, blocks.max_bytes)
        return report.to_dict()

    # -- retention --------------------------------------------------------------------------

    async def pin_result(self, cid: CID | str) -> float:
        """Executor side: keep a result until fetched or `storage.result_retention_h` passes."""
        expires_at = time.time() + self.result_retention_s
        await self._require().content.pin(as_cid(cid), RESULT_REASON, expires_at)
        return expires_at

    async def release_result(self, cid: CID | str) -> bool:
        return await self._require().content.unpin(as_cid(cid), RESULT_REASON)

    async def pin_task_input(self, cid: CID | str, task_id: str | int) -> None:
        """Requester side: keep a task's input pinned until the task is finalized."""
        await self._require().content.pin(as_cid(cid), task_input_reason(task_id))

    async def release_task_input(self, cid: CID | str, task_id: str | int) -> bool:
        return await self._require().content.unpin(as_cid(cid), task_input_reason(task_id))

    # -- commands ---------------------------------------------------------------------------

    async def stat(self) -> dict[str, Any]:
        return dict(await self._require().content.stat())

    async def gc(self) -> dict[str, int]:
        return await self._require().content.gc()

    async def model_list(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._require().models.list)

    async def model_info(self, model: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._require().models.find, model)

    async def model_add(self, path: str, model_name: str | None = None) -> dict[str, Any]:
        from pathlib import Path

        return await asyncio.to_thread(self._require().models.add, Path(path), model_name)

    async def model_remove(self, model: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._require().models.remove, model)

    async def model_pull(self, cid: str, model_name: str | None = None) -> dict[str, Any]:
        """Fetch a model through bitswap (resuming from the blocks already held), publishing
        `model.progress` events (bytes_done, bytes_total, percent, rate_bytes_s, eta_s) and,
        for older front ends, `storage.fetch_progress` (done, total), both throttled."""
        storage = self._require()
        if self.fetcher is None:
            raise RuntimeError("pulling needs the p2p service (bitswap), which is not running")
        runtime = self._host
        assert runtime is not None  # _require() passed: started

        def publish(data: dict[str, Any]) -> None:
            runtime.events.publish("model.progress", cid=cid, **data)
            runtime.events.publish("storage.fetch_progress", cid=cid, done=data["bytes_done"],
                                   total=data["bytes_total"])

        meter = ProgressMeter(publish)

        def progress(done: int, total: int) -> None:
            meter.update(done, total)

        root = CID.parse(cid)
        exchange = self.exchange
        storage.blocks.pin(root, "pull-in-progress")
        try:
            origin: dict[str, Any] = {"kind": "network", "resolved": "cid", "ref": cid,
                                      "pulled_at": time.time()}
            if exchange is not None:  # connected peers first, then DHT providers
                await exchange.fetch(root, progress=progress)  # checked against its limits
                sources = dict(exchange.sources)
                origin["peers"] = sorted(sources, key=lambda peer: -sources[peer])
                origin["blocks_by_peer"] = sources
            return await storage.models.pull(root, self.fetcher, model_name, progress=progress,
                                             origin=origin)
        except ContentRefused:
            storage.blocks.unpin(root, "pull-in-progress")
            await asyncio.to_thread(storage.models.drop_refused, root)  # nothing stays behind
            raise
        finally:
            storage.blocks.unpin(root, "pull-in-progress")
