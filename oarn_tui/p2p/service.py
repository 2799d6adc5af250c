"""`P2PService`: the p2p node inside the runtime (name "p2p", depends on "wallet").

Identity and account binding come from the unlocked wallet (the `wallet=` face it is handed).
Without one the service still runs with an ephemeral key and reports itself degraded (its gossip
carries no account binding, so peers that require bindings ignore it). Peers flow into
`runtime.peers` (the `PeerBook`, persisted in the state database) from the node's connection
events as libp2p reports them, with a `peer.connected` / `peer.disconnected` event each; the
book's persisted peers are what the node re-dials at the next start. When it is handed the
`storage=` face, bitswap serves its blockstore, the exchange becomes its fetcher
(`set_fetcher`), and pinned roots are provided in the DHT (Kubo's "pinned" strategy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.core.service import ServiceBase, ServiceHost
from oarn_tui.p2p.connections import PeerChange
from oarn_tui.p2p.host import generate_identity
from oarn_tui.p2p.messages import PROTOCOL_STATUS, AccountBinding
from oarn_tui.p2p.node import NodeOptions, P2PNode, PrivacyOptions

if TYPE_CHECKING:
    from oarn_tui.storage.face import StorageFace
    from oarn_tui.wallet.face import WalletFace

log = logging.getLogger("oarn.p2p.service")
REPROVIDE_INTERVAL_S = 60.0
REDIAL_AT_START = 100
"""How many of the peer book's most recently seen peers the node re-dials at start."""


def node_options(config: Any, bootstrap: list[str] | None = None,
                 known_peers: Iterable[tuple[str, Sequence[str]]] = ()) -> NodeOptions:
    """NodeOptions from a NodeConfig's `[network]` and `[privacy]` sections, with the peers
    to re-dial (the peer book's `known_addresses()`)."""
    network, privacy = config.network, config.privacy
    return NodeOptions(
        listen_host=network.listen_host,
        listen_port=network.listen_port,
        enable_quic=network.enable_quic,
        max_peers=network.max_peers,
        bootstrap=list(network.discovery.manual_nodes) + list(bootstrap or []),
        known_peers=tuple((peer_id, tuple(addrs)) for peer_id, addrs in known_peers),
        enable_dht=network.discovery.dht,
        mdns=network.discovery.mdns,
        privacy=PrivacyOptions(
            padding_enabled=privacy.padding_enabled,
            padding_bucket_bytes=privacy.padding_bucket_bytes,
            min_delay_ms=privacy.min_delay_ms,
            max_delay_ms=privacy.max_delay_ms,
            rotate_peers=privacy.rotate_peers,
            rotate_interval_s=privacy.rotate_interval_s,
        ),
    )


class P2PService(ServiceBase):
    """Runs a `P2PNode` for the runtime; see the module docstring."""

    name = "p2p"
    depends_on: tuple[str, ...] = ("wallet", "storage")

    def __init__(self, bootstrap: list[str] | None = None,
                 reprovide_interval_s: float = REPROVIDE_INTERVAL_S, *,
                 wallet: WalletFace | None = None, storage: StorageFace | None = None) -> None:
        """`wallet` gives the identity and binding, `storage` the blocks bitswap serves."""
        self.wallet = wallet
        self.storage = storage
        self.bootstrap = list(bootstrap or [])
        self.reprovide_interval_s = reprovide_interval_s
        self.node: P2PNode | None = None
        self._state = "stopped"
        self._reason = "not started"
        self._runtime: Any = None
        self._reprovide_task: asyncio.Task[None] | None = None
        self._connected: dict[str, PeerInfo] = {}
        """Peers this service reported connected to the book (marked gone on stop)."""
        self.exchange: Any = None
        self.provided: set[str] = set()

    async def start(self, runtime: ServiceHost) -> None:
        self._runtime = runtime
        config = runtime.config
        if config.network.mode == "local":
            self._state, self._reason = "stopped", "network.mode = local (no network)"
            return
        key_pair, binding, reason = self._identity(runtime)
        blocks = self._blockstore(runtime)
        adapter = None
        if blocks is not None:
            from oarn_tui.storage.bitswap import VerifiedBlockStore

            adapter = VerifiedBlockStore(blocks)
        book = getattr(runtime, "peers", None)
        known = book.known_addresses(REDIAL_AT_START) if book is not None else []
        self.node = P2PNode(key_pair, node_options(config, self.bootstrap, known),
                            binding=binding, block_store=adapter)
        self.node.add_peer_listener(self._peer_changed)  # before any dial: bootstrap included
        try:
            await self.node.start()
        except Exception as error:  # a port in use or similar: say so, keep the runtime up
            self._state, self._reason = "failed", f"libp2p host did not start: {error}"
            self.node = None
            return
        self._state, self._reason = ("degraded", reason) if reason else ("running", "")
        self.node.set_request_handler(PROTOCOL_STATUS, self._answer_status)
        if blocks is not None and adapter is not None:
            from oarn_tui.storage.exchange import BitswapExchange

            self.exchange = BitswapExchange(self.node, blocks, adapter)
            if self.storage is not None:
                self.storage.set_fetcher(self.exchange)
            self._reprovide_task = asyncio.create_task(self._reprovide(blocks))
        events = getattr(runtime, "events", None)
        if events is not None:
            events.publish("p2p.started", peer_id=self.node.peer_id,
                           listen_addrs=self.node.snapshot()["listen_addrs"])
        commands = getattr(runtime, "commands", None)
        if commands is not None:
            commands.register("p2p.peers", self._peers_command)

    def _identity(self, runtime: Any) -> tuple[Any, AccountBinding | None, str]:
        unlocked = self.wallet.unlocked if self.wallet is not None else None
        if unlocked is None:
            return (generate_identity(), None,
                    "no unlocked wallet: running with an ephemeral peer key and no account "
                    "binding")
        signature = bytes(unlocked.binding_signature)
        return unlocked.key_pair, AccountBinding(unlocked.address, "0x" + signature.hex()), ""

    def _blockstore(self, runtime: Any) -> Any:
        if self.storage is None:
            return None
        try:
            return self.storage.blocks
        except RuntimeError:  # the storage service did not start
            return None

    async def _reprovide(self, blocks: Any) -> None:
        """Provide every pinned root in the DHT now and every interval (new pins included)."""
        while True:
            try:
                pins = await asyncio.to_thread(blocks.pins)
                for cid in sorted({pin.cid for pin in pins} - self.provided):
                    from oarn_tui.storage.cid import CID

                    if await self.exchange.provide(CID.parse(cid)):
                        self.provided.add(cid)
            except Exception as error:  # the DHT may have no peers yet; retry next round
                log.debug("reprovide failed: %s", error)
            await asyncio.sleep(self.reprovide_interval_s)

    def _peer_changed(self, change: PeerChange) -> None:
        """A connection event from the node (asyncio side): into the book, out as an event."""
        book = getattr(self._runtime, "peers", None)
        events = getattr(self._runtime, "events", None)
        if change.connected:
            known = self._connected.get(change.peer_id)
            if change.refreshed and known is None:
                return  # a late refresh for a peer already gone
            peer = PeerInfo(peer_id=change.peer_id,
                            address=change.address or (known.address if known else ""),
                            score=change.score)
            self._connected[change.peer_id] = peer
            if book is not None:
                book.upsert(peer, addrs=change.addrs)
            if events is not None and known is None:
                events.publish("peer.connected", peer_id=peer.peer_id, address=peer.address)
        elif self._connected.pop(change.peer_id, None) is not None:
            self._gone(change.peer_id, book, events)

    @staticmethod
    def _gone(peer_id: str, book: Any, events: Any) -> None:
        if book is not None:
            book.disconnected(peer_id)
        if events is not None:
            events.publish("peer.disconnected", peer_id=peer_id)

    async def _answer_status(self, envelope: Any) -> dict[str, Any]:
        """`/oarn/status/1`: what a peer may know about this node (no secrets)."""
        snapshot = self.node.snapshot() if self.node is not None else {}
        return {"status": {key: snapshot.get(key) for key in
                           ("peer_id", "listen_addrs", "topics", "peers")}}

    async def _peers_command(self, **_params: Any) -> dict[str, Any]:
        return {"peers": self.node.peers() if self.node else [],
                "known": self.node.known_peers.snapshot() if self.node else []}

    async def stop(self) -> None:
        task = self._reprovide_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reprovide_task = None
        if self.exchange is not None:
            if self.storage is not None:
                self.storage.set_fetcher(None)
            self.exchange = None
        if self.node is not None:
            await self.node.stop()
            self.node = None
        # connections closed with the host; a peer whose event did not arrive is gone anyway
        for peer_id in list(self._connected):
            del self._connected[peer_id]
            self._gone(peer_id, getattr(self._runtime, "peers", None),
                       getattr(self._runtime, "events", None))
        self._state, self._reason = "stopped", "stopped"

    def status(self) -> dict[str, Any]:
        if self.node is not None and not self.node.running and self._state != "failed":
            self._state, self._reason = "failed", "the p2p thread stopped unexpectedly"
        snapshot = self.node.snapshot() if self.node is not None else {}
        return {
            "state": self._state,
            "reason": self._reason,
            "peer_id": snapshot.get("peer_id"),
            "listen_addrs": snapshot.get("listen_addrs", []),
            "topics": snapshot.get("topics", []),
            "peers": snapshot.get("peers", 0),
            "network": {
                "state": self._network_state(snapshot),
                "reachable": snapshot.get("reachable", "unknown"),
                "reachable_basis": snapshot.get("reachable_basis", ""),
            },
        }

    def _network_state(self, snapshot: dict[str, Any]) -> str:
        if self.node is None:
            return self._state
        return "connected" if snapshot.get("peers") else "no peers"

    def status_fields(self) -> Mapping[str, Any]:
        """`status --json`'s peer_id (while running), listen_addrs, topics and
        network {state, reachable, reachable_basis}."""
        status = self.status()
        fields: dict[str, Any] = {"listen_addrs": status["listen_addrs"],
                                  "topics": status["topics"], "network": status["network"]}
        if status["peer_id"]:
            fields["peer_id"] = status["peer_id"]
        return fields
