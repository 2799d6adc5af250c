"""One oarn storage node in its own process (P2PNode + Blockstore + BitswapExchange), driven by
JSON lines: used by the resume test (kill -9 mid-pull) and by benchmarks/bench_storage.py.

Run: python storage_node_proc.py --home DIR [--window N]. Prints {"event": "ready", ...}, then
answers each command line {"cmd": ...} with one {"event": "answer", ...} line (or "error");
`pull` also prints {"event": "progress", "done", "total"} lines as blocks arrive.
Commands: import {path} | connect {addr} | pull {cid} | stats | stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode
from oarn_tui.storage.bitswap import VerifiedBlockStore
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.exchange import BitswapExchange
from oarn_tui.storage.unixfs import ImportOptions
from oarn_tui.wallet.signer import LocalSigner


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def rss_peak_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rss_now_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def handle(node: P2PNode, exchange: BitswapExchange, command: dict[str, Any]
                 ) -> dict[str, Any]:
    name = command["cmd"]
    if name == "import":
        local = LocalContentStore(exchange.store, ImportOptions.v1())
        root = await asyncio.to_thread(local.add_file_sync, Path(command["path"]))
        return {"cid": str(root), "blocks": exchange.store.count()}
    if name == "connect":
        return {"peer_id": await node.connect(command["addr"])}
    if name == "pull":
        root = CID.parse(command["cid"])
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05 or done == total:
                last[0] = now
                say(event="progress", done=done, total=total)

        before_rss, before_peak = rss_now_kib(), rss_peak_kib()
        started = time.perf_counter()
        size = await exchange.fetch(root, progress=progress)
        seconds = time.perf_counter() - started
        return {"size": size, "seconds": seconds, "blocks": exchange.fetched_blocks,
                "fetched_keys": sorted(exchange.fetched_keys),
                "rss_growth_kib": max(rss_peak_kib(), before_peak) - before_rss,
                "engine": node.bitswap.stats()}
    if name == "stats":
        return {"served": exchange.adapter.served, "blocks": exchange.store.count(),
                "engine": node.bitswap.stats()}
    raise ValueError(f"unknown command {name}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--window", type=int, default=None)
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    blocks = Blockstore(args.home / "blocks", durable=False)
    adapter = VerifiedBlockStore(blocks)
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    node = P2PNode(key_pair, NodeOptions(enable_dht=False), binding=binding,
                   block_store=adapter)
    await node.start()
    options = {"window": args.window} if args.window else {}
    exchange = BitswapExchange(node, blocks, adapter, block_timeout_s=30.0, **options)
    say(event="ready", peer_id=node.peer_id, addrs=node.listen_addrs())
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "":
                if not line:
                    break
                continue
            command = json.loads(line)
            if command.get("cmd") == "stop":
                break
            try:
                say(event="answer", **await handle(node, exchange, command))
            except Exception as error:  # reported to the driver, the node keeps running
                say(event="error", message=f"{type(error).__name__}: {error}")
    finally:
        await node.stop()
        blocks.close()


if __name__ == "__main__":
    asyncio.run(main())
