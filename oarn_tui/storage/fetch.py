"""Fetch a whole UnixFS DAG into the blockstore through any `BlockFetcher`, with progress.

The p2p layer's bitswap exchange implements `BlockFetcher`; this module knows nothing about the
network. Blocks already in the store are not fetched again; every fetched block is verified
against its CID before it is stored (a peer sending wrong bytes raises `FetchError`), and every
node is checked against the node's `DagLimits` before its children are fetched (a DAG bomb, a
too deep or too big DAG raises `ContentRefused` and leaves no blocks behind).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from oarn_tui.storage.blockstore import BlockMismatch, BlockNotFound, Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.limits import (
    ContentRefused,
    DagLimits,
    DagWalk,
    FetchBudget,
    decode_file_node,
)

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
                    progress: ProgressCallback | None = None, concurrency: int = 16,
                    limits: DagLimits | None = None, budget: FetchBudget | None = None) -> int:
    """Make every block of the file `root` local; return the file size.

    Every node is checked against `limits` (default `DagLimits()`) before its children are
    fetched, and the root's declared size is reserved in `budget` (a task's disk quota). A DAG
    that breaks a limit raises `ContentRefused`, and the blocks this fetch stored that nothing
    else protects are deleted again: a refused DAG leaves nothing behind. Blocks stay protected
    from GC while the fetch runs; pin `root` to keep them afterwards.
    """
    walk = DagWalk(root, limits)
    stored: set[str] = set()
    try:
        with store.hold() as held:
            try:
                return await _fetch(root, fetcher, store, progress, max(1, concurrency), walk,
                                    budget)
            finally:
                stored = set(held)
    except ContentRefused:
        await asyncio.to_thread(store.collect_garbage, None, stored)
        raise


async def _fetch(root: CID, fetcher: BlockFetcher, store: Blockstore,
                 progress: ProgressCallback | None, concurrency: int, walk: DagWalk,
                 budget: FetchBudget | None) -> int:
    """Depth first, a node's children fetched `concurrency` at a time; the stack holds at most
    `max_depth * max_links` small entries, whatever the DAG's shape."""
    node = walk.visit(root, await _block(root, fetcher, store))
    total = node.size
    if budget is not None:
        budget.reserve(root, total)
    if progress is not None:
        progress(walk.done, total)
    stack: list[tuple[CID, int]] = []  # inner nodes already checked: (cid, depth)
    links, sizes, depth = node.links, node.child_sizes, 0
    while True:
        for start in range(0, len(links), concurrency):
            batch = links[start:start + concurrency]
            unique = list({link.cid.key: link.cid for link in batch}.values())
            fetched = await asyncio.gather(*(_block(cid, fetcher, store) for cid in unique))
            blocks = {cid.key: block for cid, block in zip(unique, fetched, strict=True)}
            for offset, link in enumerate(batch):
                child = walk.visit(link.cid, blocks[link.cid.key], depth + 1,
                                   sizes[start + offset], link.tsize)
                if child.links:  # its links are read again when it is popped
                    stack.append((link.cid, depth + 1))
            if progress is not None:
                progress(walk.done, total)
        if not stack:
            break
        cid, depth = stack.pop()
        node = decode_file_node(cid, await _block(cid, fetcher, store))
        links, sizes = node.links, node.child_sizes
    return walk.finish()
