"""Blockstore: persistence, verification on put and get, pins with reasons/expiry, GC, threads."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from oarn_tui.storage.blockstore import BlockCorrupt, BlockMismatch, BlockNotFound, Blockstore
from oarn_tui.storage.cid import CID, DAG_PB, RAW
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.unixfs import CHUNK_SIZE, ImportOptions, import_bytes, read_file


def _raw(data: bytes) -> CID:
    return CID.for_block(data, RAW)


def _block_file(store: Blockstore, cid: CID) -> Path:
    matches = list((store.root / "blocks").glob(f"*/{cid.key}.data"))
    assert len(matches) == 1
    return matches[0]


def test_storage_blocks_persist_across_instances(tmp_path: Path) -> None:
    data = b"persist me"
    store = Blockstore(tmp_path)
    assert store.put(_raw(data), data) is True
    assert store.put(_raw(data), data) is False
    store.pin(_raw(data), "keep")
    store.close()
    reopened = Blockstore(tmp_path)
    assert reopened.has(_raw(data))
    assert reopened.get(_raw(data)) == data
    assert reopened.size() == len(data)
    assert [pin.reason for pin in reopened.pins()] == ["keep"]
    # flatfs-like sharding: blocks/<two chars before the last>/<KEY>.data
    path = _block_file(reopened, _raw(data))
    assert path.parent.name == _raw(data).key[-3:-1]


def test_storage_put_rejects_bytes_that_do_not_match(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    with pytest.raises(BlockMismatch):
        store.put(_raw(b"right"), b"wrong")
    bogus_pb = b"\xff\xff\xff"
    with pytest.raises(BlockMismatch, match="dag-pb"):
        store.put(CID.for_block(bogus_pb, DAG_PB), bogus_pb)
    assert store.count() == 0
    assert not list((tmp_path / "blocks").glob("*/*"))


def test_storage_corrupted_block_is_detected_reported_and_removed(tmp_path: Path) -> None:
    reported: list[CID] = []
    store = Blockstore(tmp_path, on_corrupt=reported.append)
    data = random.Random(1).randbytes(1000)
    cid = _raw(data)
    store.put(cid, data)
    path = _block_file(store, cid)
    path.write_bytes(data[:-1] + b"\0")
    with pytest.raises(BlockCorrupt):
        store.get(cid)
    assert reported == [cid]
    assert store.corrupt_detected == 1
    assert not path.exists()
    assert not store.has(cid)
    assert store.size() == 0
    with pytest.raises(BlockNotFound):
        store.get(cid)
    assert store.put(cid, data) is True  # can be fetched again
    assert store.get(cid) == data


def test_storage_missing_file_is_not_found(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    cid = _raw(b"gone")
    store.put(cid, b"gone")
    _block_file(store, cid).unlink()
    assert store.get_or_none(cid) is None
    assert not store.has(cid)


def test_storage_index_is_rebuilt_from_block_files(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    local = LocalContentStore(store)
    data = random.Random(2).randbytes(3 * CHUNK_SIZE)
    root = local.add_file_sync(data)
    store.close()
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    rebuilt = Blockstore(tmp_path)
    assert rebuilt.count() == 4
    assert rebuilt.dag_complete(root)
    assert read_file(root, rebuilt.get) == data


def _add_file(store: Blockstore, data: bytes) -> CID:
    return import_bytes(data, ImportOptions.v1(), store.put).cid


def test_storage_recursive_pins_protect_whole_dag_from_gc(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    rng = random.Random(3)
    pinned = _add_file(store, rng.randbytes(2 * CHUNK_SIZE + 5))
    loose = _add_file(store, rng.randbytes(2 * CHUNK_SIZE + 5))
    store.pin(pinned, "model:a")
    assert store.is_pinned(pinned)
    assert store.dag_complete(pinned) and store.dag_complete(loose)
    report = store.collect_garbage()
    assert report.removed_blocks == 4
    assert store.dag_complete(pinned)
    assert not store.has(loose)
    assert store.size() == 2 * CHUNK_SIZE + 5 + len(store.get(pinned))


def test_storage_two_reasons_coexist_and_unpin_is_per_reason(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    cid = _add_file(store, b"shared input")
    store.pin(cid, "task-input:7")
    store.pin(cid, "result", expires_at=time.time() + 3600)
    assert store.unpin(cid, "task-input:7") is True
    assert store.unpin(cid, "task-input:7") is False
    store.collect_garbage()
    assert store.has(cid)
    assert store.unpin(cid, "result")
    store.collect_garbage()
    assert not store.has(cid)


def test_storage_expired_retention_pin_no_longer_protects(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    kept = _add_file(store, b"kept result")
    expired = _add_file(store, b"expired result")
    store.pin(kept, "result", expires_at=time.time() + 3600)
    store.pin(expired, "result", expires_at=time.time() - 1)
    report = store.collect_garbage()
    assert report.expired_pins == 1
    assert store.has(kept) and not store.has(expired)
    assert [pin.cid for pin in store.pins()] == [str(kept)]


def test_storage_unpin_reason_releases_all_task_inputs(tmp_path: Path) -> None:
    store = Blockstore(tmp_path)
    first = _add_file(store, b"input one")
    second = _add_file(store, b"input two")
    store.pin(first, "task-input:9")
    store.pin(second, "task-input:9")
    assert store.unpin_reason("task-input:9") == 2
    assert not store.is_pinned(first) and not store.is_pinned(second)


def test_storage_size_limit_collects_oldest_access_first(tmp_path: Path) -> None:
    block_size = 1000
    store = Blockstore(tmp_path, max_bytes=3 * block_size)
    blocks = [random.Random(seed).randbytes(block_size) for seed in range(5)]
    cids = [_raw(data) for data in blocks]
    store.put(cids[0], blocks[0])
    store.pin(cids[0], "keep")
    for cid, data in zip(cids[1:3], blocks[1:3], strict=True):
        store.put(cid, data)
    store.get(cids[1])  # block 2 is now the least recently used unpinned block
    store.put(cids[3], blocks[3])
    assert store.size() <= 3 * block_size
    assert store.has(cids[0]) and store.has(cids[1]) and store.has(cids[3])
    assert not store.has(cids[2])


def test_storage_import_larger_than_limit_is_held_until_pinned(tmp_path: Path) -> None:
    store = Blockstore(tmp_path, max_bytes=CHUNK_SIZE)
    local = LocalContentStore(store)
    data = random.Random(4).randbytes(3 * CHUNK_SIZE)
    root = local.add_file_sync(data, pin_reason="model:big")
    assert store.dag_complete(root)
    assert local.get_file_sync(root) == data


def test_storage_concurrent_threads_share_one_store(tmp_path: Path) -> None:
    store = Blockstore(tmp_path, durable=False)
    payloads = [[random.Random(t * 100 + i).randbytes(500) for i in range(40)] for t in range(4)]
    errors: list[BaseException] = []

    def worker(items: list[bytes]) -> None:
        try:
            for data in items:
                store.put(_raw(data), data)
                assert store.get(_raw(data)) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(items,)) for items in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert store.count() == 160
    assert store.size() == 160 * 500


def test_storage_limit_with_everything_pinned_keeps_blocks(tmp_path: Path) -> None:
    store = Blockstore(tmp_path, max_bytes=1000)
    blocks = [random.Random(50 + seed).randbytes(600) for seed in range(4)]
    for data in blocks:
        store.pin(_raw(data), "keep")  # pinned before its block arrives, as a fetch does
        store.put(_raw(data), data)
    assert store.count() == 4 and store.size() == 2400  # pinned data is never collected
    assert store.unpin(_raw(blocks[0]), "keep")
    extra = b"one more block"
    store.put(_raw(extra), extra)  # over the limit again: the unpinned blocks go
    assert not store.has(_raw(blocks[0])) and not store.has(_raw(extra))
    assert store.count() == 3
