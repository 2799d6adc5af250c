"""P2PNode in-process on the test's asyncio loop: the trio bridge, publish backpressure, padding,
direct requests, peer rotation, the Noise-only host, and the runtime service."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from oarn_tui.config import load_config
from oarn_tui.core.peerbook import PeerBook
from oarn_tui.p2p.announcer import Announcer
from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import PROTOCOL_TASK_INFO, TOPIC_TASKS, Envelope, make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode, PrivacyOptions
from oarn_tui.p2p.service import P2PService
from oarn_tui.wallet.signer import LocalSigner

pytestmark = pytest.mark.timeout(120)


def bound_node(tmp_path: Path, name: str, **options: object) -> P2PNode:
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    opts = NodeOptions(**options)  # type: ignore[arg-type]
    return P2PNode(key_pair, opts, binding=binding)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[P2PNode, P2PNode]]:
    first = bound_node(tmp_path, "a", publish_rate_per_topic=200,
                       privacy=PrivacyOptions(padding_enabled=True, padding_bucket_bytes=512,
                                              min_delay_ms=1, max_delay_ms=3))
    await first.start()
    second = bound_node(tmp_path, "b", bootstrap=[first.snapshot()["listen_addrs"][0]],
                        peer_rate_per_s=1000.0, peer_rate_burst=2000)
    try:
        await second.start()
        yield first, second
    finally:
        await second.stop()
        await first.stop()


async def wait_for(predicate, timeout_s: float = 20.0) -> bool:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout_s)
    except TimeoutError:
        return False
    return True


async def test_gossip_arrives_on_the_asyncio_thread_and_nothing_is_dropped_under_load(
        pair: tuple[P2PNode, P2PNode]) -> None:
    first, second = pair
    received: list[tuple[Envelope, str]] = []

    async def on_tasks(envelope: Envelope) -> None:
        received.append((envelope, threading.current_thread().name))

    second.subscribe(TOPIC_TASKS, on_tasks)
    assert await wait_for(lambda: first.peer_id in {p["peer_id"] for p in second.peers()})

    async def probe() -> None:
        while not received:
            await first.publish(TOPIC_TASKS, {"tasks": [{"task_id": "probe"}]})
            await asyncio.sleep(0.3)

    await asyncio.wait_for(probe(), 20)
    received.clear()
    # 100 announcements through a 32-slot queue: publish waits, none is lost
    for i in range(100):
        await first.publish(TOPIC_TASKS, {"tasks": [{"task_id": f"load-{i}"}]})
    ok = await wait_for(lambda: len({e.body["tasks"][0]["task_id"] for e, _ in received
                                       if e.body["tasks"][0]["task_id"] != "probe"}) == 100)
    assert ok
    assert {thread for _, thread in received} == {threading.main_thread().name}
    assert all(e.sender == first.peer_id and e.binding == first.binding for e, _ in received)


async def test_announcer_batches_many_tasks_into_few_messages(
        pair: tuple[P2PNode, P2PNode]) -> None:
    first, second = pair
    received: list[Envelope] = []

    async def on_tasks(envelope: Envelope) -> None:
        received.append(envelope)

    second.subscribe(TOPIC_TASKS, on_tasks)
    announcer = Announcer(first, TOPIC_TASKS, window_s=0.05)

    async def probe() -> None:  # until gossipsub subscriptions are exchanged
        while not received:
            await announcer.announce({"task_id": "probe"})
            await asyncio.sleep(0.3)

    await asyncio.wait_for(probe(), 20)
    received.clear()
    batches_before = announcer.batches
    await asyncio.gather(*(announcer.announce({"task_id": f"b-{i}", "reward": "1"})
                           for i in range(150)))
    await announcer.close()
    ok = await wait_for(lambda: sum(len(e.body["tasks"]) for e in received) >= 150)
    assert ok
    ids = [t["task_id"] for e in received for t in e.body["tasks"] if t["task_id"] != "probe"]
    assert sorted(ids) == sorted(f"b-{i}" for i in range(150))
    assert announcer.batches - batches_before == 3  # 64 + 64 + 22 per message
    assert len(received) <= 4


async def test_quic_when_enabled_carries_gossip_and_requests(tmp_path: Path) -> None:
    nodes = [bound_node(tmp_path, f"q{i}", enable_quic=True, enable_dht=False) for i in range(2)]
    received: list[Envelope] = []

    async def on_tasks(envelope: Envelope) -> None:
        received.append(envelope)

    async def task_info(envelope: Envelope) -> dict[str, object]:
        return {"task": {"over": "quic"}}

    nodes[1].subscribe(TOPIC_TASKS, on_tasks)
    nodes[1].set_request_handler(PROTOCOL_TASK_INFO, task_info)
    try:
        for node in nodes:
            await node.start()
        addrs = nodes[1].snapshot()["listen_addrs"]
        assert "/tcp/" in addrs[0] and "/udp/" in addrs[1] and addrs[1].count("/quic-v1") == 1
        await nodes[0].connect(addrs[1])  # the QUIC address only
        connection = nodes[0].host.get_network().get_connections_map()
        assert [type(c.muxed_conn).__name__ for conns in connection.values() for c in conns] \
            == ["QUICConnection"]
        reply = await nodes[0].request(nodes[1].peer_id, PROTOCOL_TASK_INFO, "task-info",
                                       {"task": {"task_id": "q"}})
        assert reply.body == {"task": {"over": "quic"}}

        async def gossip() -> None:
            while not received:
                await nodes[0].publish(TOPIC_TASKS, {"tasks": [{"task_id": "quic"}]})
                await asyncio.sleep(0.3)

        await asyncio.wait_for(gossip(), 20)
        assert received[0].sender == nodes[0].peer_id
    finally:
        for node in nodes:
            await node.stop()


async def test_connection_limit_refuses_peers_beyond_max_peers(tmp_path: Path) -> None:
    hub = bound_node(tmp_path, "hub", max_peers=1, enable_dht=False)
    await hub.start()
    others = [bound_node(tmp_path, f"o{i}", enable_dht=False) for i in range(2)]
    try:
        for node in others:
            await node.start()
        address = hub.snapshot()["listen_addrs"][0]
        await others[0].connect(address)
        with pytest.raises(Exception, match="unable to connect"):
            await others[1].connect(address)
        assert [p["peer_id"] for p in hub.peers()] == [others[0].peer_id]
    finally:
        for node in [*others, hub]:
            await node.stop()


async def test_direct_request_gets_a_signed_answer(pair: tuple[P2PNode, P2PNode]) -> None:
    first, second = pair

    async def task_info(envelope: Envelope) -> dict[str, object]:
        return {"task": {"task_id": envelope.body["task"]["task_id"], "state": "open"}}

    second.set_request_handler(PROTOCOL_TASK_INFO, task_info)
    await asyncio.sleep(0.2)  # the handler is installed on the trio side
    reply = await first.request(second.peer_id, PROTOCOL_TASK_INFO, "task-info",
                                {"task": {"task_id": "t-7"}})
    assert reply.sender == second.peer_id
    assert reply.body == {"task": {"task_id": "t-7", "state": "open"}}


async def test_rotation_drops_non_bootstrap_peers_only(tmp_path: Path,
                                                       pair: tuple[P2PNode, P2PNode]) -> None:
    first, second = pair
    third = bound_node(tmp_path, "c")
    await third.start()
    try:
        await second.connect(third.snapshot()["listen_addrs"][0])
        assert await wait_for(lambda: len(second.peers()) == 2)
        dropped = await second.run_trio(second.rotate_once)
        assert dropped == [third.peer_id]  # the bootstrap peer (first) is kept
        assert [p["peer_id"] for p in second.peers()] == [first.peer_id]
        assert second.known_peers.peers[third.peer_id].failures == 1  # backs off before re-dial
    finally:
        await third.stop()


async def test_a_restarted_node_redials_its_known_peers_without_bootstrap(
        tmp_path: Path, pair: tuple[P2PNode, P2PNode]) -> None:
    """The runtime seeds `known_peers` from its peer book (tests/p2p/test_p2p_peer_events.py);
    here from what the first run of the node learnt."""
    first, second = pair
    await second.stop()
    seeds = tuple((p.peer_id, tuple(p.addrs)) for p in second.known_peers.peers.values())
    assert [peer for peer, _ in seeds] == [first.peer_id]
    again = P2PNode(second.key_pair, NodeOptions(known_peers=seeds), binding=second.binding)
    await again.start()
    try:
        assert again.options.bootstrap == []
        assert await wait_for(lambda: [p["peer_id"] for p in again.peers()] == [first.peer_id])
    finally:
        await again.stop()


def _dial_with_plaintext_only(target: str) -> str:
    import multiaddr
    from libp2p import new_host
    from libp2p.custom_types import TProtocol
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

    async def dial() -> str:
        key_pair = generate_identity()
        host = new_host(key_pair=key_pair,
                        sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)})
        listen = multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")
        async with host.run([listen]):
            try:
                with trio.fail_after(15):
                    await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(target)))
            except Exception as error:
                return f"refused: {type(error).__name__}"
            return "connected"

    return trio.run(dial)


async def test_a_plaintext_only_dialer_is_refused(tmp_path: Path) -> None:
    node = bound_node(tmp_path, "noise")
    await node.start()
    try:
        outcome = await asyncio.to_thread(_dial_with_plaintext_only,
                                          node.snapshot()["listen_addrs"][0])
        assert outcome.startswith("refused"), outcome
        assert node.peers() == []
    finally:
        await node.stop()


async def test_service_without_a_wallet_runs_degraded_with_an_ephemeral_key(
        tmp_path: Path) -> None:
    config = load_config(tmp_path, env={"OARN_NETWORK_MODE": "standard",
                                        "OARN_NETWORK_LISTEN_HOST": "127.0.0.1"})
    runtime = SimpleNamespace(config=config, home=tmp_path, services={}, peers=PeerBook())
    service = P2PService()
    await service.start(runtime)
    try:
        status = service.status()
        assert status["state"] == "degraded" and "ephemeral" in status["reason"]
        assert status["listen_addrs"][0].startswith("/ip4/127.0.0.1/tcp/")
        assert status["topics"] == ["/oarn/capabilities/1", "/oarn/results/1", "/oarn/tasks/1"]
        assert status["network"] == {"state": "no peers", "reachable": "not reachable",
                                     "reachable_basis": "listening on loopback addresses only"}
        assert service.status_fields()["peer_id"] == status["peer_id"]
    finally:
        await service.stop()
    assert service.status()["state"] == "stopped"


async def test_service_in_local_mode_stays_off(tmp_path: Path) -> None:
    runtime = SimpleNamespace(config=load_config(tmp_path, env={}), home=tmp_path, services={})
    service = P2PService()
    await service.start(runtime)
    assert service.status()["state"] == "stopped"
    assert "local" in service.status()["reason"]


async def test_service_reports_failed_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = load_config(tmp_path, env={"OARN_NETWORK_MODE": "standard",
                                            "OARN_NETWORK_LISTEN_HOST": "127.0.0.1",
                                            "OARN_NETWORK_LISTEN_PORT": str(port)})
        service = P2PService()
        await service.start(SimpleNamespace(config=config, home=tmp_path, services={}))
        status = service.status()
        assert status["state"] == "failed"
        assert status["reason"].startswith("libp2p host did not start: could not listen")
        await service.stop()
