"""`P2PFace`: what the pipeline and the runtime's wiring use of the p2p service.

`node` is the running `P2PNode` (None on a local-only node or before it started): gossip
(`subscribe`, `publish`), peer scores and dialing go through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from oarn_tui.p2p.node import P2PNode


class P2PFace(Protocol):
    """The node's libp2p side."""

    @property
    def node(self) -> P2PNode | None: ...
