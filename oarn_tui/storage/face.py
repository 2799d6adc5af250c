"""`StorageFace`: what the pipeline and the p2p service use of the storage service.

Content goes in and out through `local` (the node's own blockstore-backed store), pins through
the retention helpers, and network fetches through `exchange` (bitswap, once the p2p service
set it) — never through the service's attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.storage.blockstore import Blockstore
    from oarn_tui.storage.cid import CID
    from oarn_tui.storage.content import LocalContentStore
    from oarn_tui.storage.fetch import BlockFetcher, ProgressCallback
    from oarn_tui.storage.limits import FetchBudget
    from oarn_tui.storage.models import ModelStore


class ContentExchange(Protocol):
    """Fetches whole DAGs from peers and provides what this node holds (bitswap)."""

    async def fetch(self, root: CID, progress: ProgressCallback | None = None, *,
                    hint: str | None = None, max_bytes: int | None = None,
                    budget: FetchBudget | None = None) -> int: ...

    def provide_later(self, root: CID) -> None: ...


class StorageFace(Protocol):
    """The node's content store, pins and exchange."""

    @property
    def local(self) -> LocalContentStore:
        """The local content store (raises RuntimeError before the service started)."""
        ...

    @property
    def blocks(self) -> Blockstore:
        """The blockstore under `local` (raises RuntimeError before the service started)."""
        ...

    @property
    def models(self) -> ModelStore | None:
        """The model store (`oarn model add/pull`), None before the service started."""
        ...

    @property
    def exchange(self) -> ContentExchange | None:
        """Bitswap, once the p2p service runs; None on a node without network."""
        ...

    def set_fetcher(self, fetcher: BlockFetcher | None) -> None:
        """The p2p service hands its exchange over (None when it stops)."""
        ...

    def task_budget(self) -> FetchBudget:
        """A fresh disk quota for the fetches of one task."""
        ...

    async def pin_result(self, cid: CID | str) -> float: ...

    async def pin_task_input(self, cid: CID | str, task_id: str | int) -> None: ...

    async def release_task_input(self, cid: CID | str, task_id: str | int) -> bool: ...
