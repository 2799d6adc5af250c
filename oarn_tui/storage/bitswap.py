"""Adapter that lets libp2p's `BitswapClient` serve from and store into our verified Blockstore.

Bitswap serves any block we hold. Blocks arriving from peers are stored only when this node asked
for them (`expect`) and only after they hash to their CID; anything else is dropped and counted.
The adapter's methods run on the p2p trio thread, so disk work goes through `trio.to_thread`.

`ScoringBitswapClient` (the client the p2p node builds for this adapter, `make_client`)
judges every received block before libp2p handles it: a block that hashes to nothing this node
asked for (or recently asked for) is a bad block. It is dropped and lowers the sender's score in
the p2p layer's `PeerScores` (reason `bad_block`); once the score is at the ban threshold the
peer's bitswap messages are ignored and it is disconnected.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import trio
from libp2p.bitswap.block_store import BlockStore
from libp2p.bitswap.cid import CIDInput, cid_to_bytes, reconstruct_cid_from_prefix_and_data
from libp2p.bitswap.client import BitswapClient

from oarn_tui.storage.blockstore import BlockMismatch, Blockstore
from oarn_tui.storage.cid import CID, RAW

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

    def make_client(self, host: Any) -> BitswapClient:
        """The bitswap client the p2p node runs over this store (it scores bad blocks)."""
        return ScoringBitswapClient(host, block_store=self)

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


def _key_of_v110(prefix: bytes, data: bytes) -> str | None:
    """Our blockstore key for a v1.1+ block (prefix + data), None when it is no CID we accept."""
    try:
        return CID.from_bytes(reconstruct_cid_from_prefix_and_data(prefix, data)).key
    except Exception:  # a prefix naming an unknown codec or hash: hostile or useless
        return None


class ScoringBitswapClient(BitswapClient):
    """libp2p's bitswap client, with every received block judged by `VerifiedBlockStore.judge`
    (see the module docstring); a banned peer's messages are dropped and it is disconnected."""

    block_store: VerifiedBlockStore

    async def _process_message(self, msg: Any, peer_id: Any, stream: Any) -> None:
        name = peer_id.to_base58()
        if self.block_store.banned(name):
            await self._drop_banned(peer_id)
            return
        await super()._process_message(msg, peer_id, stream)
        if self.block_store.banned(name):
            await self._drop_banned(peer_id)

    async def _process_blocks_v100(self, blocks: list[bytes], peer_id: Any) -> None:
        name = peer_id.to_base58()
        good = [data for data in blocks
                if self.block_store.judge(name, CID.for_block(data, RAW).key)]
        if good:
            await super()._process_blocks_v100(good, peer_id)

    async def _process_blocks_v110(self, blocks: Sequence[Any], peer_id: Any) -> None:
        name = peer_id.to_base58()
        good = [block for block in blocks
                if self.block_store.judge(name, _key_of_v110(block.prefix, block.data))]
        if good:
            await super()._process_blocks_v110(good, peer_id)

    async def connected(self, network: Any, conn: Any) -> None:
        """A banned peer that connects again (it dials us, or libp2p redials it) is dropped."""
        peer_id = getattr(getattr(conn, "muxed_conn", None), "peer_id", None)
        if peer_id is not None and self.block_store.banned(peer_id.to_base58()) and \
                self._nursery is not None:
            self._nursery.start_soon(self._drop_banned, peer_id)

    async def _drop_banned(self, peer_id: Any) -> None:
        """Close every connection to a banned peer (bounded, never raises)."""
        log.warning("disconnecting %s: banned for bad blocks", peer_id.to_base58())
        with trio.move_on_after(2):
            try:
                await self.host.disconnect(peer_id)
            except Exception as error:  # already gone
                log.debug("disconnecting %s: %s", peer_id, error)

