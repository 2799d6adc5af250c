"""`P2PNode`: the libp2p host, gossipsub, Kad-DHT, bitswap and request handlers in a trio thread.

Everything public is asyncio-facing and never blocks the caller's loop. Gossip is paced under
gossipsub's default per-topic rate (~10 msg/s per peer) through bounded per-topic queues, so a
publisher waits instead of messages being dropped silently. Dialling and discovery loops live in
`peering.PeeringMixin`. Peers coming and going reach `add_peer_listener` listeners on the
asyncio loop as libp2p reports them (`connections.ConnectionNotifee`), nothing is polled.

Host, gossip, DHT and handlers stay in one module (~540 lines) because they run on the one trio
thread `P2PNode` owns and share its nursery and streams; dialling is `peering.py`,
connection events `connections.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from oarn_tui.p2p.bridge import TrioThread
from oarn_tui.p2p.connections import ConnectionNotifee, PeerChange
from oarn_tui.p2p.discovery import KnownPeers, Reachability, split_p2p_addr
from oarn_tui.p2p.host import (
    build_host,
    listen_multiaddr,
    peer_id_of,
    quic_multiaddr,
    route_libp2p_logs,
)
from oarn_tui.p2p.messages import (
    MAX_MESSAGE_BYTES,
    TOPIC_KINDS,
    TOPICS,
    AccountBinding,
    Envelope,
    MessageError,
    encode_message,
)
from oarn_tui.p2p.peering import PeeringMixin, addrs_of
from oarn_tui.p2p.scoring import PeerScores
from oarn_tui.p2p.stale import StaleStreamNotifee
from oarn_tui.p2p.validation import MessageValidator, RateWindow

log = logging.getLogger("oarn.p2p")

GossipCallback = Callable[[Envelope], Coroutine[Any, Any, None]]
RequestHandler = Callable[[Envelope], Coroutine[Any, Any, dict[str, Any]]]
PeerListener = Callable[[PeerChange], None]
PUBLISH_QUEUE_SIZE = 32
PUBLISH_RATE_PER_TOPIC = 8  # below gossipsub's default 10 msg/s per topic per peer
OUTBOUND_HIGH_WATER = 24  # of gossipsub's 32-RPC per-peer outbound queue
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PrivacyOptions:
    """The `[privacy]` options the p2p layer implements."""

    padding_enabled: bool = False
    padding_bucket_bytes: int = 1024
    min_delay_ms: int = 0
    max_delay_ms: int = 0
    rotate_peers: bool = False
    rotate_interval_s: float = 600.0


@dataclass
class NodeOptions:
    """How a node listens, whom it knows and what it runs."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    enable_quic: bool = False
    max_peers: int = 50
    bootstrap: list[str] = field(default_factory=list)
    known_peers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """`(peer_id, addrs)` seen before (the runtime's peer book), re-dialled at start."""
    enable_dht: bool = True
    mdns: bool = False
    discovery_interval_s: float = 3.0
    privacy: PrivacyOptions = field(default_factory=PrivacyOptions)
    validate: bool = True  # False only for test attackers that must emit bad messages
    max_message_bytes: int = MAX_MESSAGE_BYTES
    gossip_heartbeat_s: int = 1
    publish_rate_per_topic: int = PUBLISH_RATE_PER_TOPIC
    peer_rate_per_s: float = 20.0  # messages accepted per publishing peer (relays: 10x)
    peer_rate_burst: int = 40


class P2PNode(PeeringMixin):
    """One libp2p node with an asyncio API (see module docstring)."""

    def __init__(
        self,
        key_pair: Any,
        options: NodeOptions | None = None,
        binding: AccountBinding | None = None,
        block_store: Any = None,
    ) -> None:
        self.key_pair = key_pair
        self.options = options or NodeOptions()
        self.binding = binding
        self.peer_id = peer_id_of(key_pair)
        self.scores = PeerScores()
        self.validator = MessageValidator(
            self.scores, max_bytes=self.options.max_message_bytes,
            rate_per_s=self.options.peer_rate_per_s, rate_burst=self.options.peer_rate_burst,
        )
        self.known_peers = KnownPeers(self.options.known_peers)
        self.reachability = Reachability()
        self.block_store = block_store  # a libp2p bitswap BlockStore (see storage/bitswap.py)
        self._thread = TrioThread(f"p2p-{self.peer_id[-6:]}")
        self._callbacks: dict[str, list[GossipCallback]] = {}
        self._request_handlers: dict[str, RequestHandler] = {}
        self._peer_listeners: list[PeerListener] = []
        self._reported: dict[str, tuple[tuple[str, ...], float]] = {}  # trio side: connected
        self._bootstrap_ids: set[str] = set()
        self._inbound_hosts: set[str] = set()
        self._listen_addrs: list[str] = []
        self._subscribed: set[str] = set()
        self.host: Any = None
        self.pubsub: Any = None
        self.dht: Any = None
        self.bitswap: Any = None
        self.request_response: Any = None
        self._outboxes: dict[str, Any] = {}
        self._nursery: Any = None
        self._subscriptions: dict[str, Any] = {}
        self.published = 0
        self.started_at = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the trio thread and wait until the host listens and services run."""
        route_libp2p_logs()
        await self._thread.start(self._trio_main)
        self.started_at = time.time()

    async def stop(self) -> None:
        """Stop every service and the thread (connections close: listeners hear of it)."""
        await self._thread.stop()

    @property
    def running(self) -> bool:
        return self._thread.running

    async def run_trio(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run a trio coroutine function in the node's thread (for storage/exchange)."""
        return await self._thread.call(fn, *args)

    async def _trio_main(self, ready: Callable[[], None]) -> None:
        import multiaddr
        from libp2p.tools.anyio_service import background_trio_service

        opts = self.options
        listen = [listen_multiaddr(opts.listen_host, opts.listen_port)]
        if opts.enable_quic:
            listen.append(quic_multiaddr(opts.listen_host, opts.listen_port))
        self.host = build_host(self.key_pair, listen, opts.max_peers, opts.enable_quic)
        self.host.get_network().register_notifee(ConnectionNotifee(
            self._peer_changed, lambda peer_id: [str(a) for a in addrs_of(self.host, peer_id)]))
        async with self.host.run([multiaddr.Multiaddr(a) for a in listen]):
            # TCP first: it is what every peer (and js-libp2p) can dial
            self._listen_addrs = sorted((str(a) for a in self.host.get_addrs()),
                                        key=lambda a: "/tcp/" not in a)
            if not any("/tcp/" in a for a in self._listen_addrs):
                raise OSError(f"could not listen on {listen[0]} (address in use or not local)")
            self.reachability.update(self._listen_addrs, set())
            self.pubsub, gossipsub = self._make_pubsub()
            async with background_trio_service(self.pubsub), \
                    background_trio_service(gossipsub), trio.open_nursery() as nursery:
                await self.pubsub.wait_until_ready()
                self._start_request_response()
                if opts.enable_dht:
                    from libp2p.kad_dht.kad_dht import DHTMode, KadDHT

                    self.dht = KadDHT(self.host, DHTMode.SERVER)
                    nursery.start_soon(self._run_service, self.dht)
                await self._start_bitswap(nursery)
                for topic in dict.fromkeys([*TOPICS, *self._callbacks]):
                    await self._subscribe_trio(topic, nursery)
                for protocol in list(self._request_handlers):
                    await self._install_handler(protocol)
                self._nursery = nursery
                await self._dial_bootstrap()
                nursery.start_soon(self._discovery_loop)
                if opts.privacy.rotate_peers:
                    nursery.start_soon(self._rotation_loop)
                mdns = self._start_mdns() if opts.mdns else None
                ready()
                try:
                    await trio.sleep_forever()
                finally:
                    if mdns is not None:
                        mdns.stop()
                    # stop runs as a cancellation: shield the bounded clean-up from it
                    with trio.CancelScope(shield=True):
                        if self.bitswap is not None:
                            with trio.move_on_after(2):
                                await self.bitswap.stop()
                        await self._close_host()

    async def _close_host(self) -> None:
        """Close every connection (down to its socket) and listener before the services go.

        Leaving `host.run` only cancels the swarm's tasks and leaves sockets open, and
        `host.close()` skips a connection whose wrapper was already marked closed while its
        muxer and socket still run (seen in libp2p 0.8.1). Peers then keep a live-looking
        connection and pubsub stream for this peer ID: a node restarted with the same key never
        gets their subscriptions again and its gossip reaches no one. So each muxed connection is
        closed directly (GO_AWAY, then the socket), then the host.
        """
        network = self.host.get_network()
        with trio.move_on_after(CLOSE_TIMEOUT_S) as scope:
            for conns in list(network.get_connections_map().values()):
                for conn in list(conns):
                    await _close_muxed(conn.muxed_conn)
            try:
                await self.host.close()
            except Exception as error:  # best effort: the sockets are already closed
                log.debug("closing the libp2p host failed: %s", error)
        if scope.cancelled_caught:
            log.warning("closing the libp2p host took over %.0f s", CLOSE_TIMEOUT_S)

    async def _run_service(self, service: Any) -> None:
        from libp2p.tools.anyio_service import background_trio_service

        async with background_trio_service(service):
            await trio.sleep_forever()

    def _make_pubsub(self) -> tuple[Any, Any]:
        from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
        from libp2p.pubsub.pubsub import Pubsub

        gossipsub = GossipSub(
            protocols=[PROTOCOL_ID_V11, PROTOCOL_ID],
            degree=6, degree_low=4, degree_high=12,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=self.options.gossip_heartbeat_s,
            adaptive_gossip_enabled=False,
            # relays forward many origins' messages per topic; our validator rate-limits instead
            max_messages_per_topic_per_second=1000.0,
        )
        pubsub = Pubsub(self.host, gossipsub, max_inbound_rpc_size=4 * MAX_MESSAGE_BYTES)
        # a peer restarted with the same key must get a fresh pubsub stream (see stale.py)
        self.host.get_network().register_notifee(StaleStreamNotifee(pubsub))
        return pubsub, gossipsub

    # ---- gossip ------------------------------------------------------------------------------

    async def _subscribe_trio(self, topic: str, nursery: trio.Nursery) -> None:
        if topic in self._subscribed:
            return
        self._subscribed.add(topic)
        if self.options.validate:
            self.pubsub.set_topic_validator(topic, self._gossip_validator, False)
        subscription = await self.pubsub.subscribe(topic)
        send, receive = trio.open_memory_channel[bytes](PUBLISH_QUEUE_SIZE)
        self._outboxes[topic] = send
        nursery.start_soon(self._read_loop, topic, subscription)
        nursery.start_soon(self._publish_loop, topic, receive)

    def _gossip_validator(self, forwarder: Any, message: Any) -> bool:
        origin = message.from_id
        if origin and bytes(origin) == self.host.get_id().to_bytes():
            return True  # our own message, already built by us
        from libp2p.peer.id import ID

        origin = ID(bytes(origin)).to_base58() if origin else None
        return self.validator.is_valid(forwarder.to_base58(), bytes(message.data), origin)

    async def _read_loop(self, topic: str, subscription: Any) -> None:
        from libp2p.peer.id import ID

        my_id = self.host.get_id().to_bytes()
        while True:
            message = await subscription.get()
            if bytes(message.from_id) == my_id:
                continue
            data = bytes(message.data)
            try:
                envelope = _decode_trusted(data, self.options.max_message_bytes)
            except MessageError as error:  # only when validation is off (test attackers)
                log.debug("undecodable message from %s: %s", ID(message.from_id), error)
                continue
            for callback in list(self._callbacks.get(topic, ())):
                self._thread.post_to_asyncio(_spawn_callback, callback, envelope)

    async def _publish_loop(self, topic: str, receive: Any) -> None:
        pacing = RateWindow(self.options.publish_rate_per_topic)
        async for data in receive:
            wait = pacing.delay()
            if wait > 0:
                await trio.sleep(wait)
            pacing.record()
            await self._wait_for_outbound_room()
            try:
                await self.pubsub.publish(topic, data)
                self.published += 1
            except Exception as error:  # a failed publish is reported, never fatal
                log.warning("publish on %s failed: %s", topic, error)

    async def _wait_for_outbound_room(self, limit_s: float = 5.0) -> None:
        """Wait while any peer's gossipsub outbound queue is nearly full (it drops silently)."""
        with trio.move_on_after(limit_s):
            while any(len(queue) >= OUTBOUND_HIGH_WATER
                      for queue in list(self.pubsub.peer_queues.values())):
                await trio.sleep(0.005)

    def subscribe(self, topic: str, callback: GossipCallback) -> None:
        """Call `callback(envelope)` on the asyncio loop for each valid message on `topic`."""
        self._callbacks.setdefault(topic, []).append(callback)
        if topic not in self._subscribed and self.running:
            self._thread.spawn(self._subscribe_trio, topic, self._nursery)

    async def publish(self, topic: str, body: dict[str, Any]) -> None:
        """Sign and publish `body` on `topic`; waits (backpressure) while the queue is full."""
        kind = TOPIC_KINDS.get(topic)
        if kind is None:
            raise ValueError(f"unknown topic {topic}")
        privacy = self.options.privacy
        data = encode_message(
            self.key_pair, kind, body, self.binding,
            padding_bucket=privacy.padding_bucket_bytes if privacy.padding_enabled else 0,
        )
        await self.publish_raw(topic, data)

    async def publish_raw(self, topic: str, data: bytes) -> None:
        """Queue already-encoded bytes (after the privacy send delay, if configured)."""
        privacy = self.options.privacy
        if privacy.max_delay_ms > 0:
            low = min(privacy.min_delay_ms, privacy.max_delay_ms)
            await asyncio.sleep(random.uniform(low, privacy.max_delay_ms) / 1000)
        if topic not in self._outboxes:
            raise ValueError(f"not subscribed to {topic}")
        await self._thread.call(self._outboxes[topic].send, data)

    # ---- request/response --------------------------------------------------------------------

    def _start_request_response(self) -> None:
        from libp2p.request_response import RequestResponse

        self.request_response = RequestResponse(self.host)

    def set_request_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Answer `protocol` requests: `handler(envelope)` runs on asyncio, returns the body."""
        self._request_handlers[protocol] = handler
        if self.running:
            self._thread.spawn(self._install_handler, protocol)

    async def _install_handler(self, protocol: str) -> None:
        from libp2p.custom_types import TProtocol
        from libp2p.request_response import BytesCodec, RequestResponseConfig

        async def on_request(payload: bytes, context: Any) -> bytes:
            envelope = self.validator.validate(context.peer_id.to_base58(), payload)
            handler = self._request_handlers[protocol]
            body = await self._thread.await_asyncio(handler(envelope))
            return encode_message(self.key_pair, envelope.kind, body, self.binding)

        config = RequestResponseConfig(max_request_size=self.options.max_message_bytes,
                                       max_response_size=self.options.max_message_bytes)
        self.request_response.set_handler(TProtocol(protocol), on_request, BytesCodec(), config)

    async def request(self, peer_id: str, protocol: str, kind: str,
                      body: dict[str, Any], timeout_s: float = 10.0) -> Envelope:
        """Ask one peer directly; the signed reply is validated like gossip."""
        data = encode_message(self.key_pair, kind, body, self.binding)
        reply = await self._thread.call(self._request_trio, peer_id, protocol, data, timeout_s)
        return self.validator.validate(peer_id, reply)

    async def _request_trio(self, peer_id: str, protocol: str, data: bytes,
                            timeout_s: float) -> bytes:
        from libp2p.custom_types import TProtocol
        from libp2p.peer.id import ID
        from libp2p.request_response import BytesCodec, RequestResponseConfig

        config = RequestResponseConfig(timeout=timeout_s,
                                       max_request_size=self.options.max_message_bytes,
                                       max_response_size=self.options.max_message_bytes)
        return bytes(await self.request_response.send_request(
            ID.from_base58(peer_id), [TProtocol(protocol)], data, BytesCodec(), config))

    # ---- connections and discovery -----------------------------------------------------------

    def add_peer_listener(self, listener: PeerListener) -> None:
        """Call `listener(change)` on the asyncio loop for each peer that connects, goes, or
        whose listen addresses become known (`PeerChange.refreshed`)."""
        self._peer_listeners.append(listener)

    def _peer_changed(self, change: PeerChange) -> None:
        """Trio side: note a connected peer for re-dialling, hand the change to asyncio."""
        change = replace(change, addrs=_tcp_first(change.addrs)[:8],
                         score=round(self.scores.score(change.peer_id), 3))
        if change.connected:
            self._reported[change.peer_id] = (change.addrs, change.score)
            if change.addrs:
                self.known_peers.seen(change.peer_id, list(change.addrs))
        else:
            self._reported.pop(change.peer_id, None)
        self._thread.post_to_asyncio(self._deliver_peer_change, change)

    def _refresh_peer_addrs(self) -> None:
        """Trio side, each discovery round: a connected peer's listen addresses arrive after
        the connection (identify, an inbound dialer) and its gossip score moves; report the
        peers whose addresses or score changed since they were last reported."""
        from libp2p.peer.id import ID

        for name, (addrs, score) in list(self._reported.items()):
            now = _tcp_first(tuple(str(a) for a in addrs_of(self.host, ID.from_base58(name))))
            if (now[:8], round(self.scores.score(name), 3)) != (addrs, score):
                self._peer_changed(PeerChange(name, True, now, refreshed=True))

    def _deliver_peer_change(self, change: PeerChange) -> None:
        for listener in list(self._peer_listeners):
            try:
                listener(change)
            except Exception as error:  # one listener must not starve the others
                log.warning("peer listener failed on %s: %s", change.peer_id, error)

    async def connect(self, maddr: str) -> str:
        """Dial a `/…/p2p/<id>` multiaddr; returns the peer ID."""
        split_p2p_addr(maddr)
        return str(await self._thread.call(self._connect_trio, maddr))

    # ---- DHT provider records ----------------------------------------------------------------

    async def provide(self, cid: str) -> bool:
        """Announce in the DHT that this node provides `cid`."""
        if self.dht is None:
            return False
        return bool(await self._thread.call(self.dht.provide, cid))

    async def find_providers(self, cid: str, count: int = 20) -> list[dict[str, Any]]:
        """Providers of `cid` (deduplicated; libp2p returns duplicates), excluding ourselves."""
        if self.dht is None:
            return []
        return list(await self._thread.call(self._find_providers_trio, cid, count))

    async def _find_providers_trio(self, cid: str, count: int) -> list[dict[str, Any]]:
        infos = await self.dht.find_providers(cid, count)
        merged: dict[str, set[str]] = {}
        for info in infos:
            name = info.peer_id.to_base58()
            if name != self.peer_id:
                merged.setdefault(name, set()).update(str(a) for a in info.addrs)
                if info.addrs:
                    self.host.get_peerstore().add_addrs(info.peer_id, info.addrs, 3600)
        return [{"peer_id": p, "addrs": sorted(a)} for p, a in merged.items()]

    async def _start_bitswap(self, nursery: trio.Nursery) -> None:
        if self.block_store is None or self.bitswap is not None:
            return
        from libp2p.bitswap import BitswapClient

        make_client = getattr(self.block_store, "make_client", None)  # storage's scoring client
        self.bitswap = make_client(self.host) if make_client is not None else \
            BitswapClient(self.host, block_store=self.block_store)
        self.bitswap.set_nursery(nursery)
        await self.bitswap.start()

    async def enable_bitswap(self, block_store: Any) -> None:
        """Serve and fetch blocks from `block_store` (for a storage layer started after us)."""
        self.block_store = block_store
        await self._thread.call(self._start_bitswap, self._nursery)

    # ---- snapshots ---------------------------------------------------------------------------

    def listen_addrs(self) -> list[str]:
        return list(self._listen_addrs)

    def topics(self) -> list[str]:
        return sorted(self._subscribed)

    def peers(self) -> list[dict[str, Any]]:
        """Connected peers with addresses, direction and score (safe from any thread)."""
        if self.host is None:
            return []
        result = []
        for peer_id, conns in list(self.host.get_network().get_connections_map().items()):
            name = peer_id.to_base58()
            result.append({
                "peer_id": name,
                "addrs": [str(a) for a in addrs_of(self.host, peer_id)][:4],
                "direction": str(getattr(conns[0], "direction", "unknown")).split(".")[-1].lower()
                if conns else "unknown",
                "bootstrap": name in self._bootstrap_ids,
                "score": round(self.scores.score(name), 3),
            })
        return sorted(result, key=lambda p: p["peer_id"])

    def snapshot(self) -> dict[str, Any]:
        return {
            "peer_id": self.peer_id,
            "listen_addrs": [f"{a}" if "/p2p/" in a else f"{a}/p2p/{self.peer_id}"
                             for a in self._listen_addrs],
            "topics": self.topics(),
            "peers": len(self.peers()),
            "reachable": self.reachability.state,
            "reachable_basis": self.reachability.basis,
            "dropped": dict(self.validator.dropped),
            "accepted": self.validator.accepted,
            "published": self.published,
        }


def _tcp_first(addrs: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses with TCP ones first (what every peer, js-libp2p too, can dial)."""
    return tuple(sorted(dict.fromkeys(addrs), key=lambda a: "/tcp/" not in a))


def _decode_trusted(data: bytes, max_bytes: int) -> Envelope:
    """Decode a message that passed the topic validator (signature checked again, cheaply)."""
    from oarn_tui.p2p.messages import decode_message

    return decode_message(data, max_bytes)


async def _close_muxed(muxed_conn: Any) -> None:
    """Close one muxed connection and its socket unless already closed (errors are logged)."""
    if getattr(muxed_conn, "is_closed", False):
        return
    try:
        await muxed_conn.close()
    except Exception as error:  # the peer may have gone already
        log.debug("closing a connection failed: %s", error)


def _spawn_callback(callback: GossipCallback, envelope: Envelope) -> None:
    task = asyncio.get_running_loop().create_task(callback(envelope))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Task[None]] = set()
