"""Interop with js-libp2p from npm (pinned in tests/p2p/js): a js node dials a Python node over
TCP + Noise + Yamux, pings it, and exchanges gossip in both directions."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, wait_until

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import TOPIC_RESULTS, TOPIC_TASKS, encode_message, make_binding
from oarn_tui.wallet.signer import LocalSigner
from tests.jsonlines_proc import JsonLinesProcess, js_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
JS_DIR = Path(__file__).with_name("js")


class JsNode(JsonLinesProcess):
    """The js-libp2p interop node; JSON lines from stdout land in a queue."""

    name = "js node"

    def __init__(self, target: str) -> None:
        super().__init__(["node", str(JS_DIR / "interop_node.mjs"), target], cwd=JS_DIR)


@pytest.fixture
def python_and_js(tmp_path: Path) -> Iterator[tuple[NodeProcess, JsNode]]:
    reason = js_ready(JS_DIR, "libp2p")
    if reason:
        pytest.skip(reason)
    python_node = NodeProcess(tmp_path / "py", "--padding")  # 1024-byte padding buckets
    js_node = JsNode(python_node.addrs[0])
    try:
        yield python_node, js_node
    finally:
        js_node.kill()
        python_node.kill()


def test_js_libp2p_connects_pings_and_gossips_both_ways(
        python_and_js: tuple[NodeProcess, JsNode]) -> None:
    python_node, js_node = python_and_js
    ready = js_node.wait("ready")
    connected = js_node.wait("connected")
    assert connected["remote"] == python_node.peer_id
    assert (connected["encryption"], connected["multiplexer"]) == ("/noise", "/yamux/1.0.0")
    assert js_node.wait("ping")["rtt_ms"] >= 0
    assert wait_until(lambda: ready["peer_id"] in
                      {p["peer_id"] for p in python_node.call("peers")["peers"]}, 20)

    # Python -> js: a signed OARN announcement arrives intact
    marker = os.urandom(6).hex()

    def python_publishes() -> dict[str, Any]:
        python_node.call("publish", topic=TOPIC_TASKS, body={"tasks": [{"task_id": marker}]})
        return js_node.wait("message", timeout_s=2, topic=TOPIC_TASKS)

    message = None
    for _ in range(10):  # until gossipsub subscriptions are exchanged (bounded)
        try:
            message = python_publishes()
            break
        except TimeoutError:
            continue
    assert message is not None
    raw = base64.b64decode(message["data"])
    assert len(raw) % 1024 == 0  # privacy padding survives the trip
    envelope = json.loads(raw)
    assert envelope["from"] == python_node.peer_id
    assert envelope["body"]["tasks"][0]["task_id"] == marker

    # js -> Python: a valid envelope is accepted, garbage is dropped
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    valid = encode_message(key_pair, "results", {"results": [{"task_id": marker}]}, binding)
    js_node.send(cmd="publish", topic=TOPIC_RESULTS, data=base64.b64encode(valid).decode())
    js_node.send(cmd="publish", topic=TOPIC_RESULTS, data=base64.b64encode(b"{junk").decode())
    assert wait_until(lambda: any(e["kind"] == "results" and
                                  e["body"]["results"][0]["task_id"] == marker
                                  for e in python_node.gossip()), 20)
    assert wait_until(lambda: python_node.call("snapshot")["snapshot"]["dropped"]
                      .get("malformed", 0) >= 1, 20)
    assert python_node.alive()
