"""A peer that stops and comes back with the SAME key (same peer ID) must gossip again.

A stays up in its own process; B publishes, stops, restarts with the same Ed25519 key and
reconnects; both directions of gossip must work for B's new incarnation. A node restarted with the
same wallet is the normal case (every `oarn task submit`, a wallet unlock restarting p2p), and B
is restarted both inside one process (as the runtime does) and as a new process.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, wait_until

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import TOPIC_RESULTS, TOPIC_TASKS, Envelope, make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode
from oarn_tui.wallet.signer import LocalSigner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
GOSSIP_WAIT_S = 20.0


@pytest.fixture
def node_a(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "a")
    try:
        yield node
    finally:
        node.kill()


def received(node: NodeProcess, marker: str) -> bool:
    return any(e["kind"] == "tasks" and e["body"]["tasks"][0]["task_id"] == marker
               for e in node.gossip())


def gossip_arrives(sender: NodeProcess, receiver: NodeProcess, topic: str = TOPIC_TASKS) -> bool:
    """Publish fresh markers (once a second: the mesh may still be forming) until one arrives."""
    markers: list[str] = []
    deadline = time.monotonic() + GOSSIP_WAIT_S
    while time.monotonic() < deadline:
        markers.append(os.urandom(6).hex())
        body = {"tasks": [{"task_id": markers[-1]}]} if topic == TOPIC_TASKS else \
            {"results": [{"task_id": markers[-1]}]}
        sender.call("publish", topic=topic, body=body)
        if wait_until(lambda: any(received(receiver, m) for m in markers)
                      if topic == TOPIC_TASKS else
                      any(e["kind"] == "results" and e["body"]["results"][0]["task_id"] in markers
                          for e in receiver.gossip()), 1.0, 0.1):
            return True
    return False


def start_b(tmp_path: Path, node_a: NodeProcess, seed: str, name: str) -> NodeProcess:
    node = NodeProcess(tmp_path / name, "--seed", seed, "--bootstrap", node_a.addrs[0])
    assert wait_until(lambda: node_a.peer_id in {p["peer_id"] for p in node.call("peers")["peers"]},
                      20), "B did not connect to A"
    return node


def test_restarted_process_with_the_same_key_gossips_both_ways(
        node_a: NodeProcess, tmp_path: Path) -> None:
    seed = os.urandom(32).hex()
    first = start_b(tmp_path, node_a, seed, "b1")
    try:
        assert gossip_arrives(first, node_a), "first incarnation of B never reached A"
        for index in range(20):  # a busy first life: gossipsub seqnos run ahead of the clock
            first.call("publish", topic=TOPIC_RESULTS, body={"results": [{"task_id": index}]})
    finally:
        first.kill()
    second = start_b(tmp_path, node_a, seed, "b2")
    try:
        assert second.peer_id == first.peer_id
        assert gossip_arrives(second, node_a), \
            f"A never received gossip from B's new incarnation; A: {node_a.stderr_tail()}"
        assert gossip_arrives(node_a, second, TOPIC_RESULTS), \
            "B's new incarnation never received A's gossip"
    finally:
        second.kill()


class InProcessB:
    """B as a `P2PNode` in this process, recording the task ids it receives."""

    def __init__(self, key_pair: object, bootstrap: str) -> None:
        binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
        self.node = P2PNode(key_pair, NodeOptions(bootstrap=[bootstrap], enable_dht=False),
                            binding=binding)
        self.received: set[str] = set()
        self.node.subscribe(TOPIC_TASKS, self._on_gossip)

    async def _on_gossip(self, envelope: Envelope) -> None:
        self.received.update(str(item["task_id"]) for item in envelope.body["tasks"])

    async def gossip_reaches(self, node_a: NodeProcess) -> bool:
        """B publishes (once a second, bounded) until A has one of its markers."""
        markers: set[str] = set()
        deadline = time.monotonic() + GOSSIP_WAIT_S
        while time.monotonic() < deadline:
            markers.add(os.urandom(6).hex())
            await self.node.publish(TOPIC_TASKS, {"tasks": [{"task_id": m} for m in markers]})
            await asyncio.sleep(1.0)
            if any(received(node_a, m) for m in markers):
                return True
        return False

    async def hears(self, node_a: NodeProcess) -> bool:
        """A publishes (once a second, bounded) until B has one of its markers."""
        markers: set[str] = set()
        deadline = time.monotonic() + GOSSIP_WAIT_S
        while time.monotonic() < deadline:
            markers.add(os.urandom(6).hex())
            await asyncio.to_thread(node_a.call, "publish", topic=TOPIC_TASKS,
                                    body={"tasks": [{"task_id": m} for m in markers]})
            await asyncio.sleep(1.0)
            if markers & self.received:
                return True
        return False


async def test_node_restarted_in_the_same_process_with_the_same_key_gossips_both_ways(
        node_a: NodeProcess) -> None:
    key_pair = generate_identity(os.urandom(32))
    for incarnation in range(2):
        b = InProcessB(key_pair, node_a.addrs[0])
        await b.node.start()
        try:
            assert await b.gossip_reaches(node_a), f"A never heard B's incarnation {incarnation}"
            assert await b.hears(node_a), f"B's incarnation {incarnation} never heard A"
        finally:
            await b.node.stop()
        # the stopped node closed its connection: A forgets it (no stale stream for the next one)
        def a_forgot_b(peer_id: str = b.node.peer_id) -> bool:
            return peer_id not in {p["peer_id"] for p in node_a.call("peers")["peers"]}

        assert await asyncio.to_thread(wait_until, a_forgot_b, 10), \
            f"A still connected to stopped incarnation {incarnation}: {node_a.call('peers')}"


def test_a_peer_back_on_a_new_address_is_dialled_at_once(
        node_a: NodeProcess, tmp_path: Path) -> None:
    """libp2p refuses for 60 s to dial a peer whose addresses all failed once. A peer that
    restarts with the same key on a new port (a requester between two `task submit`s) must be
    reachable at once when we are handed its new address."""
    seed = os.urandom(32).hex()
    first = NodeProcess(tmp_path / "b1", "--seed", seed)
    old = f"{first.addrs[0]}/p2p/{first.peer_id}"
    first.kill()
    with pytest.raises(RuntimeError):  # all addresses failed: libp2p now blocks this peer ID
        node_a.call("connect", addr=old)
    second = NodeProcess(tmp_path / "b2", "--seed", seed)
    try:
        assert second.peer_id == first.peer_id
        answer = node_a.call("connect", addr=f"{second.addrs[0]}/p2p/{second.peer_id}")
        assert answer["peer"] == second.peer_id
    finally:
        second.kill()
