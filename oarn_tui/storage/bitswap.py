"""Adapter that lets libp2p's `BitswapClient` serve from and store into our verified Blockstore.

Bitswap serves any block we hold. Blocks arriving from peers are stored only when this node asked
for them (`expect`) and only after they hash to their CID; anything else is dropped and counted.
The adapter's methods run on the p2p trio thread, so disk work goes through `trio.to_thread`.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from libp2p.bitswap.block_store import BlockStore
from libp2p.bitswap.cid import CIDInput, cid_to_bytes

from oarn_tui.storage.blockstore import BlockMismatch, Blockstore
from oarn_tui.storage.cid import CID

log = logging.getLogger("oarn.storage.bitswap")


def to_cid(value: CIDInput) -> CID:
    """Our CID for a libp2p CID input (bytes, text or py-cid object)."""
    if isinstance(value, str):
        return CID.parse(value)
    return CID.from_bytes(cid_to_bytes(value))


class VerifiedBlockStore(BlockStore):
    """libp2p `BlockStore` over `oarn_tui.storage.blockstore.Blockstore`."""

    def __init__(self, store: Blockstore) -> None:
        self.store = store
        self._expected: set[str] = set()
        self.unsolicited = 0
        self.rejected = 0
        self.served = 0
        self.served_bytes = 0

    def expect(self, cid: CID) -> None:
        """Accept this block when a peer sends it (called before asking for it)."""
        self._expected.add(cid.key)

    def forget(self, cid: CID) -> None:
        self._expected.discard(cid.key)

    async def get_block(self, cid: CIDInput) -> bytes | None:
        data: bytes | None = await trio.to_thread.run_sync(self.store.get_or_none, to_cid(cid))
        if data is not None:
            self.served += 1
            self.served_bytes += len(data)
        return data

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        ours = to_cid(cid)
        if ours.key not in self._expected:
            self.unsolicited += 1
            return
        try:
            await trio.to_thread.run_sync(self.store.put, ours, data)
        except BlockMismatch as error:
            self.rejected += 1
            log.warning("dropped block that does not match %s: %s", ours, error)

    async def has_block(self, cid: CIDInput) -> bool:
        return bool(await trio.to_thread.run_sync(self.store.has, to_cid(cid)))

    async def delete_block(self, cid: CIDInput) -> None:
        await trio.to_thread.run_sync(self.store.delete, to_cid(cid))

    def get_all_cids(self) -> list[bytes]:
        """Not enumerated: bitswap only needs it for diagnostics, and keys are multihashes."""
        return []

    def stats(self) -> dict[str, Any]:
        return {"served": self.served, "unsolicited": self.unsolicited,
                "rejected": self.rejected}
