"""Four real node processes on 127.0.0.1: discovery from one bootstrap address, gossip to every
node, direct requests, and hostile messages that are dropped while the nodes stay up."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, start_network, wait_until

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import TOPIC_RESULTS, TOPIC_TASKS, encode_message, make_binding
from oarn_tui.wallet.signer import LocalSigner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    # a tight per-peer rate (5 msg/s, burst 10) so the flood below is cut deterministically
    nodes = start_network(tmp_path_factory.mktemp("p2pnet"), 4, "--peer-rate", "5")
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def peer_ids(node: NodeProcess) -> set[str]:
    return {p["peer_id"] for p in node.call("peers")["peers"]}


def test_all_nodes_find_each_other_from_one_bootstrap_address(network: list[NodeProcess]) -> None:
    everyone = {n.peer_id for n in network}
    assert wait_until(lambda: all(peer_ids(n) >= everyone - {n.peer_id} for n in network), 60), \
        [sorted(peer_ids(n)) for n in network]
    # nodes 2 and 3 were only given node0's address: they found each other through the DHT
    assert network[3].peer_id in peer_ids(network[2])


def test_gossip_reaches_every_node(network: list[NodeProcess]) -> None:
    wait_until(lambda: all(len(peer_ids(n)) == 3 for n in network), 60)
    marker = os.urandom(8).hex()
    network[3].call("publish", topic=TOPIC_TASKS,
                    body={"tasks": [{"task_id": f"{marker}-{i}"} for i in range(5)]})

    def received(node: NodeProcess) -> bool:
        return any(e["body"]["tasks"][0]["task_id"].startswith(marker)
                   for e in node.gossip() if e["kind"] == "tasks")

    assert wait_until(lambda: all(received(n) for n in network[:3]), 30)
    event = next(e for e in network[0].gossip() if e["kind"] == "tasks"
                 and e["body"]["tasks"][0]["task_id"].startswith(marker))
    assert event["sender"] == network[3].peer_id
    assert len(event["body"]["tasks"]) == 5  # one batched announcement


def test_direct_status_request_is_answered_and_signed(network: list[NodeProcess]) -> None:
    answer = network[0].call("request", peer=network[2].peer_id)
    assert answer["from"] == network[2].peer_id
    assert answer["reply"]["status"]["asked_by"] == network[0].peer_id


def _signed(body: dict[str, object], bound: bool = True) -> bytes:
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair)) \
        if bound else None
    return encode_message(key_pair, "results", body, binding)


def test_hostile_messages_are_dropped_and_nodes_stay_up(
        network: list[NodeProcess], tmp_path: Path) -> None:
    attacker = NodeProcess(tmp_path / "attacker", "--attacker", "--bootstrap", network[0].addrs[0])
    try:
        victim = network[1]
        assert wait_until(lambda: attacker.peer_id in peer_ids(victim), 30)

        def probe_dropped() -> bool:  # gossip flows once subscriptions are exchanged
            attacker.call("publish_raw", topic=TOPIC_RESULTS,
                          data=base64.b64encode(b"{probe").decode())
            return victim.call("snapshot")["snapshot"]["dropped"].get("malformed", 0) > 0

        assert wait_until(probe_dropped, 30, interval_s=0.5)
        before = sum(victim.call("snapshot")["snapshot"]["dropped"].values())
        marker = os.urandom(6).hex()
        valid = _signed({"results": [{"task_id": f"{marker}-replayed", "cid": "x"}]})
        unsigned = json.loads(_signed({"results": [{"task_id": f"{marker}-unsigned"}]}))
        del unsigned["sig"]
        hostile = [
            json.dumps(unsigned).encode(),
            b"{not json at all",
            _signed({"results": [{"task_id": f"{marker}-big", "pad": "x" * 70_000}]}),
            _signed({"results": [{"task_id": f"{marker}-unbound"}]}, bound=False),
            valid,
            valid,  # replay of an accepted message
        ]
        for data in hostile:
            attacker.call("publish_raw", topic=TOPIC_RESULTS, data=base64.b64encode(data).decode())
        flood = [_signed({"results": [{"task_id": f"{marker}-flood-{i}"}]}) for i in range(80)]
        attacker.call("flood", topic=TOPIC_RESULTS,
                      data=[base64.b64encode(d).decode() for d in flood])

        def tally(node: NodeProcess) -> dict[str, int]:
            counts: dict[str, int] = {}
            for event in node.gossip():
                if event["kind"] == "results":
                    task = event["body"]["results"][0]["task_id"]
                    if task.startswith(marker):
                        kind = task.removeprefix(marker + "-").split("-")[0]
                        counts[kind] = counts.get(kind, 0) + 1
            return counts

        assert wait_until(lambda: sum(victim.call("snapshot")["snapshot"]["dropped"].values())
                          >= before + 6, 30)

        def flood_settled() -> bool:
            limited = victim.call("snapshot")["snapshot"]["dropped"].get("rate_limited", 0)
            return limited > 0 and tally(victim).get("flood", 0) + limited >= 70

        wait_until(flood_settled, 30)
        counts = tally(victim)
        assert counts.get("replayed") == 1  # the first copy only
        assert not {"unsigned", "big", "unbound"} & counts.keys()
        assert 0 < counts.get("flood", 0) < 80  # the per-peer rate limit cut the flood
        dropped = victim.call("snapshot")["snapshot"]["dropped"]
        for reason in ("unsigned", "malformed", "oversized", "no_binding", "replay",
                       "rate_limited"):
            assert dropped.get(reason, 0) >= 1, dropped
        scores = {p["peer_id"]: p["score"] for p in victim.call("peers")["peers"]}
        assert scores[attacker.peer_id] < 0
        # every honest node is still up and still gossips, also through the relays that carried
        # the flood (their own messages are not cut by the flooder's rate limit)
        honest = os.urandom(6).hex()
        network[0].call("publish", topic=TOPIC_TASKS, body={"tasks": [{"task_id": honest}]})

        def missing() -> list[int]:
            return [i for i, n in enumerate(network) if i and not any(
                e["kind"] == "tasks" and e["body"]["tasks"][0]["task_id"] == honest
                for e in n.gossip())]

        wait_until(lambda: not missing(), 30)
        assert not missing(), [n.call("snapshot")["snapshot"]["dropped"] for n in network]
        assert all(n.alive() for n in network)
    finally:
        attacker.kill()
