"""Storage throughput next to baselines measured in the same run; prints one JSON document.

- import: our UnixFS importer (CIDv1 raw leaves, CIDv0) over a 64 MiB buffer vs one plain
  sha256 pass over the same bytes (the importer must hash every byte once; the rest is overhead).
- blockstore: put/get of 256 KiB blocks (verified, indexed, atomic) vs plain file writes/reads of
  the same blocks, with and without fsync.

Run: .venv/bin/python benchmarks/bench_storage.py [--mib 64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, RAW
from oarn_tui.storage.unixfs import CHUNK_SIZE, ImportOptions, import_bytes

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="Size of the test data in MiB.")
    args = parser.parse_args()
    data = random.Random(2026).randbytes(args.mib * MIB)
    with tempfile.TemporaryDirectory(prefix="oarn-bench-storage-") as tmp:
        report = {
            "benchmark": "storage",
            "cpu_count": os.cpu_count(),
            "import": bench_import(data),
            "blockstore": bench_blockstore(data, Path(tmp)),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
