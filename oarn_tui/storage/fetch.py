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
from oarn_tui.storage.cid import CID, RAW
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


@runtime_checkable
class BatchFetcher(Protocol):
    """A fetcher that gets many blocks in one pipelined call and stores them itself (the
    bitswap exchange): returns {key: dag-pb bytes | raw leaf size}."""

    async def fetch_blocks(self, cids: list[CID], store: Blockstore,
                           on_bytes: Callable[[int], None] | None = None
                           ) -> dict[str, bytes | int]:
        ...


Fetcher = BlockFetcher | BatchFetcher
"""What `fetch_dag` takes: one block at a time, or pipelined batches (bitswap)."""


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


def _held(store: Blockstore, cids: list[CID]) -> tuple[dict[str, bytes | int], list[CID]]:
    """What the store already holds ({key: dag-pb bytes | raw size}) and what it lacks: a
    resumed pull fetches only the blocks it does not hold (worker thread)."""
    sizes = store.sizes(cids)
    held: dict[str, bytes | int] = {}
    missing: list[CID] = []
    for cid in cids:
        if cid.key not in sizes:
            missing.append(cid)
        elif cid.codec == RAW:
            held[cid.key] = sizes[cid.key]
        else:
            try:
                held[cid.key] = store.get(cid)
            except BlockNotFound:  # gone since (corrupt, GC): fetch it again
                missing.append(cid)
    return held, missing


async def _blocks(cids: list[CID], fetcher: Fetcher, store: Blockstore,
                  on_bytes: Callable[[int], None] | None) -> dict[str, bytes | int]:
    """{key: dag-pb bytes | raw size} for `cids` (unique), fetching the ones not held."""
    held, missing = await asyncio.to_thread(_held, store, cids)
    if not missing:
        return held
    if isinstance(fetcher, BatchFetcher):
        try:
            got = await fetcher.fetch_blocks(missing, store, on_bytes)
        except (ContentRefused, FetchError):
            raise
        except Exception as exc:
            raise FetchError(f"could not fetch {len(missing)} blocks: {exc}") from exc
        lacking = [cid for cid in missing if cid.key not in got]
        if lacking:
            raise FetchError(f"could not fetch block {lacking[0]}")
        held.update(got)
        return held
    fetched = await asyncio.gather(*(_block(cid, fetcher, store) for cid in missing))
    for cid, data in zip(missing, fetched, strict=True):
        held[cid.key] = len(data) if cid.codec == RAW else data
        if on_bytes is not None:
            on_bytes(len(data))
    return held


async def fetch_dag(root: CID, fetcher: Fetcher, store: Blockstore, *,
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


async def _fetch(root: CID, fetcher: Fetcher, store: Blockstore,
                 progress: ProgressCallback | None, concurrency: int, walk: DagWalk,
                 budget: FetchBudget | None) -> int:
    """Depth first; a node's children are fetched in one pipelined batch from a
    `BatchFetcher` (which keeps its own window), else `concurrency` at a time. The stack holds
    at most `max_depth * max_links` small entries, whatever the DAG's shape."""
    root_block = (await _blocks([root], fetcher, store, None))[root.key]
    node = walk.visit(root, root_block)
    total = node.size
    if budget is not None:
        budget.reserve(root, total)
    if progress is not None:
        progress(walk.done, total)
    arrived = [0]  # block bytes that arrived in the batch being fetched
    reported = [walk.done]

    def report(done: int) -> None:  # monotonic: block bytes slightly exceed file bytes
        if progress is not None and done > reported[0]:
            reported[0] = done
            progress(done, total)

    def on_bytes(size: int) -> None:
        arrived[0] += size
        report(min(walk.done + arrived[0], total))

    step = max(len(node.links), 1) if isinstance(fetcher, BatchFetcher) else concurrency
    stack: list[tuple[CID, int]] = []  # inner nodes already checked: (cid, depth)
    links, sizes, depth = node.links, node.child_sizes, 0
    while True:
        for start in range(0, len(links), max(step, concurrency)):
            batch = links[start:start + max(step, concurrency)]
            unique = list({link.cid.key: link.cid for link in batch}.values())
            arrived[0] = 0
            blocks = await _blocks(unique, fetcher, store, on_bytes)
            for offset, link in enumerate(batch):
                child = walk.visit(link.cid, blocks[link.cid.key], depth + 1,
                                   sizes[start + offset], link.tsize)
                if child.links:  # its links are read again when it is popped
                    stack.append((link.cid, depth + 1))
            report(walk.done)
        if not stack:
            break
        cid, depth = stack.pop()
        held = (await _blocks([cid], fetcher, store, None))[cid.key]
        assert isinstance(held, bytes)
        node = decode_file_node(cid, held)
        links, sizes = node.links, node.child_sizes
        step = max(len(links), 1) if isinstance(fetcher, BatchFetcher) else concurrency
    return walk.finish()
