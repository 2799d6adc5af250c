"""Fetching a DAG between two block stores through the `BlockFetcher` protocol, with progress."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, base32_decode
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.fetch import BlockFetcher, FetchError, StoreFetcher, fetch_dag
from oarn_tui.storage.unixfs import CHUNK_SIZE, ImportOptions


class CountingFetcher(StoreFetcher):
    """A second node's store as the remote side; counts what crosses the boundary."""

    def __init__(self, store: Blockstore) -> None:
        super().__init__(store)
        self.requested: list[CID] = []

    async def get_block(self, cid: CID) -> bytes:
        self.requested.append(cid)
        return await super().get_block(cid)


class TamperingPeer(StoreFetcher):
    """A remote peer that flips one byte of every leaf it sends."""

    async def get_block(self, cid: CID) -> bytes:
        data = await super().get_block(cid)
        return data if cid.codec != 0x55 else bytes([data[0] ^ 1]) + data[1:]


@pytest.mark.parametrize("options", [ImportOptions.v1(), ImportOptions.v0()])
async def test_storage_fetch_round_trip_with_progress(tmp_path: Path,
                                                     options: ImportOptions) -> None:
    data = random.Random(11).randbytes(7 * CHUNK_SIZE + 1234)
    source = LocalContentStore(Blockstore(tmp_path / "a"), options)
    root = source.add_file_sync(data)
    target_store = Blockstore(tmp_path / "b")
    fetcher = CountingFetcher(source.blocks)
    assert isinstance(fetcher, BlockFetcher)
    seen: list[tuple[int, int]] = []
    size = await fetch_dag(root, fetcher, target_store, progress=lambda d, t: seen.append((d, t)),
                           concurrency=3)
    assert size == len(data)
    assert len(fetcher.requested) == 9  # root + 8 leaves
    assert seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(seen) >= 3
    target = LocalContentStore(target_store)
    out = tmp_path / "out.bin"
    assert await target.get_file(root, out) is None
    assert out.read_bytes() == data
    fetcher.requested.clear()
    await fetch_dag(root, fetcher, target_store)
    assert fetcher.requested == []  # everything was local already


async def test_storage_fetch_rejects_tampered_blocks(tmp_path: Path) -> None:
    data = random.Random(12).randbytes(2 * CHUNK_SIZE + 1)
    source = LocalContentStore(Blockstore(tmp_path / "a"))
    root = source.add_file_sync(data)
    target = Blockstore(tmp_path / "b")
    with pytest.raises(FetchError, match="invalid block"):
        await fetch_dag(root, TamperingPeer(source.blocks), target)
    assert target.count() == 1  # only the (honest) root; no bad leaf stored


async def test_storage_fetch_reports_missing_blocks(tmp_path: Path) -> None:
    source = LocalContentStore(Blockstore(tmp_path / "a"))
    root = source.add_file_sync(random.Random(13).randbytes(2 * CHUNK_SIZE + 1))
    stored = source.blocks.keys()
    leaf = next(key for key in stored if key != root.key)
    assert source.blocks.delete(_raw_cid_for_key(leaf))
    with pytest.raises(FetchError, match="could not fetch"):
        await fetch_dag(root, StoreFetcher(source.blocks), Blockstore(tmp_path / "b"))


def _raw_cid_for_key(key: str) -> CID:
    return CID(1, 0x55, base32_decode(key)[2:])
