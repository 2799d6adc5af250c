"""Adapter that lets libp2p's `BitswapClient` serve from and store into our verified Blockstore.

Bitswap serves any block we hold. Blocks arriving from peers are stored only when this node asked
for them (`expect`) and only after they hash to their CID; anything else is dropped and counted.
The adapter's methods run on the p2p trio thread, so disk work goes through `trio.to_thread`.

The p2p node runs `storage.engine.BitswapEngine` over this adapter (`make_client`); it judges
every received block with `judge`: a block that hashes to nothing this node asked for (or
recently asked for) is a bad block. It is dropped and lowers the sender's score in the p2p
layer's `PeerScores` (reason `bad_block`); once the score is at the ban threshold the peer's
bitswap messages are ignored and it is disconnected. The libp2p `BlockStore` methods remain
for a libp2p `BitswapClient` over the same store.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import trio
from libp2p.bitswap.block_store import BlockStore
from libp2p.bitswap.cid import CIDInput, cid_to_bytes

from oarn_tui.storage.blockstore import BlockMismatch, Blockstore
from oarn_tui.storage.cid import CID

if TYPE_CHECKING:
    from oarn_tui.storage.engine import BitswapEngine

log = logging.getLogger("oarn.storage.bitswap")
BAD_BLOCK = "bad_block"
RECENT_WANTS = 4096  # blocks asked for lately: a late copy of one is not a bad block


def to_cid(value: CIDInput) -> CID:
    """Our CID for a libp2p CID input (bytes, text or py-cid object)."""
    if isinstance(value, str):
        return CID.parse(value)
    return CID.from_bytes(cid_to_bytes(value))


class VerifiedBlockStore(BlockStore):
    """libp2p `BlockStore` over `oarn_tui.storage.blockstore.Blockstore`."""

    def __init__(self, store: Blockstore, scores: Any = None) -> None:
        self.store = store
        self.scores = scores  # the p2p layer's PeerScores (set by the exchange)
        self._expected: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.unsolicited = 0
        self.rejected = 0
        self.served = 0
        self.served_bytes = 0
        self.bad_blocks: dict[str, int] = {}

    def expect(self, cid: CID) -> None:
        """Accept this block when a peer sends it (called before asking for it)."""
        self._expected.add(cid.key)

    def forget(self, cid: CID) -> None:
        self._expected.discard(cid.key)
        self._recent[cid.key] = None
        self._recent.move_to_end(cid.key)
        while len(self._recent) > RECENT_WANTS:
            self._recent.popitem(last=False)

    def judge(self, peer_id: str, key: str | None) -> bool:
        """True when a block from `peer_id` hashing to `key` is one we asked for; otherwise
        (None: it hashes to no CID we understand) count it and lower the peer's score."""
        if key is not None and (key in self._expected or key in self._recent):
            return True
        self.bad_blocks[peer_id] = self.bad_blocks.get(peer_id, 0) + 1
        score = self.scores.penalize(peer_id, BAD_BLOCK) if self.scores is not None else 0.0
        log.warning("peer %s sent a block matching no CID we asked for (%d so far, score %.1f)",
                    peer_id, self.bad_blocks[peer_id], score)
        return False

    def banned(self, peer_id: str) -> bool:
        return self.scores is not None and bool(self.scores.is_banned(peer_id))

    def make_client(self, host: Any) -> BitswapEngine:
        """The bitswap engine the p2p node runs over this store (it scores bad blocks)."""
        from oarn_tui.storage.engine import BitswapEngine

        return BitswapEngine(host, self)

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
                "rejected": self.rejected, "bad_blocks": sum(self.bad_blocks.values())}
