"""The node's own bitswap engine (1.2.0, 1.1.0 and 1.0.0), as Kubo and Helia speak it.

Why not libp2p's `BitswapClient`: it asks one block at a time through WANT-HAVE sessions, so a
pull is bound by round trips (~16 MiB/s). This engine runs on the p2p trio thread over py-libp2p
streams and speaks the wire format of the bitswap spec (length-prefixed protobuf `Message`,
libp2p's generated `bitswap_pb2`):

- serving: WANT-HAVE gets HAVE (or DONT_HAVE when asked), WANT-BLOCK gets the block (or
  DONT_HAVE); CANCEL drops a queued answer. Any connected peer is served. Answers go out on a
  stream this node opens to the peer (Kubo and Helia read only the streams they accept), in
  messages of up to `SEND_BATCH_BYTES`; blocks are read from disk in a worker thread.
- fetching (`fetch_many`): WANT-BLOCK with send-dont-have to every given peer, a window of
  `window` blocks outstanding split among the peers, taken from one shared queue (a faster peer
  takes more); once the queue is empty an idle peer re-asks a block that has been outstanding
  elsewhere for 4 typical round trips (at least `STEAL_AFTER_S`): work stealing, the first copy
  wins and the others get CANCEL. Blocks
  are hashed, judged and written in a worker thread (`Blockstore.put_many`), never on the
  network thread; a bounded channel between them bounds memory (backpressure reaches the peer
  through the stream's flow control).
- judging: a block that hashes to nothing asked for is a bad block for its sender
  (`VerifiedBlockStore.judge`, which lowers the peer's score); banned peers are dropped.

Serving and fetching stay in one module (~600 lines) because they share each peer's `PeerLink`
(its outgoing stream, the answer format it asked with, its cancels) on the trio thread; the wire
format is `bitswap_wire.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import INotifee
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.peer.id import ID

from oarn_tui.storage.bitswap_wire import (
    PROTOCOL_V100,
    PROTOCOL_V120,
    PROTOCOLS,
    MessageReader,
    cid_from_prefix,
    cid_prefix,
    encode_message,
)
from oarn_tui.storage.cid import CID, DAG_PB, CIDError

log = logging.getLogger("oarn.storage.engine")

SEND_BATCH_BYTES = 1 << 20  # blocks per message we send
DEFAULT_WINDOW = 32  # WANT-BLOCKs outstanding (8 MiB of 256 KiB blocks), split among peers
STEAL_AFTER_S = 0.5
SERVE_QUEUE = 4096  # queued answers per peer; more is a flood and is dropped
SINK_QUEUE = 64  # received blocks waiting for the hash/store thread
SINK_BATCH = 16
MAX_CANCELLED = 8192

WANT_BLOCK = Message.Wantlist.WantType.Block
WANT_HAVE = Message.Wantlist.WantType.Have
HAVE = Message.BlockPresenceType.Have
DONT_HAVE = Message.BlockPresenceType.DontHave


class EngineError(RuntimeError):
    """A fetch that could not complete (every peer lacks a block, or no progress in time)."""


@dataclass
class Want:
    """One block this node is fetching."""

    cid: CID
    asked: dict[str, float] = field(default_factory=dict)  # peer -> when asked
    dont_have: set[str] = field(default_factory=set)
    on_block: Callable[[int], None] | None = None
    sources: dict[str, int] | None = None  # peer -> blocks it served (the caller's tally)
    left: list[int] | None = None  # the calling fetch's count of wants not yet done
    result: bytes | int | None = None  # dag-pb bytes, or a raw leaf's size
    source: str = ""

    @property
    def done(self) -> bool:
        return self.result is not None


@dataclass
class PeerLink:
    """Our side of one peer: the stream we send on and the answers queued for it."""

    peer_id: ID
    name: str
    lock: trio.Lock = field(default_factory=trio.Lock)
    stream: Any = None
    protocol: str = PROTOCOL_V120  # what the peer asked us with (the answer format)
    answers: Any = None  # trio.MemorySendChannel of (want type, CID, send dont-have)
    cancelled: OrderedDict[str, None] = field(default_factory=OrderedDict)


class _ConnectionWatch(INotifee):
    """Connection events for the engine: a banned peer that connects again (it dials us, or
    a bootstrap redial) is dropped; a peer whose last connection closed is forgotten."""

    def __init__(self, engine: BitswapEngine) -> None:
        self.engine = engine

    async def opened_stream(self, network: Any, stream: Any) -> None:
        """Streams are handled by protocol, not here."""

    async def closed_stream(self, network: Any, stream: Any) -> None:
        """Streams are handled by protocol, not here."""

    async def connected(self, network: Any, conn: Any) -> None:
        peer_id = getattr(getattr(conn, "muxed_conn", None), "peer_id", None)
        engine = self.engine
        if peer_id is not None and engine.adapter.banned(peer_id.to_base58()) and \
                engine._nursery is not None:
            engine._nursery.start_soon(engine._drop_banned, engine._link(peer_id))

    async def disconnected(self, network: Any, conn: Any) -> None:
        peer_id = getattr(getattr(conn, "muxed_conn", None), "peer_id", None)
        if peer_id is None:
            return
        try:
            remaining = network.get_connections(peer_id)
        except Exception:  # no such peer any more
            remaining = None
        if not remaining:
            link = self.engine._peers.pop(peer_id.to_base58(), None)
            if link is not None:
                link.stream = None
            self.engine._notify()

    async def listen(self, network: Any, multiaddr: Any) -> None:
        """Not needed."""

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        """Not needed."""


class BitswapEngine:
    """Bitswap over `host`, serving from and fetching into `adapter` (a VerifiedBlockStore)."""

    def __init__(self, host: Any, adapter: Any) -> None:
        self.host = host
        self.adapter = adapter
        self.store = adapter.store
        self._nursery: trio.Nursery | None = None
        self._peers: dict[str, PeerLink] = {}
        self._wants: dict[str, Want] = {}
        self._changed = trio.Event()
        self._sink_send: Any = None
        self._last_arrival = 0.0
        self._watch_conns: _ConnectionWatch | None = None
        self.latency_s = 0.05  # moving average of want -> block (the stealing threshold)
        self.blocks_received = 0
        self.duplicates = 0
        self.sent_blocks = 0

    # -- lifecycle (what P2PNode calls) ------------------------------------------------------

    def set_nursery(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    async def start(self) -> None:
        assert self._nursery is not None, "set_nursery first"
        for protocol in PROTOCOLS:
            self.host.set_stream_handler(protocol, self._handle_stream)
        self._sink_send, receive = trio.open_memory_channel(SINK_QUEUE)
        self._nursery.start_soon(self._sink, receive)
        self._watch_conns = _ConnectionWatch(self)
        try:
            self.host.get_network().register_notifee(self._watch_conns)
        except Exception as error:  # banned peers are then dropped at their next message
            log.debug("no connection notifications for bitswap: %s", error)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.host.get_network().remove_notifee(self._watch_conns)
        for protocol in PROTOCOLS:
            with contextlib.suppress(Exception):  # already gone with the host
                self.host.remove_stream_handler(protocol)
        for link in list(self._peers.values()):
            if link.stream is not None:
                with trio.move_on_after(0.5):
                    with contextlib.suppress(Exception):
                        await link.stream.close()

    def stats(self) -> dict[str, int]:
        return {"blocks_received": self.blocks_received, "duplicates": self.duplicates,
                "sent_blocks": self.sent_blocks, "wants": len(self._wants)}

    # -- peers and streams -------------------------------------------------------------------

    def connected(self) -> list[str]:
        return [peer.to_base58() for peer in self.host.get_connected_peers()]

    def _link(self, peer_id: ID) -> PeerLink:
        name = peer_id.to_base58()
        link = self._peers.get(name)
        if link is None:
            link = self._peers[name] = PeerLink(peer_id, name)
        return link

    async def _handle_stream(self, stream: Any) -> None:
        """A peer's stream to us: read its messages until it closes."""
        peer_id = stream.muxed_conn.peer_id
        link = self._link(peer_id)
        link.protocol = str(stream.get_protocol() or PROTOCOL_V120)
        await self._read_loop(stream, link)

    async def _read_loop(self, stream: Any, link: PeerLink, ours: bool = False) -> None:
        """Read messages from a stream until it ends; a stream the peer opened is closed then
        (ours stays open for writing: a peer may close its write side at once)."""
        reader = MessageReader(stream)
        while True:
            if self.adapter.banned(link.name):
                await self._drop_banned(link)
                return
            try:
                msg = await reader.next()
            except Exception as error:  # a malformed message: stop reading this stream
                log.info("bitswap stream from %s: %s", link.name, error)
                msg = None
            if msg is None:
                if ours:
                    return
                with trio.move_on_after(0.5):
                    with contextlib.suppress(Exception):
                        await stream.close()
                return
            await self._on_message(link, msg)

    async def _send(self, link: PeerLink, msg: Message) -> bool:
        """Write one message on our stream to the peer (opened on first use); False if the
        peer cannot be reached."""
        data = encode_message(msg)
        async with link.lock:
            for _attempt in range(2):
                if link.stream is None:
                    try:
                        with trio.fail_after(10):
                            link.stream = await self.host.new_stream(link.peer_id,
                                                                     list(PROTOCOLS))
                    except Exception as error:
                        log.debug("no bitswap stream to %s: %s", link.name, error)
                        return False
                    if self._nursery is not None:  # libp2p's client answers on our stream
                        self._nursery.start_soon(self._read_loop, link.stream, link, True)
                try:
                    await link.stream.write(data)
                    return True
                except Exception as error:
                    log.debug("bitswap write to %s failed: %s", link.name, error)
                    link.stream = None
        return False

    async def _drop_banned(self, link: PeerLink) -> None:
        log.warning("disconnecting %s: banned for bad blocks", link.name)
        with trio.move_on_after(2):
            try:
                await self.host.disconnect(link.peer_id)
            except Exception as error:  # already gone
                log.debug("disconnecting %s: %s", link.name, error)
        self._notify()

    # -- incoming messages -------------------------------------------------------------------

    async def _on_message(self, link: PeerLink, msg: Message) -> None:
        if msg.HasField("wantlist") and msg.wantlist.entries:
            self._queue_answers(link, msg.wantlist.entries)
        received: list[tuple[bytes | None, bytes]] = [(None, data) for data in msg.blocks]
        received += [(block.prefix, block.data) for block in msg.payload]
        if received:
            await self._sink_send.send((link.name, received))
        if msg.blockPresences:
            changed = False
            for presence in msg.blockPresences:
                if presence.type != DONT_HAVE:
                    continue
                try:
                    key = CID.from_bytes(presence.cid).key
                except CIDError:
                    continue
                want = self._wants.get(key)
                if want is not None:
                    want.dont_have.add(link.name)
                    changed = True
            if changed:
                self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- serving -----------------------------------------------------------------------------

    def _queue_answers(self, link: PeerLink, entries: Iterable[Any]) -> None:
        if link.answers is None:
            send, receive = trio.open_memory_channel(SERVE_QUEUE)
            link.answers = send
            assert self._nursery is not None
            self._nursery.start_soon(self._serve_loop, link, receive)
        dropped = 0
        for entry in entries:
            try:
                cid = CID.from_bytes(entry.block)
            except CIDError:
                continue
            if entry.cancel:
                link.cancelled[cid.key] = None
                while len(link.cancelled) > MAX_CANCELLED:
                    link.cancelled.popitem(last=False)
                continue
            link.cancelled.pop(cid.key, None)
            try:
                link.answers.send_nowait((entry.wantType, cid, entry.sendDontHave))
            except trio.WouldBlock:
                dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # its answer loop ended (peer gone); the next message starts one
        if dropped:
            log.info("peer %s wants more than %d blocks at once: %d wants dropped",
                     link.name, SERVE_QUEUE, dropped)

    async def _serve_loop(self, link: PeerLink, receive: Any) -> None:
        """Answer a peer's wants in order, a batch per disk round trip and per message."""
        try:
            await self._answer(link, receive)
        finally:
            link.answers = None

    async def _answer(self, link: PeerLink, receive: Any) -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < 64:
                    try:
                        batch.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                batch = [item for item in batch if item[1].key not in link.cancelled]
                if not batch:
                    continue
                answers = await trio.to_thread.run_sync(self._lookup, batch)
                if not await self._send_answers(link, answers):
                    return

    def _lookup(self, batch: list[tuple[int, CID, bool]]) -> list[tuple[CID, int, bytes | None]]:
        """(cid, presence, block) per want, read from the store (worker thread)."""
        out: list[tuple[CID, int, bytes | None]] = []
        for want_type, cid, send_dont_have in batch:
            if want_type == WANT_HAVE:
                if self.store.has(cid):
                    out.append((cid, HAVE, None))
                elif send_dont_have:
                    out.append((cid, DONT_HAVE, None))
                continue
            try:
                data = self.store.get_or_none(cid)
            except Exception:  # corrupt on disk: dropped by the store; we lack it
                data = None
            if data is not None:
                self.adapter.served += 1
                self.adapter.served_bytes += len(data)
                out.append((cid, HAVE, data))
            elif send_dont_have:
                out.append((cid, DONT_HAVE, None))
        return out

    async def _send_answers(self, link: PeerLink, answers: list[tuple[CID, int, bytes | None]]
                            ) -> bool:
        v100 = link.protocol == PROTOCOL_V100
        presences = link.protocol == PROTOCOL_V120
        msg, size = Message(), 0
        for cid, presence, data in answers:
            if data is not None:
                if size and size + len(data) > SEND_BATCH_BYTES:
                    if not await self._send(link, msg):
                        return False
                    msg, size = Message(), 0
                if v100:
                    msg.blocks.append(data)
                else:
                    msg.payload.add(prefix=cid_prefix(cid), data=data)
                size += len(data) + 8
                self.sent_blocks += 1
            elif presences:
                msg.blockPresences.add(cid=cid.to_bytes(), type=presence)
                size += 40
        if size:
            return await self._send(link, msg)
        return True

    # -- fetching ----------------------------------------------------------------------------

    async def _sink(self, receive: Any) -> None:
        """Hash, judge and store received blocks off the network thread."""
        async with receive:
            async for first in receive:
                items = [first]
                while len(items) < SINK_BATCH:
                    try:
                        items.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                wanted = {key: want.cid for key, want in self._wants.items() if not want.done}
                results = await trio.to_thread.run_sync(self._hash_and_store, items, wanted)
                for peer, key, block, size in results:
                    self._deliver(peer, key, block, size)
                self._notify()

    def _hash_and_store(self, items: list[tuple[str, list[tuple[bytes | None, bytes]]]],
                        wanted: dict[str, CID]
                        ) -> list[tuple[str, str | None, bytes | None, int]]:
        """(peer, key or None, dag-pb block, size) for every received block; wanted ones are
        written to the store in one batch (worker thread)."""
        out: list[tuple[str, str | None, bytes | None, int]] = []
        to_store: list[tuple[CID, bytes]] = []
        for peer, blocks in items:
            for prefix, data in blocks:
                cid = CID(0, DAG_PB, hashlib.sha256(data).digest()) if prefix is None \
                    else cid_from_prefix(prefix, data)
                if cid is None:
                    out.append((peer, None, None, 0))
                    continue
                ours = wanted.pop(cid.key, None)
                if ours is not None:
                    to_store.append((ours, data))
                out.append((peer, cid.key, data if (ours or cid).codec == DAG_PB else None,
                            len(data)))
        if to_store:
            self.store.put_many(to_store)
        return out

    def _deliver(self, peer: str, key: str | None, block: bytes | None, size: int) -> None:
        want = self._wants.get(key) if key is not None else None
        if want is None or want.done:
            if key is not None and (want is not None or key in self.adapter._recent):
                self.duplicates += 1  # a stolen want's second copy, or a late one
                return
            self.adapter.judge(peer, key)  # a block nobody asked for: scored down
            link = self._peers.get(peer)
            if link is not None and self.adapter.banned(peer) and self._nursery is not None:
                self._nursery.start_soon(self._drop_banned, link)
            return
        self.blocks_received += 1
        want.source = peer
        self._last_arrival = trio.current_time()
        asked = want.asked.get(peer)
        if asked is not None:
            self.latency_s += 0.1 * (self._last_arrival - asked - self.latency_s)
        want.result = block if want.cid.codec == DAG_PB and block is not None else size
        if want.left is not None:
            want.left[0] -= 1
        if want.sources is not None:
            want.sources[peer] = want.sources.get(peer, 0) + 1
        if want.on_block is not None:
            want.on_block(size)

    async def fetch_many(self, cids: list[CID], peers: list[str], timeout_s: float,
                         window: int = DEFAULT_WINDOW,
                         on_block: Callable[[int], None] | None = None,
                         sources: dict[str, int] | None = None) -> dict[str, bytes | int]:
        """Fetch `cids` (not in the store) from `peers`; return {key: dag-pb bytes | raw size}.

        Raises `EngineError` when every peer lacks a block, or nothing arrives for
        `timeout_s`. `on_block(size)` is called (on this thread) for every block stored;
        `sources` counts the blocks each peer served."""
        wants: dict[str, Want] = {}
        shared: dict[str, Want] = {}  # being fetched by another call: wait for it
        for cid in cids:
            if cid.key in self._wants:
                shared[cid.key] = self._wants[cid.key]
            elif cid.key not in wants:
                wants[cid.key] = Want(cid, on_block=on_block, sources=sources)
        left = [len(wants)]
        for key, want in wants.items():
            want.left = left
            self._wants[key] = want
            self.adapter.expect(want.cid)
        queue: deque[Want] = deque(wants.values())
        alive = {peer for peer in peers if not self.adapter.banned(peer)}
        window = max(4, window // max(1, len(alive)))  # bytes in flight stay bounded
        started = trio.current_time()
        error = ""
        try:
            async with trio.open_nursery() as nursery:
                for peer in alive:
                    nursery.start_soon(self._peer_worker, peer, wants, queue, alive, window)
                error = await self._watch(wants, shared, alive, started, timeout_s, left)
                nursery.cancel_scope.cancel()  # raising here would wrap it in a group
            if error:
                raise EngineError(error)
        finally:
            for key, want in wants.items():
                self._wants.pop(key, None)
                self.adapter.forget(want.cid)
            await self._cancel_outstanding(wants)
        return {key: want.result for key, want in (*wants.items(), *shared.items())
                if want.result is not None}

    async def _watch(self, wants: dict[str, Want], shared: dict[str, Want], alive: set[str],
                     started: float, timeout_s: float, left: list[int]) -> str:
        """Wait until every want is done; or return why not (all peers lack one, timeout).
        A block's arrival costs a counter check; the full scan runs at most every 0.1 s."""
        scanned = -1.0
        while left[0] > 0 or not all(w.done for w in shared.values()):
            if trio.current_time() - scanned < 0.1:
                with trio.move_on_after(0.1):
                    await self._changed.wait()
                continue
            scanned = trio.current_time()
            dead = self._dead(alive)
            missing = [w for w in wants.values()
                       if not w.done and alive <= (w.dont_have | dead)]
            if missing:
                return f"no connected peer has {missing[0].cid}"
            if trio.current_time() - max(started, self._last_arrival) > timeout_s:
                pending = [w for w in (*wants.values(), *shared.values()) if not w.done]
                return (f"no block arrived for {timeout_s:g} s; {len(pending)} still missing "
                        f"(first {pending[0].cid})")
            with trio.move_on_after(0.25):
                await self._changed.wait()
        return ""

    def _dead(self, alive: set[str]) -> set[str]:
        connected = set(self.connected())
        return {peer for peer in alive
                if peer not in connected or self.adapter.banned(peer)}

    async def _cancel_outstanding(self, wants: dict[str, Want]) -> None:
        """CANCEL what peers still hold for us: wants answered elsewhere, or given up."""
        by_peer: dict[str, list[CID]] = {}
        for want in wants.values():
            for peer in want.asked:
                if peer not in want.dont_have and peer != want.source:
                    by_peer.setdefault(peer, []).append(want.cid)
        for peer, cids in by_peer.items():
            link = self._peers.get(peer)
            if link is None or link.stream is None:
                continue
            msg = Message()
            for cid in cids:
                msg.wantlist.entries.add(block=cid.to_bytes(), cancel=True)
            with trio.move_on_after(2) as scope:
                scope.shield = True  # not shield=: libp2p's trio-typing stubs lack it
                await self._send(link, msg)

    async def _peer_worker(self, peer: str, wants: dict[str, Want], queue: deque[Want],
                           alive: set[str], window: int) -> None:
        """Keep `window` WANT-BLOCKs outstanding at `peer` (see the module docstring)."""
        link = self._link(ID.from_base58(peer))
        inflight: dict[str, Want] = {}
        stole_at = -1.0
        while True:
            for key in [k for k, w in inflight.items() if w.done or peer in w.dont_have]:
                inflight.pop(key)
            new: list[Want] = []
            now = trio.current_time()
            while len(inflight) + len(new) < window:
                steal = now - stole_at >= 0.1  # the steal scan walks every want: not per block
                want = self._take(peer, queue, wants, now,
                                  max(STEAL_AFTER_S, 4 * self.latency_s), steal)
                if want is None and steal:
                    stole_at = now
                if want is None:
                    break
                want.asked[peer] = now
                new.append(want)
            if new:
                msg = Message()
                for want in new:
                    msg.wantlist.entries.add(block=want.cid.to_bytes(), priority=1,
                                             wantType=WANT_BLOCK, sendDontHave=True)
                if not await self._send(link, msg):
                    for want in (*inflight.values(), *new):
                        want.dont_have.add(peer)
                    alive.discard(peer)
                    self._notify()
                    return
                for want in new:
                    inflight[want.cid.key] = want
            with trio.move_on_after(0.25):
                await self._changed.wait()

    @staticmethod
    def _take(peer: str, queue: deque[Want], wants: dict[str, Want], now: float,
              steal_after_s: float, steal: bool = True) -> Want | None:
        """The next want for `peer`: from the queue, else one outstanding elsewhere for
        `steal_after_s` (or that every peer asked lacks)."""
        for _ in range(len(queue)):
            want = queue.popleft()
            if want.done:
                continue
            if peer in want.dont_have or peer in want.asked:
                queue.append(want)  # someone else's; look further
                continue
            return want
        if not steal:
            return None
        for want in wants.values():
            if want.done or peer in want.asked or peer in want.dont_have or not want.asked:
                continue
            if set(want.asked) <= want.dont_have or \
                    now - min(want.asked.values()) >= steal_after_s:
                return want
        return None
