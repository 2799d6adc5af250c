"""`ChainFace`: what the pipeline and the front ends use of the chain service.

The chain service (`chain/service.py`) is the only implementation; callers are typed by this
face, so they reach the contracts through `contracts` (None until connected with a signer) and
never the service's internals.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.chain.bindings import OarnContracts
    from oarn_tui.chain.events import LogPoller


class ChainFace(Protocol):
    """The node's chain connection: contracts once connected, why not otherwise."""

    @property
    def contracts(self) -> OarnContracts | None:
        """The OARN contracts, signing with the node's wallet; None while read-only or down."""
        ...

    @property
    def reason(self) -> str:
        """One line on the connection's state ("ok", "connecting", what failed)."""
        ...

    @property
    def connected(self) -> asyncio.Event:
        """Set once the first connection attempt finished (read-only or signing)."""
        ...

    def task_event_poller(self, from_block: int = 0,
                          event_names: list[str] | None = None) -> LogPoller:
        """A poller of TaskRegistry events `blockchain.confirmations` blocks deep."""
        ...


class PeerDialer(Protocol):
    """The p2p node as the chain service sees it: dials the registry's bootstrap peers."""

    @property
    def peer_id(self) -> str: ...

    def listen_addrs(self) -> list[str]: ...

    async def connect(self, maddr: str) -> str: ...
