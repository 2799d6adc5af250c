"""Interop with js-libp2p from npm (pinned in tests/p2p/js): a js node dials a Python node over
TCP + Noise + Yamux, pings it, and exchanges gossip in both directions."""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, wait_until

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import TOPIC_RESULTS, TOPIC_TASKS, encode_message, make_binding
from oarn_tui.wallet.signer import LocalSigner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
JS_DIR = Path(__file__).with_name("js")


def _js_ready() -> str:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm are not installed"
    if not (JS_DIR / "node_modules" / "libp2p").exists():
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True,
                           capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            return f"npm ci failed in {JS_DIR}: {error}"
    return ""


class JsNode:
    """The js-libp2p interop node; JSON lines from stdout land in a queue."""

    def __init__(self, target: str) -> None:
        self.proc = subprocess.Popen(["node", str(JS_DIR / "interop_node.mjs"), target],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=JS_DIR)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue

    def wait(self, event: str, timeout_s: float = 30.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if item.get("event") == event and all(item.get(k) == v for k, v in match.items()):
                return item
        stderr = self.proc.stderr.read().decode()[-1500:] if self.proc.poll() is not None else ""
        raise TimeoutError(f"js node: no {event} event; {stderr}")

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def python_and_js(tmp_path: Path) -> Iterator[tuple[NodeProcess, JsNode]]:
    reason = _js_ready()
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
