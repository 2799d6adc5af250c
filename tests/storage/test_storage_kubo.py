"""Kubo backend against a server that speaks Kubo's documented RPC on 127.0.0.1."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_kubo_fake import FakeKubo

from oarn_tui.config import load_config
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, RAW
from oarn_tui.storage.content import ContentNotFound, local_root_cid
from oarn_tui.storage.fetch import fetch_dag
from oarn_tui.storage.kubo import KuboContentStore, KuboError
from oarn_tui.storage.service import open_storage
from oarn_tui.storage.unixfs import CHUNK_SIZE


@pytest.fixture
async def kubo(tmp_path: Path) -> AsyncIterator[FakeKubo]:
    fake = FakeKubo(tmp_path / "kubo-repo")
    await fake.start()
    yield fake
    await fake.stop()


def _store(kubo: FakeKubo, tmp_path: Path) -> KuboContentStore:
    return KuboContentStore(kubo.url, tmp_path / "pins.json", timeout_s=30)


async def test_storage_kubo_add_cat_has(kubo: FakeKubo, tmp_path: Path) -> None:
    store = _store(kubo, tmp_path)
    data = random.Random(21).randbytes(3 * CHUNK_SIZE + 17)
    source = tmp_path / "model.onnx"
    source.write_bytes(data)
    cid = await store.add_file(source)
    assert cid == local_root_cid(data)
    assert str(cid).startswith("bafybei")
    assert await store.has(cid)
    assert await store.get_file(cid) == data
    out = tmp_path / "copy.bin"
    assert await store.get_file(str(cid), out) is None
    assert out.read_bytes() == data
    assert not await store.has(CID.for_block(b"never added", RAW))
    with pytest.raises(ContentNotFound):
        await store.get_file(CID.for_block(b"never added", RAW))
    assert "add" in kubo.calls and "cat" in kubo.calls


async def test_storage_kubo_pins_with_reasons_and_gc(kubo: FakeKubo, tmp_path: Path) -> None:
    store = _store(kubo, tmp_path)
    cid = await store.add_file(b"task input bytes")
    await store.pin(cid, "task-input:1")
    await store.pin(cid, "result", expires_at=time.time() + 3600)
    assert kubo.calls.count("pin/add") == 1
    assert await store.unpin(cid, "task-input:1")
    assert kubo.calls.count("pin/rm") == 0
    await store.gc()
    assert await store.has(cid)
    assert await store.unpin(cid, "result")
    assert kubo.calls.count("pin/rm") == 1
    report = await store.gc()
    assert report["removed_blocks"] == 1
    assert not await store.has(cid)
    assert store.pins() == {}


async def test_storage_kubo_expired_pin_is_released_on_gc(kubo: FakeKubo, tmp_path: Path) -> None:
    store = _store(kubo, tmp_path)
    cid = await store.add_file(b"old result")
    await store.pin(cid, "result", expires_at=time.time() - 1)
    report = await store.gc()
    assert report == {"removed_blocks": 1, "expired_pins": 1}
    assert not await store.has(cid)


async def test_storage_kubo_blocks_stat_and_fetch(kubo: FakeKubo, tmp_path: Path) -> None:
    store = _store(kubo, tmp_path)
    block_cid = await store.block_put(b"one raw block")
    assert block_cid == CID.for_block(b"one raw block", RAW)
    assert await store.block_get(block_cid) == b"one raw block"
    data = random.Random(22).randbytes(2 * CHUNK_SIZE + 3)
    root = await store.add_file(data)
    local = Blockstore(tmp_path / "local")
    assert await fetch_dag(root, store, local) == len(data)
    assert local.dag_complete(root)
    stat = await store.stat()
    assert stat["peer_id"] == "12D3KooWFakeKuboNodeForTests1111111111111111111111"
    assert stat["blocks"] == 1 + 4


async def test_storage_kubo_cid_mismatch_is_an_error(tmp_path: Path) -> None:
    fake = FakeKubo(tmp_path / "repo", ignore_import_params=True)  # a daemon on v0 defaults
    await fake.start()
    try:
        with pytest.raises(KuboError, match="import settings"):
            await _store(fake, tmp_path).add_file(b"x" * 10)
    finally:
        await fake.stop()


async def test_storage_kubo_unreachable_is_one_clear_error(tmp_path: Path) -> None:
    store = KuboContentStore("http://127.0.0.1:9", tmp_path / "pins.json", timeout_s=5)
    with pytest.raises(KuboError, match="cannot reach Kubo"):
        await store.add_file(b"x")


async def test_storage_config_selects_kubo_backend(kubo: FakeKubo, tmp_path: Path) -> None:
    config = load_config(tmp_path, env={"OARN_STORAGE_BACKEND": "kubo",
                                        "OARN_STORAGE_KUBO_API_URL": kubo.url})
    storage = open_storage(config)
    try:
        assert isinstance(storage.content, KuboContentStore)
        cid = await storage.content.add_file(b"via config")
        assert await storage.content.get_file(cid) == b"via config"
    finally:
        storage.close()
