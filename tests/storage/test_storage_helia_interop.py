"""Bitswap interop with Helia (js IPFS from npm, pinned in tests/storage/js) as a real peer over
TCP + Noise + Yamux: Helia fetches a file an oarn node holds, and the oarn node fetches a file
Helia holds, by direct connection, with no DHT (no provider records anywhere). Bytes and CIDs
must be equal on both sides."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode
from oarn_tui.storage.bitswap import VerifiedBlockStore
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.exchange import BitswapExchange
from oarn_tui.storage.unixfs import ImportOptions, import_bytes, read_file
from oarn_tui.wallet.signer import LocalSigner
from tests.jsonlines_proc import JsonLinesProcess, js_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
JS_DIR = Path(__file__).with_name("js")
MIB = 1 << 20


class HeliaNode(JsonLinesProcess):
    """tests/storage/js/helia_node.mjs: JSON commands on stdin, JSON events on stdout."""

    name = "helia"

    def __init__(self) -> None:
        super().__init__(["node", str(JS_DIR / "helia_node.mjs")], cwd=JS_DIR)

    async def call(self, cmd: str, event: str, timeout_s: float = 60.0,
                   **command: Any) -> dict[str, Any]:
        self.send(cmd=cmd, **command)
        return await asyncio.to_thread(self.wait, event, timeout_s)


@pytest.fixture
async def oarn_and_helia(tmp_path: Path) -> AsyncIterator[tuple[P2PNode, BitswapExchange,
                                                                 HeliaNode, dict[str, Any]]]:
    reason = js_ready(JS_DIR, "helia")
    if reason:
        pytest.skip(reason)
    blocks = Blockstore(tmp_path / "oarn")
    adapter = VerifiedBlockStore(blocks)
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    node = P2PNode(key_pair, NodeOptions(enable_dht=False), binding=binding,
                   block_store=adapter)
    await node.start()
    helia = HeliaNode()
    try:
        ready = await asyncio.to_thread(helia.wait, "ready", 60)
        exchange = BitswapExchange(node, blocks, adapter, block_timeout_s=20.0)
        yield node, exchange, helia, ready
    finally:
        helia.stop()
        await node.stop()
        blocks.close()


async def _connected(node: P2PNode, peer_id: str, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if peer_id in {p["peer_id"] for p in node.peers()}:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_helia_fetches_a_file_the_oarn_node_holds(
        oarn_and_helia: tuple[P2PNode, BitswapExchange, HeliaNode, dict[str, Any]],
        tmp_path: Path) -> None:
    node, exchange, helia, ready = oarn_and_helia
    data = os.urandom(3 * MIB + 12345)  # 13 blocks of 256 KiB: a two-level DAG
    root = LocalContentStore(exchange.store, ImportOptions.v1()).add_file_sync(data)
    await helia.call("dial", "dialled", addr=node.listen_addrs()[0])
    assert await _connected(node, ready["peer_id"])
    out = tmp_path / "helia-got.bin"
    fetched = await helia.call("cat", "fetched", cid=str(root), out=str(out), timeout_ms=60000)
    assert fetched["bytes"] == len(data)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    source = tmp_path / "same.bin"
    source.write_bytes(data)
    added = await helia.call("add", "added", path=str(source))
    assert added["cid"] == str(root)  # Helia computes the same CID for the same bytes
    assert exchange.adapter.served >= 14  # root + 13 leaves, served by oarn's bitswap
    # Helia hangs up and dials again: the oarn node serves it on the new connection too
    await helia.call("hangup", "hung_up", peer_id=node.peer_id)
    more = os.urandom(MIB // 2)
    second = LocalContentStore(exchange.store, ImportOptions.v1()).add_file_sync(more)
    await helia.call("dial", "dialled", addr=node.listen_addrs()[0])
    fetched = await helia.call("cat", "fetched", cid=str(second), out=str(out), timeout_ms=60000)
    assert fetched["bytes"] == len(more) and out.read_bytes() == more


async def test_oarn_fetches_a_file_helia_holds_over_a_direct_connection(
        oarn_and_helia: tuple[P2PNode, BitswapExchange, HeliaNode, dict[str, Any]],
        tmp_path: Path) -> None:
    node, exchange, helia, ready = oarn_and_helia
    data = os.urandom(2 * MIB + 777)
    source = tmp_path / "helia-has.bin"
    source.write_bytes(data)
    added = await helia.call("add", "added", path=str(source))
    root = CID.parse(added["cid"])
    assert str(import_bytes(data, ImportOptions.v1()).cid) == str(root)  # same CID both sides
    await node.connect(ready["addrs"][0])  # oarn dials Helia; no DHT anywhere
    assert await _connected(node, ready["peer_id"])
    seen: list[tuple[int, int]] = []
    size = await asyncio.wait_for(
        exchange.fetch(root, progress=lambda done, total: seen.append((done, total))), 120)
    assert size == len(data)
    got = await asyncio.to_thread(read_file, root, exchange.store.get)
    assert got == data
    assert seen[-1] == (len(data), len(data))
    assert exchange.fetched_blocks == 10  # root + 9 leaves, each once
    assert exchange.sources == {ready["peer_id"]: 10}  # the origin `model info` shows
