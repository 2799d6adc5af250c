"""Bitswap exchange: a `BlockFetcher` that finds providers in the DHT and fetches over bitswap.

`fetch(root)` looks providers up (deduplicated), dials them, then pulls the whole DAG through
`storage.fetch.fetch_dag`, which verifies and stores every block and reports progress. Used
directly as a `BlockFetcher` (the storage service's `model pull`), `get_block` asks the peers that
served the last blocks first, then the DHT providers of the block, then every connected peer.
Every fetch is checked against `limits` (the storage service sets the node's, a caller may pass a
task's); peers whose score the p2p layer has banned (bad blocks, see `storage.bitswap`) are
neither asked nor dialled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import trio

from oarn_tui.storage.bitswap import VerifiedBlockStore
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.fetch import FetchError, ProgressCallback, fetch_dag
from oarn_tui.storage.limits import DagLimits, FetchBudget

log = logging.getLogger("oarn.storage.exchange")
PREFERRED_TRY_S = 5.0


class NoProviders(FetchError):
    """Nobody in the DHT provides the content."""


class BitswapExchange:
    """Fetch and serve blocks for one `P2PNode` whose bitswap uses `adapter`."""

    def __init__(self, node: Any, store: Blockstore, adapter: VerifiedBlockStore,
                 block_timeout_s: float = 30.0, concurrency: int = 16) -> None:
        self.node = node
        self.store = store
        self.adapter = adapter
        self.block_timeout_s = block_timeout_s
        self.concurrency = concurrency
        self.limits = DagLimits()
        adapter.scores = getattr(node, "scores", None)  # bad blocks lower the sender's score
        self._preferred: list[str] = []
        self._providing: set[asyncio.Task[None]] = set()
        self.fetched_blocks = 0
        self.fetched_bytes = 0

    async def provide(self, root: CID) -> bool:
        """Announce `root` in the DHT (roots strategy: providers are found per file)."""
        return bool(await self.node.provide(str(root)))

    def provide_later(self, root: CID) -> None:
        """Announce `root` in the background: a DHT round trip must not delay the caller."""

        async def provide() -> None:
            try:
                await self.provide(root)
            except Exception as error:  # the next reprovide round tries again
                log.debug("providing %s failed: %s", root, error)

        task = asyncio.get_running_loop().create_task(provide())
        self._providing.add(task)
        task.add_done_callback(self._providing.discard)

    async def find_providers(self, root: CID) -> list[dict[str, Any]]:
        """Deduplicated providers of `root` (never ourselves)."""
        return list(await self.node.find_providers(str(root)))

    async def connect_providers(self, cid: CID) -> list[str]:
        """Find providers of `cid`, dial them, and prefer them for the next blocks."""
        providers = await self.find_providers(cid)
        connected = []
        for provider in providers:
            if self._banned(provider["peer_id"]):
                log.info("not dialling provider %s: banned for bad blocks", provider["peer_id"])
                continue
            for addr in provider["addrs"]:
                try:
                    await self.node.connect(f"{addr}/p2p/{provider['peer_id']}")
                    connected.append(provider["peer_id"])
                    break
                except Exception as error:  # try the next address / provider
                    log.debug("provider %s at %s: %s", provider["peer_id"], addr, error)
        if providers and not connected:
            raise FetchError(f"could not connect to any of {len(providers)} providers of {cid}")
        if connected:
            self._preferred = connected
        return connected

    def _banned(self, peer_id: str) -> bool:
        scores = self.adapter.scores
        return scores is not None and bool(scores.is_banned(peer_id))

    async def fetch(self, root: CID, progress: ProgressCallback | None = None, *,
                    hint: str | None = None, max_bytes: int | None = None,
                    budget: FetchBudget | None = None) -> int:
        """Find providers of `root`, connect, fetch and verify the whole file; returns its size.

        `hint` names a connected peer that most likely has the file (a task's requester): it is
        asked first, which skips the DHT lookup; the DHT is the fallback. `max_bytes` is the
        size the task declares (the node's `limits` apply on top), `budget` the task's disk
        quota; content over either raises `ContentRefused` and is not kept."""
        limits = self.limits.capped(max_bytes)
        if hint and not self.store.dag_complete(root) and not self._banned(hint) and \
                hint in {p["peer_id"] for p in self.node.peers()}:
            self._preferred = [hint]
            try:
                size = await fetch_dag(root, self, self.store, progress=progress,
                                       concurrency=self.concurrency, limits=limits,
                                       budget=budget)
            except FetchError as error:
                log.debug("hinted peer %s could not serve %s: %s", hint, root, error)
            else:
                self.provide_later(root)
                return size
        if not self.store.dag_complete(root) and not await self.connect_providers(root):
            raise NoProviders(f"no providers found for {root}")
        size = await fetch_dag(root, self, self.store, progress=progress,
                               concurrency=self.concurrency, limits=limits, budget=budget)
        self.provide_later(root)  # now we can serve it too
        return size

    async def get_block(self, cid: CID) -> bytes:
        """One block over bitswap, verified against `cid` (the `BlockFetcher` protocol)."""
        self.adapter.expect(cid)
        try:
            data = await self._get_block(cid)
        finally:
            self.adapter.forget(cid)
        if not cid.verifies(data):
            raise FetchError(f"peer sent bytes that do not hash to {cid}")
        self.fetched_blocks += 1
        self.fetched_bytes += len(data)
        return data

    async def _get_block(self, cid: CID) -> bytes:
        self._preferred = [peer for peer in self._preferred if not self._banned(peer)]
        if self._preferred:
            try:
                return await self._ask(cid, self._preferred[0], PREFERRED_TRY_S)
            except Exception as error:  # the preferred peer may not have this block
                log.debug("preferred peer lacks %s: %s", cid, error)
        connected = await self.connect_providers(cid)
        return await self._ask(cid, connected[0] if connected else None, self.block_timeout_s)

    async def _ask(self, cid: CID, peer_id: str | None, timeout_s: float) -> bytes:
        return bytes(await self.node.run_trio(self._get_block_trio, cid, peer_id, timeout_s))

    async def _get_block_trio(self, cid: CID, peer_id: str | None, timeout_s: float) -> bytes:
        from libp2p.bitswap.cid import parse_cid
        from libp2p.peer.id import ID

        client = self.node.bitswap
        if client is None:
            raise FetchError("bitswap is not running (node started without a block store)")
        session = client.new_session()
        with trio.fail_after(timeout_s + 1):
            return bytes(await session.get_block(
                parse_cid(cid.to_bytes()), peer_id=ID.from_base58(peer_id) if peer_id else None,
                timeout=timeout_s))
