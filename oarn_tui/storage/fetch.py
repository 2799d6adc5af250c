"""Fetch a whole UnixFS DAG into the blockstore through any `BlockFetcher`, with progress.

The p2p layer's bitswap exchange implements `BlockFetcher`; this module knows nothing about the
network. Blocks already in the store are not fetched again; every fetched block is verified
against its CID before it is stored (a peer sending wrong bytes raises `FetchError`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from oarn_tui.storage.blockstore import BlockMismatch, BlockNotFound, Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.unixfs import UnixFSError, decode_file_node

ProgressCallback = Callable[[int, int], None]
"""Called with (file bytes fetched so far, file size) after each block."""


@runtime_checkable
class BlockFetcher(Protocol):
    """Something that can get one block by CID from elsewhere (bitswap, another store, ...)."""

    async def get_block(self, cid: CID) -> bytes:
        """Return the block's bytes; raise on failure or timeout. Bytes are verified by caller."""
        ...


class FetchError(RuntimeError):
    """A DAG could not be fetched completely (missing or invalid block)."""


class StoreFetcher:
    """A `BlockFetcher` over another local Blockstore (a second node's store, a cache, ...)."""

    def __init__(self, store: Blockstore) -> None:
        self.store = store

    async def get_block(self, cid: CID) -> bytes:
        return await asyncio.to_thread(self.store.get, cid)


async def _block(cid: CID, fetcher: BlockFetcher, store: Blockstore) -> bytes:
    try:
        return await asyncio.to_thread(store.get, cid)
    except BlockNotFound:
        pass
    try:
        data = await fetcher.get_block(cid)
    except Exception as exc:
        raise FetchError(f"could not fetch block {cid}: {exc}") from exc
    try:
        await asyncio.to_thread(store.put, cid, data)
    except BlockMismatch as exc:
        raise FetchError(f"received an invalid block for {cid}: {exc}") from None
    return data


async def fetch_dag(root: CID, fetcher: BlockFetcher, store: Blockstore, *,
                    progress: ProgressCallback | None = None, concurrency: int = 16) -> int:
    """Make every block of the file `root` local; return the file size.

    Blocks stay protected from GC while the fetch runs; pin `root` to keep them afterwards.
    """
    with store.hold():
        return await _fetch(root, fetcher, store, progress, concurrency)


async def _fetch(root: CID, fetcher: BlockFetcher, store: Blockstore,
                 progress: ProgressCallback | None, concurrency: int) -> int:
    root_block = await _block(root, fetcher, store)
    try:
        data, links, total = decode_file_node(root, root_block)
    except UnixFSError as exc:
        raise FetchError(str(exc)) from None
    done = len(data)
    if progress is not None:
        progress(done, total)
    level = [link.cid for link in links]
    while level:
        next_level: list[CID] = []
        for start in range(0, len(level), concurrency):
            batch = level[start:start + concurrency]
            blocks = await asyncio.gather(*(_block(cid, fetcher, store) for cid in batch))
            for cid, block in zip(batch, blocks, strict=True):
                try:
                    data, child_links, _size = decode_file_node(cid, block)
                except UnixFSError as exc:
                    raise FetchError(str(exc)) from None
                done += len(data)
                next_level.extend(link.cid for link in child_links)
            if progress is not None:
                progress(done, total)
        level = next_level
    if done != total:
        raise FetchError(f"{root} declares {total} bytes but its blocks hold {done}")
    return total
