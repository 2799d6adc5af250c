"""Connection management for `P2PNode` (trio side): bootstrap, known-peer re-dial with backoff,
DHT walks that dial newly found peers, mDNS, reachability, and privacy peer rotation.

A mixin so these loops share the node's host, DHT and state without another layer of plumbing;
every method here runs on the node's trio thread.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from oarn_tui.p2p.discovery import KnownPeers, Reachability, split_p2p_addr
from oarn_tui.p2p.scoring import PeerScores

log = logging.getLogger("oarn.p2p")
DIAL_TIMEOUT_S = 5.0


class PeeringMixin:
    """Dialling and discovery loops; `P2PNode` provides the attributes below."""

    host: Any
    dht: Any
    options: Any
    known_peers: KnownPeers
    reachability: Reachability
    scores: PeerScores
    _bootstrap_ids: set[str]
    _inbound_hosts: set[str]
    _listen_addrs: list[str]

    def _refresh_peer_addrs(self) -> None:
        """Report connected peers whose listen addresses changed (`P2PNode` implements it)."""

    async def _connect_trio(self, maddr: str, source: str = "manual") -> str:
        import multiaddr
        from libp2p.peer.peerinfo import info_from_p2p_addr

        info = info_from_p2p_addr(multiaddr.Multiaddr(maddr))
        await self._dial(info)
        peer = info.peer_id.to_base58()
        self.known_peers.seen(peer, [str(a) for a in info.addrs], source)
        if self.dht is not None:
            await self.dht.add_peer(info.peer_id)
        return peer

    async def _dial_all(self, peer_id: str, addrs: list[str]) -> None:
        """Dial one peer trying every known address (TCP or QUIC)."""
        import multiaddr
        from libp2p.peer.id import ID
        from libp2p.peer.peerinfo import PeerInfo

        info = PeerInfo(ID.from_base58(peer_id), [multiaddr.Multiaddr(a) for a in addrs])
        await self._dial(info)
        if self.dht is not None:
            await self.dht.add_peer(info.peer_id)

    async def _dial(self, info: Any) -> None:
        """A deliberate dial to the addresses we were given (or backed off on ourselves).
        A peer that came back with the same key on a new address (a restarted requester)
        must be reachable there at once, but libp2p dials only one address per transport
        class from its peerstore, where the dead one comes first, and refuses for 60 s any
        dial to a peer whose addresses all failed: both are reset first."""
        network = self.host.get_network()
        if not network.get_connections(info.peer_id):
            self.host.get_peerstore().clear_addrs(info.peer_id)
            network.unblock_peer(info.peer_id)
        with trio.fail_after(DIAL_TIMEOUT_S):
            await self.host.connect(info)

    async def _dial_bootstrap(self) -> None:
        for maddr in self.options.bootstrap:
            try:
                _, peer = split_p2p_addr(maddr)
                self._bootstrap_ids.add(peer)
                await self._connect_trio(maddr, "bootstrap")
            except Exception as error:  # an unreachable bootstrap peer is retried later
                log.warning("bootstrap %s failed: %s", maddr, error)

    def _connected_ids(self) -> set[str]:
        return {p.to_base58() for p in self.host.get_connected_peers()}

    async def _discovery_loop(self) -> None:
        """Periodically: redial known/bootstrap peers (backoff), walk the DHT, dial new peers."""
        interval = self.options.discovery_interval_s
        await trio.sleep(0.2)
        while True:
            try:
                await self._discovery_round()
            except Exception as error:  # discovery is best-effort, never fatal
                log.debug("discovery round failed: %s", error)
            await trio.sleep(interval)

    async def _discovery_round(self) -> None:
        connected = self._connected_ids()
        for peer in self.known_peers.due(connected):
            if len(connected) >= self.options.max_peers:
                break
            try:
                await self._dial_all(peer.peer_id, peer.addrs)
                connected.add(peer.peer_id)
            except Exception:
                self.known_peers.failed(peer.peer_id)
        candidates: list[Any] = []
        if self.dht is not None and connected:
            for peer_id in self.host.get_connected_peers():
                await self.dht.add_peer(peer_id)
            with trio.move_on_after(10):
                candidates = await self.dht.peer_routing.find_closest_peers_network(
                    self.host.get_id().to_bytes())
        candidates += list(self.host.get_peerstore().peers_with_addrs())  # mDNS puts peers here
        await self._dial_candidates(candidates, connected)
        self._refresh_state()

    async def _dial_candidates(self, candidates: list[Any], connected: set[str]) -> None:
        from libp2p.peer.peerinfo import PeerInfo

        my_id = self.host.get_id()
        for peer_id in dict.fromkeys(candidates):
            if len(connected) >= self.options.max_peers:
                return
            name = peer_id.to_base58()
            if peer_id == my_id or name in connected or self.scores.is_banned(name):
                continue
            known = self.known_peers.peers.get(name)
            if known is not None and known.next_attempt > time.time():
                continue
            addrs = addrs_of(self.host, peer_id)
            if not addrs:
                continue
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await self.host.connect(PeerInfo(peer_id, addrs))
                self.known_peers.seen(name, [str(a) for a in addrs])
                connected.add(name)
            except Exception:
                self.known_peers.note(name, [str(a) for a in addrs])
                self.known_peers.failed(name)

    def _refresh_state(self) -> None:
        """Update known peers and reachability from current connections; report peers whose
        listen addresses became known (the peer book keeps them for the next start)."""
        network = self.host.get_network()
        for peer_id, conns in network.get_connections_map().items():
            for conn in conns:
                if str(getattr(conn, "direction", "")).lower().endswith("inbound"):
                    host = _remote_ip(conn)
                    if host:
                        self._inbound_hosts.add(host)
            name = peer_id.to_base58()
            known = self.known_peers.peers.get(name)
            self.known_peers.seen(name, [str(a) for a in addrs_of(self.host, peer_id)],
                                  known.source if known else "dht")
        self.reachability.update(self._listen_addrs, self._inbound_hosts)
        self._refresh_peer_addrs()

    async def _rotation_loop(self) -> None:
        """Privacy: every interval drop half the non-bootstrap connections; discovery refills."""
        while True:
            await trio.sleep(self.options.privacy.rotate_interval_s)
            await self.rotate_once()

    async def rotate_once(self) -> list[str]:
        """Disconnect up to half of the non-bootstrap peers (trio side); returns those dropped."""
        peers = [p for p in self.host.get_connected_peers()
                 if p.to_base58() not in self._bootstrap_ids]
        random.shuffle(peers)
        dropped = peers[: (len(peers) + 1) // 2]
        for peer_id in dropped:
            with trio.move_on_after(2):
                await self.host.disconnect(peer_id)
            self.known_peers.failed(peer_id.to_base58())  # back off before re-dialling it
        return [p.to_base58() for p in dropped]

    def _start_mdns(self) -> Any:
        from libp2p.discovery.mdns.mdns import MDNSDiscovery

        port = int(self._listen_addrs[0].split("/tcp/")[1].split("/")[0])
        mdns = MDNSDiscovery(self.host.get_network(), port=port,
                             listen_addrs=[a.split("/p2p/")[0] for a in self._listen_addrs],
                             host=self.host)
        mdns.start()
        return mdns


def addrs_of(host: Any, peer_id: Any) -> list[Any]:
    """A peer's known addresses; empty (not an error) for a peer the peerstore forgot."""
    try:
        return list(host.get_peerstore().addrs(peer_id))
    except Exception:  # PeerStoreError for unknown peers
        return []


def _remote_ip(conn: Any) -> str:
    try:
        return str(conn.muxed_conn.secured_conn.get_remote_address()[0])
    except Exception:  # transports without a socket address
        return ""
