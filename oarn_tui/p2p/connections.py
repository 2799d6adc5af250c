"""Peer connection changes as libp2p reports them (a network notifee, trio side).

libp2p calls a notifee's `connected` after a connection joins the swarm and `disconnected`
after it left it. A peer may hold several connections (both sides dialled, a restart with the
same key): `ConnectionNotifee` reports a peer *connected* on its first live connection and
*disconnected* when its last one closed, once each, and leaves everything else to
`P2PNode`, which hands each `PeerChange` to its listeners on the asyncio loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio


@dataclass(frozen=True)
class PeerChange:
    """One peer came or went. `addrs` are where it listens (from the peerstore, dialable;
    empty while unknown), `remote` the socket address of the connection (an inbound one's port
    is ephemeral: for display, never for re-dialling). `refreshed`: a connected peer whose
    listen addresses or gossip score changed (no new connection)."""

    peer_id: str
    connected: bool
    addrs: tuple[str, ...] = ()
    remote: str = ""
    direction: str = ""
    refreshed: bool = False
    score: float = 0.0

    @property
    def address(self) -> str:
        """What to show: the first listen address, else the connection's remote address."""
        return self.addrs[0] if self.addrs else self.remote


class QuietNotifee:
    """libp2p's `INotifee` shape with every callback a no-op: subclasses override the ones
    they need (libp2p awaits all six on every network change)."""

    async def connected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def disconnected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def opened_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()


class ConnectionNotifee(QuietNotifee):
    """A libp2p network notifee (`INotifee` shape) that reports peers, not connections."""

    def __init__(self, on_change: Callable[[PeerChange], None],
                 addrs_of: Callable[[Any], list[str]]) -> None:
        self._on_change = on_change
        self._addrs_of = addrs_of
        self._connected: set[str] = set()

    async def connected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()
        peer_id = conn.muxed_conn.peer_id
        name = peer_id.to_base58()
        if name in self._connected or not network.get_connections(peer_id):
            return
        self._connected.add(name)
        direction = str(getattr(conn, "direction", "")).split(".")[-1].lower()
        self._on_change(PeerChange(name, True, tuple(self._addrs_of(peer_id)),
                                   _remote_addr(conn), direction))

    async def disconnected(self, network: Any, conn: Any) -> None:
        await trio.lowlevel.checkpoint()
        peer_id = conn.muxed_conn.peer_id
        name = peer_id.to_base58()
        if name not in self._connected or network.get_connections(peer_id):
            return  # another connection to the peer is still up
        self._connected.discard(name)
        self._on_change(PeerChange(name, False))

def _remote_addr(conn: Any) -> str:
    """The connection's remote socket address as a multiaddr (its port may be ephemeral)."""
    try:
        host, port = conn.muxed_conn.secured_conn.get_remote_address()[:2]
    except Exception:  # transports without a socket address
        return ""
    family = "ip6" if ":" in str(host) else "ip4"
    return f"/{family}/{host}/tcp/{port}"
