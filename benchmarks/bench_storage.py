"""Storage throughput next to baselines measured in the same run; prints one JSON document.

- import: our UnixFS importer (CIDv1 raw leaves, CIDv0) over a 64 MiB buffer vs one plain
  sha256 pass over the same bytes (the importer must hash every byte once; the rest is overhead).
- blockstore: put/get of 256 KiB blocks (verified, indexed, atomic) vs plain file writes/reads of
  the same blocks, with and without fsync.

- bitswap (`--bitswap-mib N`, 0 skips it): an N MiB model pulled between oarn node processes
  on loopback (tests/storage/storage_node_proc.py: P2PNode + BitswapExchange, no DHT) vs a
  loopback TCP copy of the same size in the same run; one provider vs three; the puller's peak
  RSS growth; and a pull killed (SIGKILL) at 50 % then restarted: the resumed pull's time and
  how many blocks it fetched that the killed one already held (goal: 0).

Run: .venv/bin/python benchmarks/bench_storage.py [--mib 64] [--bitswap-mib 1024] [--only-bitswap]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, RAW
from oarn_tui.storage.unixfs import CHUNK_SIZE, ImportOptions, import_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' node process
from tests.storage.storage_node_client import NodeProc

MIB = 1024 * 1024


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def _mb_s(size: int, seconds: float) -> float:
    return round(size / MIB / seconds, 1)


def bench_import(data: bytes) -> dict[str, object]:
    sha = _best_of(3, lambda: hashlib.sha256(data).digest())
    v1 = _best_of(3, lambda: import_bytes(data, ImportOptions.v1()))
    v0 = _best_of(3, lambda: import_bytes(data, ImportOptions.v0()))
    return {
        "bytes": len(data),
        "sha256_mb_s": _mb_s(len(data), sha),
        "import_v1_raw_leaves_mb_s": _mb_s(len(data), v1),
        "import_v0_mb_s": _mb_s(len(data), v0),
        "import_v1_vs_sha256": round(sha / v1, 3),
        "import_v0_vs_sha256": round(sha / v0, 3),
    }


def _plain_write(folder: Path, blocks: list[tuple[CID, bytes]], fsync: bool) -> None:
    for cid, data in blocks:
        with open(folder / cid.key, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())


def _plain_read(folder: Path, blocks: list[tuple[CID, bytes]]) -> None:
    for cid, _data in blocks:
        (folder / cid.key).read_bytes()


def bench_blockstore(data: bytes, workdir: Path, runs: int = 3) -> dict[str, object]:
    blocks = [(CID.for_block(data[i:i + CHUNK_SIZE], RAW), data[i:i + CHUNK_SIZE])
              for i in range(0, len(data), CHUNK_SIZE)]
    size = len(data)
    results: dict[str, object] = {"blocks": len(blocks), "block_size": CHUNK_SIZE,
                                  "runs": runs}
    for fsync in (False, True):
        label = "fsync" if fsync else "nofsync"
        plain_times, put_times = [], []
        for run in range(runs):  # alternate, each into a fresh directory
            plain = workdir / f"plain-{label}-{run}"
            plain.mkdir()
            start = time.perf_counter()
            _plain_write(plain, blocks, fsync)
            plain_times.append(time.perf_counter() - start)
            store = Blockstore(workdir / f"store-{label}-{run}", durable=fsync)
            start = time.perf_counter()
            for cid, block in blocks:
                store.put(cid, block)
            put_times.append(time.perf_counter() - start)
            if not fsync and run == 0:
                results["plain_read_mb_s"] = _mb_s(size, _best_of(
                    3, lambda plain=plain: _plain_read(plain, blocks)))
                results["blockstore_get_verified_mb_s"] = _mb_s(size, _best_of(
                    3, lambda store=store: [store.get(cid) for cid, _ in blocks]))
            store.close()
        results[f"plain_write_{label}_mb_s"] = _mb_s(size, min(plain_times))
        results[f"blockstore_put_{label}_mb_s"] = _mb_s(size, min(put_times))
    return results


def tcp_copy_mib_s(size: int) -> float:
    """One loopback TCP copy of `size` bytes (1 MiB writes) between two threads."""
    server = socket.create_server(("127.0.0.1", 0))
    chunk = os.urandom(MIB)
    received = [0]

    def sink() -> None:
        conn, _ = server.accept()
        buffer = bytearray(MIB)
        with conn:
            while True:
                got = conn.recv_into(buffer)
                if not got:
                    return
                received[0] += got

    reader = threading.Thread(target=sink)
    reader.start()
    start = time.perf_counter()
    with socket.create_connection(server.getsockname()) as client:
        for _ in range(size // MIB):
            client.sendall(chunk)
    reader.join(60)
    seconds = time.perf_counter() - start
    server.close()
    return round(received[0] / MIB / seconds, 1)


def _pull(puller: NodeProc, providers: list[NodeProc], cid: str) -> dict[str, Any]:
    for provider in providers:
        puller.call(cmd="connect", addr=provider.ready["addrs"][0], timeout_s=60)
    return puller.call(cmd="pull", cid=cid, timeout_s=600)


def bench_bitswap(mib: int, workdir: Path) -> dict[str, Any]:
    """See the module docstring; every node is its own process, all on 127.0.0.1."""
    size = mib * MIB
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "model.bin"
    with open(source, "wb") as handle:
        rng = random.Random(7)
        for _ in range(mib):
            handle.write(rng.randbytes(MIB))
    from oarn_tui.storage.content import LocalContentStore

    first = Blockstore(workdir / "p0" / "blocks", durable=False)
    cid = str(LocalContentStore(first, ImportOptions.v1()).add_file_sync(source))
    block_count = first.count()
    first.close()
    for index in (1, 2):
        shutil.copytree(workdir / "p0", workdir / f"p{index}")
    source.unlink()
    report: dict[str, Any] = {"mib": mib, "cid": cid, "blocks": block_count,
                              "tcp_loopback_copy_mib_s": tcp_copy_mib_s(size)}
    providers = [NodeProc(workdir / f"p{index}") for index in range(3)]
    try:
        one = NodeProc(workdir / "pull-1")
        try:
            result = _pull(one, providers[:1], cid)
        finally:
            one.stop()
        report["one_provider_mib_s"] = round(mib / result["seconds"], 1)
        report["one_provider_rss_growth_mib"] = round(result["rss_growth_kib"] / 1024, 1)
        three = NodeProc(workdir / "pull-3")
        try:
            result = _pull(three, providers, cid)
        finally:
            three.stop()
        report["three_providers_mib_s"] = round(mib / result["seconds"], 1)
        report["three_providers_rss_growth_mib"] = round(result["rss_growth_kib"] / 1024, 1)
        report["three_vs_one"] = round(report["three_providers_mib_s"]
                                       / report["one_provider_mib_s"], 2)
        report["bitswap_vs_tcp"] = round(report["one_provider_mib_s"]
                                         / report["tcp_loopback_copy_mib_s"], 3)
        report["resume"] = bench_resume(workdir / "pull-resume", providers[:1], cid, size,
                                        block_count)
    finally:
        for provider in providers:
            provider.stop()
    return report


def bench_resume(home: Path, providers: list[NodeProc], cid: str, size: int,
                 block_count: int) -> dict[str, Any]:
    """Kill a pull (SIGKILL) once half the bytes arrived; restart it at the same home."""
    victim = NodeProc(home)
    for provider in providers:
        victim.call(cmd="connect", addr=provider.ready["addrs"][0], timeout_s=60)
    started = time.perf_counter()
    victim.send(cmd="pull", cid=cid)
    seen = victim.wait("progress", 600, until=lambda item: item["done"] >= size // 2)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=15)
    killed_after = time.perf_counter() - started
    store = Blockstore(home / "blocks", durable=False)
    held = set(store.keys())
    store.close()
    again = NodeProc(home)
    try:
        result = _pull(again, providers, cid)
    finally:
        again.stop()
    fetched = set(result["fetched_keys"])
    return {"killed_at_fraction": round(seen["done"] / size, 3),
            "killed_after_s": round(killed_after, 2), "blocks_held_at_kill": len(held),
            "resumed_pull_s": round(result["seconds"], 2),
            "resumed_fetched_blocks": len(fetched),
            "blocks_fetched_twice": len(fetched & held),
            "complete": len(fetched | held) >= block_count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="Size of the test data in MiB.")
    parser.add_argument("--bitswap-mib", type=int, default=1024,
                        help="Size of the model pulled over bitswap in MiB (0: skip).")
    parser.add_argument("--only-bitswap", action="store_true",
                        help="Skip the import and blockstore sections.")
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "storage", "cpu_count": os.cpu_count(),
                              "load_avg": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="oarn-bench-storage-") as tmp:
        if not args.only_bitswap:
            data = random.Random(2026).randbytes(args.mib * MIB)
            report["import"] = bench_import(data)
            report["blockstore"] = bench_blockstore(data, Path(tmp))
            del data
        if args.bitswap_mib:
            report["bitswap"] = bench_bitswap(args.bitswap_mib, Path(tmp) / "bitswap")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
