"""Bitswap exchange: fetches a DAG over the node's bitswap engine (`storage.engine`).

`fetch(root)` asks the peers this node is connected to first (a task's requester, the `hint`,
before the others), as Kubo and Helia do; only when none of them has the content does it look
providers up in the DHT, dial them and ask them too. The DAG is pulled by
`storage.fetch.fetch_dag`, which hands each node's children to `fetch_blocks` in one batch:
the engine keeps a window of wants outstanding at every peer, steals work from slow ones, and
hashes and stores blocks off the network thread. Blocks already held are never fetched again,
so an interrupted pull resumes where it stopped. `get_block` (the `BlockFetcher` protocol)
fetches one block the same way.
Every fetch is checked against `limits` (the storage service sets the node's, a caller may pass a
task's); peers whose score the p2p layer has banned (bad blocks, see `storage.bitswap`) are
neither asked nor dialled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from oarn_tui.storage.bitswap import VerifiedBlockStore
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.engine import DEFAULT_WINDOW, EngineError
from oarn_tui.storage.fetch import FetchError, ProgressCallback, fetch_dag
from oarn_tui.storage.limits import DagLimits, FetchBudget

log = logging.getLogger("oarn.storage.exchange")


class NoPeers(FetchError):
    """The peers asked do not have a block (or sent nothing in time)."""


class NoProviders(FetchError):
    """No connected peer has the content and nobody in the DHT provides it."""


class BitswapExchange:
    """Fetch and serve blocks for one `P2PNode` whose bitswap uses `adapter`."""

    def __init__(self, node: Any, store: Blockstore, adapter: VerifiedBlockStore,
                 block_timeout_s: float = 30.0, concurrency: int = 16,
                 window: int = DEFAULT_WINDOW) -> None:
        self.node = node
        self.store = store
        self.adapter = adapter
        self.block_timeout_s = block_timeout_s
        self.concurrency = concurrency
        self.window = window
        self.limits = DagLimits()
        adapter.scores = getattr(node, "scores", None)  # bad blocks lower the sender's score
        self._providing: set[asyncio.Task[None]] = set()
        self.fetched_blocks = 0
        self.fetched_bytes = 0
        self.fetched_keys: set[str] = set()  # every block this exchange fetched (resume tests)
        self.sources: dict[str, int] = {}  # peer -> blocks it served in the last `fetch`

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
        return connected

    def _banned(self, peer_id: str) -> bool:
        scores = self.adapter.scores
        return scores is not None and bool(scores.is_banned(peer_id))

    def connected_peers(self, hint: str | None = None) -> list[str]:
        """Connected peers that are not banned, `hint` first."""
        names = [p["peer_id"] for p in self.node.peers()]
        ordered = ([hint] if hint in names else []) + [n for n in names if n != hint]
        return [name for name in ordered if not self._banned(name)]

    async def fetch(self, root: CID, progress: ProgressCallback | None = None, *,
                    hint: str | None = None, max_bytes: int | None = None,
                    budget: FetchBudget | None = None) -> int:
        """Fetch and verify the whole file `root` from connected peers, else from its DHT
        providers; returns its size.

        `hint` names a connected peer that most likely has the file (a task's requester): it
        is asked first. `max_bytes` is the size the task declares (the node's `limits` apply
        on top), `budget` the task's disk quota; content over either raises `ContentRefused`
        and is not kept."""
        limits = self.limits.capped(max_bytes)
        self.sources = {}
        peers = self.connected_peers(hint)
        if peers or self.store.dag_complete(root):
            try:
                size = await fetch_dag(root, PeerFetcher(self, peers), self.store,
                                       progress=progress,
                                       concurrency=self.concurrency, limits=limits,
                                       budget=budget)
            except NoPeers as error:
                log.debug("connected peers could not serve %s: %s", root, error)
            else:
                self.provide_later(root)
                return size
        connected = await self.connect_providers(root)
        if not connected:
            raise NoProviders(f"no connected peer has {root} and no providers were found")
        peers = list(dict.fromkeys([*connected, *self.connected_peers(hint)]))
        size = await fetch_dag(root, PeerFetcher(self, peers), self.store, progress=progress,
                               concurrency=self.concurrency, limits=limits, budget=budget)
        self.provide_later(root)  # now we can serve it too
        return size

    async def fetch_blocks(self, cids: list[CID], store: Blockstore,
                           on_bytes: Callable[[int], None] | None = None
                           ) -> dict[str, bytes | int]:
        """`BatchFetcher`: fetch `cids` into the store from the connected peers."""
        return await self.fetch_blocks_from(self.connected_peers(), cids, store, on_bytes)

    async def fetch_blocks_from(self, peers: list[str], cids: list[CID], store: Blockstore,
                                on_bytes: Callable[[int], None] | None = None
                                ) -> dict[str, bytes | int]:
        """Fetch `cids` into the store from `peers` (banned ones skipped)."""
        peers = [peer for peer in peers if not self._banned(peer)]
        if not peers:
            raise NoPeers("no connected peer to ask")
        loop = asyncio.get_running_loop()
        callback = None
        if on_bytes is not None:
            def callback(size: int) -> None:  # on the p2p thread
                loop.call_soon_threadsafe(on_bytes, size)
        try:
            got = await self.node.run_trio(self._fetch_trio, cids, peers, callback)
        except EngineError as error:
            raise NoPeers(str(error)) from None
        fetched = [cid for cid in cids if cid.key in got]
        self.fetched_blocks += len(fetched)
        self.fetched_bytes += sum(v if isinstance(v, int) else len(v) for v in got.values())
        self.fetched_keys.update(cid.key for cid in fetched)
        return dict(got)

    async def _fetch_trio(self, cids: list[CID], peers: list[str],
                          callback: Callable[[int], None] | None) -> dict[str, bytes | int]:
        engine = self.node.bitswap
        if engine is None or not hasattr(engine, "fetch_many"):
            raise FetchError("bitswap is not running (node started without a block store)")
        return dict(await engine.fetch_many(cids, peers, self.block_timeout_s,
                                            window=self.window, on_block=callback,
                                            sources=self.sources))

    async def get_block(self, cid: CID) -> bytes:
        """One block over bitswap, verified against `cid` (the `BlockFetcher` protocol):
        from connected peers, else from the block's DHT providers."""
        try:
            got = await self.fetch_blocks([cid], self.store)
        except NoPeers:
            if not await self.connect_providers(cid):
                raise NoProviders(f"no connected peer has {cid} and no providers were "
                                  "found") from None
            got = await self.fetch_blocks([cid], self.store)
        data = await asyncio.to_thread(self.store.get, cid)  # verified on read
        del got
        return data


class PeerFetcher:
    """A `BatchFetcher` bound to the peers one fetch chose, so concurrent fetches (a task's
    model and input, two tasks) never ask each other's peers."""

    def __init__(self, exchange: BitswapExchange, peers: list[str]) -> None:
        self.exchange = exchange
        self.peers = peers

    async def fetch_blocks(self, cids: list[CID], store: Blockstore,
                           on_bytes: Callable[[int], None] | None = None
                           ) -> dict[str, bytes | int]:
        return await self.exchange.fetch_blocks_from(self.peers, cids, store, on_bytes)
