"""Pipeline throughput and latency with three worker daemons on anvil, against stage floors.

    .venv/bin/python benchmarks/bench_pipeline.py [--tasks 30]

Prints one JSON document: sustained tasks/s, submit → verified-result latency p50/p99, the
per-stage breakdown read from the workers' ledgers, and each stage's floor measured in the same
run (a bare transaction, a bare `session.run`, a bare loopback fetch of the same bytes), next to
seed 004's targets (distribution < 100 ms, 100+ jobs/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oarn_tui.commands import demo_run as demo  # noqa: E402
from oarn_tui.runtime.control import ControlClient  # noqa: E402

STAGE_PAIRS = (("distribution", "requested", "discovered"), ("queue", "discovered", "accepted"),
               ("claim", "accepted", "claimed"),
               ("fetch", "fetching", "running"), ("inference", "running", "storing"),
               ("store+submit", "storing", "submitted"), ("payout", "submitted", "rewarded"))


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) \
        if ordered else None


def bare_transaction_ms(rpc_url: str, repeats: int = 10) -> float:
    from eth_account import Account
    from web3 import HTTPProvider, Web3

    from oarn_tui.chain.anvil import devnet_keys

    w3 = Web3(HTTPProvider(rpc_url))
    account = Account.from_key(devnet_keys()[9])
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    times = []
    for _ in range(repeats):
        tx = {"to": account.address, "value": 1, "gas": 21000, "nonce": nonce,
              "chainId": w3.eth.chain_id, "maxFeePerGas": 10**10,
              "maxPriorityFeePerGas": 10**9}
        started = time.perf_counter()
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
        times.append(time.perf_counter() - started)
        nonce += 1
    return round(statistics.median(times) * 1000, 2)


def bare_inference_ms(repeats: int = 50) -> float:
    import onnxruntime as ort

    from oarn_tui.samples import sample_model

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(sample_model()), options,
                                   providers=["CPUExecutionProvider"])
    inputs = demo.sample_inputs(3)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, inputs)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


async def bare_fetch_ms(size: int, repeats: int = 20) -> float:
    """A plain HTTP GET of the same number of bytes over loopback."""
    import aiohttp
    from aiohttp import web

    payload = b"x" * size

    async def handler(_request: Any) -> Any:
        return web.Response(body=payload)

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    times = []
    try:
        for _ in range(repeats):
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    await response.read()
                times.append(time.perf_counter() - started)
    finally:
        await runner.cleanup()
    return round(statistics.median(times) * 1000, 3)


def stage_breakdown(cluster: demo.DemoCluster, submitted_at: dict[int, float]) -> dict[str, Any]:
    durations: dict[str, list[float]] = {name: [] for name, _, _ in STAGE_PAIRS}
    for home in cluster.worker_homes:
        client = ControlClient(home)
        status = client.status(task_limit=10_000)
        for task in status["task_list"]:
            if task["stage"] != "rewarded":
                continue
            detail = client.command("task.get", task_id=task["task_id"])
            first = {}
            for step in detail["timeline"]:
                first.setdefault(step["stage"], step["ts"])
            first["requested"] = submitted_at.get(int(task["task_id"]), 0.0)
            first["discovered"] = detail["details"].get("discovered_at", 0.0)
            for name, start, end in STAGE_PAIRS:
                if first.get(start) and first.get(end):
                    durations[name].append(first[end] - first[start])
    return {name: {"p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99),
                   "samples": len(values)} for name, values in durations.items()}


async def measure(cluster: demo.DemoCluster, tasks: int) -> dict[str, Any]:
    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model

    async with demo.requester_node(cluster, log_to_file=False) as runtime:
        requester = runtime.services["pipeline"].requester
        inputs_dir = cluster.root / "bench-inputs"
        inputs_dir.mkdir()
        submitted_at: dict[int, float] = {}
        latencies: list[float] = []

        async def one(index: int) -> None:
            path = inputs_dir / f"{index}.safetensors"
            path.write_bytes(encode_canonical(demo.sample_inputs(index)))
            started = time.perf_counter()
            task = await requester.submit(model=str(sample_model()), input_path=path,
                                          reward_wei=demo.REWARD_WEI, deadline_s=900)
            # the requester's ledger records "requested" as soon as the receipt is in
            submitted_at[int(task["task_id"])] = runtime.ledger.timeline(
                str(task["task_id"]))[0].ts
            final = await requester.wait(int(task["task_id"]), 600)
            if final["status"] == "finalized":
                await requester.fetch_result(int(task["task_id"]),
                                             inputs_dir / f"{index}.result")
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(tasks)))
        elapsed = time.perf_counter() - began
        input_size = len(encode_canonical(demo.sample_inputs(3)))
        return {
            "tasks": tasks, "finalized": len(latencies), "duration_s": round(elapsed, 3),
            "tasks_per_s": round(len(latencies) / elapsed, 3),
            "latency_p50_ms": pct(latencies, 0.5), "latency_p99_ms": pct(latencies, 0.99),
            "stages": stage_breakdown(cluster, submitted_at),
            "floors": {"bare_transaction_ms": bare_transaction_ms(cluster.devnet["rpc_url"]),
                       "bare_inference_ms": bare_inference_ms(),
                       "bare_fetch_ms": await bare_fetch_ms(input_size),
                       "fetch_bytes": input_size},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oarn-bench-") as tmp:
        cluster = demo.DemoCluster(Path(tmp) / "demo", workers=3)
        try:
            demo.prepare(cluster, lambda _m: None)
            demo.start_workers(cluster, lambda _m: None)
            result = asyncio.run(measure(cluster, args.tasks))
        finally:
            demo.teardown(cluster)
    distribution = result["stages"]["distribution"]["p50_ms"]
    result["targets"] = {
        "distribution_under_100ms": distribution is not None and distribution < 100,
        "jobs_per_s_100": result["tasks_per_s"] >= 100,
    }
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
