"""Peers flow from libp2p's connection events into the PeerBook (no polling loop), with a
`peer.connected` / `peer.disconnected` event each; the book is what a restart re-dials.

Two real NodeRuntimes with the p2p service on 127.0.0.1 (ephemeral keys, no wallet)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from oarn_tui.config import load_config
from oarn_tui.core.events import Event
from oarn_tui.p2p.host import generate_identity
from oarn_tui.p2p.node import NodeOptions, P2PNode
from oarn_tui.p2p.service import P2PService
from oarn_tui.runtime.node import NodeRuntime

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ENV = {"OARN_NETWORK_MODE": "standard", "OARN_NETWORK_LISTEN_HOST": "127.0.0.1"}
PROMPT_S = 1.5
"""How soon after `connect()` returns the book and the event must have the peer: under the
2 s the old mirror loop polled at, with room for a loaded machine."""


def runtime_for(home: Path) -> NodeRuntime:
    return NodeRuntime(load_config(home, env=ENV), [P2PService()], log_to_file=False)


def p2p_node(runtime: NodeRuntime) -> P2PNode:
    service = runtime.services["p2p"]
    assert isinstance(service, P2PService) and service.node is not None, service.status()
    return service.node


def peer_events(runtime: NodeRuntime, kind: str, peer_id: str) -> list[Event]:
    return [e for e in runtime.events.recent(500, prefix="peer.")
            if e.kind == kind and e.data.get("peer_id") == peer_id]


async def within(seconds: float, predicate: Callable[[], bool], what: str) -> float:
    """Wait (bounded) until `predicate()`; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_a_connection_reaches_the_peer_book_and_the_events_at_once(
        tmp_path: Path) -> None:
    first, second = runtime_for(tmp_path / "a"), runtime_for(tmp_path / "b")
    await first.start()
    await second.start()
    try:
        node_a, node_b = p2p_node(first), p2p_node(second)
        assert first.peers.connected() == [] and second.peers.connected() == []
        await node_b.connect(node_a.snapshot()["listen_addrs"][0])

        def both_know() -> bool:
            book_b, book_a = second.peers.get(node_a.peer_id), first.peers.get(node_b.peer_id)
            return bool(book_b and book_b.connected and book_a and book_a.connected
                        and peer_events(second, "peer.connected", node_a.peer_id)
                        and peer_events(first, "peer.connected", node_b.peer_id))

        took = await within(PROMPT_S, both_know, "both books and both peer.connected events")
        outbound = peer_events(second, "peer.connected", node_a.peer_id)
        assert len(outbound) == 1, outbound  # one event per peer, not per connection
        assert outbound[0].data["address"].startswith("/ip4/127.0.0.1/tcp/")
        book_b = second.peers.get(node_a.peer_id)
        assert book_b is not None and book_b.address.startswith("/ip4/127.0.0.1/tcp/")
        assert [p["peer_id"] for p in second.status()["peer_list"]] == [node_a.peer_id]
        print(f"peer in both books and events {took * 1000:.0f} ms after connect() returned")

        await second.stop()  # B's host closes its connections: A hears it from libp2p
        await within(10, lambda: bool(peer_events(first, "peer.disconnected", node_b.peer_id)),
                     "peer.disconnected on A")
        gone = first.peers.get(node_b.peer_id)
        assert gone is not None and gone.connected is False
        assert first.peers.connected() == [] and first.status()["peers"] == 0
        left = second.peers.get(node_a.peer_id)  # and B's own book says A is gone
        assert left is not None and left.connected is False
        assert peer_events(second, "peer.disconnected", node_a.peer_id)
    finally:
        await second.stop()
        await first.stop()
        second.close()
        first.close()


async def test_a_restarted_runtime_redials_the_peers_in_its_book(tmp_path: Path) -> None:
    """No known_peers.json any more: the peer book (state database) is what a restart
    re-dials, without a bootstrap list."""
    first = runtime_for(tmp_path / "a")
    await first.start()
    second = runtime_for(tmp_path / "b")
    await second.start()
    try:
        node_a = p2p_node(first)
        await p2p_node(second).connect(node_a.snapshot()["listen_addrs"][0])
        await within(10, lambda: bool(second.peers.connected()), "B connected to A")
        await second.stop()
        second.close()
        assert not (tmp_path / "b" / "known_peers.json").exists()
        assert not list((tmp_path / "b").rglob("known_peers.json"))
        second = runtime_for(tmp_path / "b")
        assert [peer for peer, _ in second.peers.known_addresses()] == [node_a.peer_id]
        await second.start()
        assert p2p_node(second).options.bootstrap == []
        await within(20, lambda: [p.peer_id for p in second.peers.connected()]
                     == [node_a.peer_id], "B re-dialled A from its peer book")
    finally:
        await second.stop()
        await first.stop()
        second.close()
        first.close()


async def test_node_listeners_hear_connect_and_disconnect_once_per_peer(
        tmp_path: Path) -> None:
    from oarn_tui.p2p.connections import PeerChange  # the node's listener API (new)

    first = P2PNode(generate_identity(), NodeOptions(enable_dht=False))
    second = P2PNode(generate_identity(), NodeOptions(enable_dht=False))
    heard: list[PeerChange] = []
    first.add_peer_listener(heard.append)
    await first.start()
    await second.start()
    try:
        target = first.snapshot()["listen_addrs"][0]
        await second.connect(target)
        await second.connect(target)  # a second dial to a connected peer: no second event
        await within(PROMPT_S, lambda: any(c.connected for c in heard), "connected change")
        await second.stop()
        await within(10, lambda: any(not c.connected for c in heard), "disconnected change")
        changes = [(c.peer_id, c.connected) for c in heard if not c.refreshed]
        assert changes == [(second.peer_id, True), (second.peer_id, False)]
        assert heard[0].remote.startswith("/ip4/127.0.0.1/tcp/")
    finally:
        await second.stop()
        await first.stop()
