"""A real P2PNode in its own process, driven by JSON lines on stdin, reporting JSON lines on stdout.

Commands: connect, publish, publish_raw, peers, snapshot, request, add_file, fetch, rotate, stop.
Events: ready, gossip, reply, error, and one answer per command (same "id").
Used by the multi-process tests and by benchmarks/bench_p2p.py.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oarn_tui.p2p.host import generate_identity
from oarn_tui.p2p.messages import PROTOCOL_STATUS, TOPICS, Envelope, make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode, PrivacyOptions
from oarn_tui.wallet.signer import LocalSigner


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def build_node(args: argparse.Namespace) -> tuple[P2PNode, Any]:
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    key_pair = generate_identity(bytes.fromhex(args.seed) if args.seed else None)
    peer_id_binding = None
    if not args.attacker:
        from oarn_tui.p2p.host import peer_id_of

        peer_id_binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    exchange_parts = None
    block_store = None
    if args.storage:
        from oarn_tui.storage.bitswap import VerifiedBlockStore
        from oarn_tui.storage.blockstore import Blockstore

        store = Blockstore(home / "blocks", durable=False)
        block_store = VerifiedBlockStore(store)
        exchange_parts = (store, block_store)
    options = NodeOptions(
        listen_host=args.listen_host,
        bootstrap=list(args.bootstrap),
        mdns=args.mdns,
        discovery_interval_s=args.discovery_interval,
        validate=not args.attacker,
        publish_rate_per_topic=10_000 if args.attacker else 8,
        peer_rate_per_s=args.peer_rate,
        peer_rate_burst=int(args.peer_rate * 2),
        privacy=PrivacyOptions(padding_enabled=args.padding, padding_bucket_bytes=1024),
    )
    node = P2PNode(key_pair, options, binding=peer_id_binding, block_store=block_store)
    return node, exchange_parts


async def handle(node: P2PNode, exchange: Any, command: dict[str, Any]) -> dict[str, Any]:
    name = command["cmd"]
    if name == "connect":
        return {"peer": await node.connect(command["addr"])}
    if name == "publish":
        body = dict(command["body"])
        body.setdefault("sent_ns", time.time_ns())
        await node.publish(command["topic"], body)
        return {}
    if name == "publish_raw":
        await node.publish_raw(command["topic"], base64.b64decode(command["data"]))
        return {}
    if name == "flood":  # test attacker: push many messages as fast as the node can
        await asyncio.gather(*(node.publish_raw(command["topic"], base64.b64decode(item))
                               for item in command["data"]))
        return {"sent": len(command["data"])}
    if name == "peers":
        return {"peers": node.peers()}
    if name == "snapshot":
        snap = node.snapshot()
        if exchange is not None:
            snap["bitswap"] = exchange.adapter.stats()
        return {"snapshot": snap}
    if name == "request":
        reply = await node.request(command["peer"], PROTOCOL_STATUS, "status", {"status": {}})
        return {"reply": reply.body, "from": reply.sender}
    if name == "rotate":
        return {"dropped": await node.run_trio(node.rotate_once)}
    if name == "add_file":
        from oarn_tui.storage.unixfs import ImportOptions, import_path

        result = await asyncio.to_thread(import_path, Path(command["path"]), ImportOptions.v1(),
                                         exchange.store.put)
        provided = await exchange.provide(result.cid)
        return {"cid": str(result.cid), "size": result.size, "provided": provided}
    if name == "providers":
        from oarn_tui.storage.cid import CID

        return {"providers": await exchange.find_providers(CID.parse(command["cid"]))}
    if name == "fetch":
        from oarn_tui.storage.cid import CID
        from oarn_tui.storage.unixfs import read_file

        updates: list[int] = []
        started = time.perf_counter()
        size = await exchange.fetch(CID.parse(command["cid"]),
                                    progress=lambda done, total: updates.append(done))
        elapsed = time.perf_counter() - started
        data = await asyncio.to_thread(read_file, CID.parse(command["cid"]), exchange.store.get)
        return {"size": size, "sha256": hashlib.sha256(data).hexdigest(), "seconds": elapsed,
                "progress_updates": len(updates), "blocks": exchange.fetched_blocks}
    raise ValueError(f"unknown command {name}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--bootstrap", action="append", default=[])
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--attacker", action="store_true")
    parser.add_argument("--storage", action="store_true")
    parser.add_argument("--mdns", action="store_true")
    parser.add_argument("--padding", action="store_true")
    parser.add_argument("--peer-rate", type=float, default=20.0)
    parser.add_argument("--discovery-interval", type=float, default=1.0)
    parser.add_argument("--seed", default="", help="hex Ed25519 seed: the same peer ID on restart")
    args = parser.parse_args()
    node, parts = build_node(args)
    await node.start()
    exchange = None
    if parts is not None:
        from oarn_tui.storage.exchange import BitswapExchange

        exchange = BitswapExchange(node, parts[0], parts[1])

    async def on_gossip(envelope: Envelope) -> None:
        emit(event="gossip", kind=envelope.kind, sender=envelope.sender, body=envelope.body,
             recv_ns=time.time_ns())

    async def on_status(envelope: Envelope) -> dict[str, Any]:
        return {"status": {"peer_id": node.peer_id, "asked_by": envelope.sender}}

    for topic in TOPICS:
        node.subscribe(topic, on_gossip)
    node.set_request_handler(PROTOCOL_STATUS, on_status)
    emit(event="ready", peer_id=node.peer_id, addrs=node.snapshot()["listen_addrs"])
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "stop":
            break
        try:
            answer = await handle(node, exchange, command)
            emit(event="answer", id=command.get("id"), **answer)
        except Exception as error:  # reported to the test, the node stays up
            emit(event="answer", id=command.get("id"), error=f"{type(error).__name__}: {error}")
    await node.stop()
    emit(event="stopped")


if __name__ == "__main__":
    asyncio.run(main())
