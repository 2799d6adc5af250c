"""StorageService inside a real NodeRuntime: commands, retention helpers, pull through a fetcher."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from oarn_tui.config import load_config
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.fetch import StoreFetcher
from oarn_tui.storage.service import StorageService
from oarn_tui.storage.unixfs import CHUNK_SIZE


async def test_storage_service_commands_and_retention(tmp_path: Path) -> None:
    service = StorageService()
    runtime = NodeRuntime(load_config(tmp_path / "home"), [service], log_to_file=False)
    await runtime.start()
    try:
        assert service.status()["state"] == "running"
        storage = service.storage
        assert storage is not None
        source = tmp_path / "m.bin"
        source.write_bytes(b"model bytes")
        added = await runtime.commands.call("model.add", path=str(source), model_name="m")
        listed = await runtime.commands.call("model.list")
        assert [row["cid"] for row in listed] == [added["cid"]]
        assert (await runtime.commands.call("model.info", model="m"))["name"] == "m"

        result = await storage.local.add_file(b"an inference result")
        expires_at = await service.pin_result(result)
        assert abs(expires_at - (time.time() + 24 * 3600)) < 60
        task_input = await storage.local.add_file(b"a task input")
        await service.pin_task_input(task_input, 42)
        loose = await storage.local.add_file(b"cached, unpinned")
        report = await runtime.commands.call("storage.gc")
        assert report["removed_blocks"] == 1
        assert storage.blocks.has(result) and storage.blocks.has(task_input)
        assert not storage.blocks.has(loose)
        assert await service.release_task_input(task_input, 42)
        assert await service.release_result(result)
        await runtime.commands.call("storage.gc")
        assert not storage.blocks.has(task_input) and not storage.blocks.has(result)
        stat = await runtime.commands.call("storage.stat")
        assert stat["backend"] == "local" and stat["blocks"] == 1

        remote = LocalContentStore(Blockstore(tmp_path / "remote"))
        root = remote.add_file_sync(random.Random(41).randbytes(3 * CHUNK_SIZE))
        with pytest.raises(RuntimeError, match="p2p service"):
            await runtime.commands.call("model.pull", cid=str(root))
        service.set_fetcher(StoreFetcher(remote.blocks))
        pulled = await runtime.commands.call("model.pull", cid=str(root), model_name="pulled")
        assert CID.parse(pulled["cid"]) == root
        progress = runtime.events.recent(100, prefix="storage.fetch_progress")
        assert progress and progress[-1].data["done"] == 3 * CHUNK_SIZE
        meter = runtime.events.recent(100, prefix="model.progress")
        assert meter and meter[-1].data["bytes_done"] == meter[-1].data["bytes_total"] == \
            3 * CHUNK_SIZE
        assert meter[-1].data["percent"] == 100.0 and meter[-1].data["eta_s"] == 0.0
        assert {"rate_bytes_s", "cid"} <= set(meter[-1].data)
        assert [pin.reason for pin in storage.blocks.pins(root)] == ["model:pulled"]
    finally:
        await runtime.stop()
    assert service.status()["state"] == "stopped"


async def test_storage_limits_come_from_config_and_refuse_a_pulled_dag_bomb(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oarn_tui.storage.limits import ContentRefused

    monkeypatch.setenv("OARN_STORAGE_MAX_DAG_REPEATS", "4")
    monkeypatch.setenv("OARN_STORAGE_MAX_TASK_BYTES", "5000")
    service = StorageService()
    runtime = NodeRuntime(load_config(tmp_path / "home"), [service], log_to_file=False)
    await runtime.start()
    try:
        storage = service.storage
        assert storage is not None
        assert service.limits.max_repeats == 4 and storage.local.limits.max_repeats == 4
        assert service.task_budget().max_bytes == 5000
        remote = LocalContentStore(Blockstore(tmp_path / "remote"))
        root = remote.add_file_sync(bytes(8 * CHUNK_SIZE))  # one zero chunk, 8 times
        service.set_fetcher(StoreFetcher(remote.blocks))
        with pytest.raises(ContentRefused, match="more than 4 times"):
            await runtime.commands.call("model.pull", cid=str(root), model_name="zeros")
        assert storage.blocks.pins() == [] and storage.blocks.count() == 0
        assert await runtime.commands.call("model.list") == []
    finally:
        await runtime.stop()
