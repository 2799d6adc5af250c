"""Peers pane: a DataTable of connected peers, updated incrementally."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.tui import format as fmt
from oarn_tui.tui.table_sync import TableSync

PEER_COLUMNS = (("peer", "Peer"), ("address", "Address"), ("latency", "Latency"),
                ("score", "Score"), ("caps", "Capabilities"))


def peer_cells(peer: PeerInfo) -> tuple[Text | str, ...]:
    """Id, address and capabilities are the peer's words: literal cells."""
    return (fmt.cell(fmt.short_id(peer.peer_id, 8, 4)), fmt.cell(peer.address or "—"),
            fmt.latency(peer.latency_ms), f"{peer.score:.1f}",
            fmt.cell(fmt.capabilities(peer.capabilities)))


class PeersTable(DataTable[Any]):
    """Connected peers, best score first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        for key, label in PEER_COLUMNS:
            self.add_column(label, key=key)
        self.sync = TableSync(self, order_column="peer")

    def show(self, peers: tuple[PeerInfo, ...]) -> None:
        ordered = sorted(peers, key=lambda p: (-p.score, p.peer_id))
        self.sync.apply({p.peer_id: peer_cells(p) for p in ordered})
