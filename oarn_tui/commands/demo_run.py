"""What `oarn demo` runs: a devnet, three worker daemons and a requester submitting sample tasks.

Everything lives under `<home>/demo/` (the devnet state, one home per worker, the requester's
home, a generated passphrase file) and is removed again at the end; the processes are stopped by
PID. anvil and the worker daemons are SIGKILLed by the kernel when the demo's process ends,
however it ends (`proclife`), and are recorded in `<home>/demo/children.json`: a demo started
after a crash reaps whatever survived the previous one. The devnet accounts (anvil's well-known
test keys) fund the participants, as on any devnet.

A front end of the node (it starts daemons and embeds a requester runtime), so it lives with the
commands, above `runtime/` and `pipeline/`; the e2e tests and the pipeline benchmark reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oarn_tui.amounts import amount_json
from oarn_tui.fsutil import atomic_write_text, private_dir

log = logging.getLogger("oarn.demo")

TOKEN = 10**18
STAKE_WEI = 100 * TOKEN
REWARD_WEI = 1 * TOKEN


@dataclass
class DemoCluster:
    """The demo's homes and processes (all under `root`)."""

    root: Path
    workers: int = 3
    worker_pids: list[int] = field(default_factory=list)
    devnet: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "devnet"

    @property
    def password_file(self) -> Path:
        return self.root / "passphrase"

    @property
    def children(self) -> Any:
        """The record of the demo's processes (anvil, the workers), for a later reaper."""
        from oarn_tui.proclife import ChildRecord

        return ChildRecord(self.root / "children.json")

    @property
    def requester_home(self) -> Path:
        return self.root / "requester"

    def worker_home(self, index: int) -> Path:
        return self.root / f"worker-{index}"

    @property
    def worker_homes(self) -> list[Path]:
        return [self.worker_home(i) for i in range(1, self.workers + 1)]


def _stake(rpc_url: str, key: str, contracts: dict[str, str], amount: int) -> None:
    """Approve and stake GOV for a devnet executor (what `oarn stake` does, synchronously)."""
    from eth_account import Account
    from web3 import HTTPProvider, Web3
    from web3.types import Nonce

    from oarn_tui.chain.contracts import abi

    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    account = Account.from_key(key)
    gov = w3.eth.contract(address=Web3.to_checksum_address(contracts["gov_token"]),
                          abi=abi("GOVToken"))
    registry = w3.eth.contract(address=Web3.to_checksum_address(contracts["task_registry"]),
                               abi=abi("TaskRegistry"))
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    for call in (gov.functions.approve(contracts["task_registry"], amount),
                 registry.functions.stake(amount)):
        tx = call.build_transaction({"from": account.address, "nonce": nonce,
                                     "chainId": w3.eth.chain_id})
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] != 1:
            raise RuntimeError("staking GOV failed on the devnet")
        nonce = Nonce(nonce + 1)


def _make_home(home: Path, name: str, key: str, passphrase: str, state_dir: Path,
               extra: dict[str, Any]) -> None:
    from oarn_tui.chain.devnet import join_devnet
    from oarn_tui.config import render_default_config
    from oarn_tui.wallet.operations import import_private_key

    private_dir(home)
    atomic_write_text(home / "config.toml", render_default_config(
        "devnet", {"node.name": name, "network.listen_host": "127.0.0.1", **extra}))
    join_devnet(home, state_dir)
    import_private_key(home / "wallet.vault", passphrase, key)


def prepare(cluster: DemoCluster, say: Callable[[str], None]) -> None:
    """Devnet up, homes and wallets made, executors staked."""
    from oarn_tui.chain.anvil import devnet_keys
    from oarn_tui.chain.devnet import devnet_up
    from oarn_tui.proclife import reap

    if cluster.root.exists():
        if reap(cluster.children):
            say("stopped processes a previous demo left running")
        shutil.rmtree(cluster.root)
    private_dir(cluster.root)
    passphrase = secrets.token_urlsafe(24)
    atomic_write_text(cluster.password_file, passphrase + "\n")
    say("starting the devnet (anvil) and deploying the OARN contracts…")
    private_dir(cluster.requester_home)
    cluster.devnet = devnet_up(cluster.requester_home, cluster.state_dir, detached=False,
                               record=cluster.children)
    keys = devnet_keys()
    for index, home in enumerate(cluster.worker_homes, start=1):
        _make_home(home, f"demo-worker-{index}", keys[index], passphrase, cluster.state_dir,
                   {"compute.max_concurrent_tasks": 2})
        _stake(cluster.devnet["rpc_url"], keys[index], cluster.devnet["contracts"], STAKE_WEI)
    _make_home(cluster.requester_home, "demo-requester", keys[cluster.workers + 1], passphrase,
               cluster.state_dir, {})
    say(f"{cluster.workers} workers staked {STAKE_WEI // TOKEN} GOV each")


def start_workers(cluster: DemoCluster, say: Callable[[str], None]) -> None:
    """Start each worker daemon (`oarn start`), in parallel; each ends with this process."""
    from concurrent.futures import ThreadPoolExecutor

    from oarn_tui.cli_support import AppContext
    from oarn_tui.runtime.daemon import start_background

    def start(home: Path) -> int:
        return int(start_background(AppContext(home=home), password_file=cluster.password_file,
                                    die_with_parent=True, record=cluster.children)["pid"])

    with ThreadPoolExecutor(cluster.workers) as pool:
        cluster.worker_pids = list(pool.map(start, cluster.worker_homes))
    say(f"workers running: PIDs {', '.join(map(str, cluster.worker_pids))}")


def teardown(cluster: DemoCluster, *, keep: bool = False) -> None:
    """Stop the workers and the devnet by PID; remove the demo directory unless `keep`."""
    from oarn_tui.chain.devnet import devnet_down
    from oarn_tui.runtime.daemon import stop_node

    for home in cluster.worker_homes:
        with contextlib.suppress(Exception):
            stop_node(home, timeout=15)
    with contextlib.suppress(Exception):
        devnet_down(cluster.state_dir)
    cluster.children.clear()
    if not keep:
        shutil.rmtree(cluster.root, ignore_errors=True)


def sample_inputs(index: int) -> dict[str, np.ndarray]:
    """Deterministic inputs for the sample classifier (batch size varies per task)."""
    rng = np.random.default_rng(1000 + index)
    return {"x": rng.standard_normal((1 + index % 8, 4)).astype(np.float32)}


@dataclass
class DemoResult:
    submitted: int = 0
    finalized: int = 0
    failed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    paid_wei: int = 0
    results: dict[int, str] = field(default_factory=dict)

    def summary(self, duration_s: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)

        def pct(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {"tasks_submitted": self.submitted, "tasks_finalized": self.finalized,
                "tasks_failed": self.failed, "duration_s": round(duration_s, 3),
                "latency_p50_s": pct(0.5), "latency_p99_s": pct(0.99),
                "latency_mean_s": round(statistics.fmean(ordered), 3) if ordered else None,
                "comp_paid": amount_json(self.paid_wei)}


async def run_requester(cluster: DemoCluster, tasks: int, *, say: Callable[[str], None],
                        interval_s: float = 0.0, timeout_s: float = 300.0) -> DemoResult:
    """Submit `tasks` sample tasks from an embedded requester node and collect the results."""
    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model

    home = cluster.requester_home
    outcome = DemoResult()
    inputs_dir = private_dir(home / "inputs")
    async with requester_node(cluster) as runtime:
        chain = runtime.chain
        requester = runtime.requester
        if chain.contracts is None or requester is None:
            raise RuntimeError(f"the requester cannot use the chain: {chain.reason}")
        started: dict[int, float] = {}
        waits = []
        for index in range(tasks):
            path = inputs_dir / f"input-{index}.safetensors"
            path.write_bytes(encode_canonical(sample_inputs(index)))
            submitted = await requester.submit(model=str(sample_model()), input_path=path,
                                               reward_wei=REWARD_WEI, deadline_s=600,
                                               max_runtime_s=60)
            task_id = int(submitted["task_id"])
            started[task_id] = time.monotonic()
            outcome.submitted += 1
            say(f"submitted task {task_id} (reward {REWARD_WEI // TOKEN} COMP)")
            waits.append(asyncio.create_task(_collect(requester, task_id, started[task_id],
                                                      outcome, home, say, timeout_s)))
            if interval_s:
                await asyncio.sleep(interval_s)
        await asyncio.gather(*waits)
    return outcome


@contextlib.asynccontextmanager
async def requester_node(cluster: DemoCluster, *, log_to_file: bool = True,
                         peer_timeout_s: float = 20.0) -> AsyncIterator[Any]:
    """The requester's node, embedded in the caller's loop (as `oarn task submit` runs it):
    started, connected to the chain and, within `peer_timeout_s`, to every worker."""
    from oarn_tui.config import load_config
    from oarn_tui.runtime.assemble import build_runtime

    passphrase = bytearray(cluster.password_file.read_text().strip().encode())
    runtime = build_runtime(load_config(cluster.requester_home), passphrase=passphrase,
                            unlock_source="password-file", worker=False,
                            log_to_file=log_to_file)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.chain.connected.wait(), 60)
        deadline = time.monotonic() + peer_timeout_s
        while len(runtime.peers.connected()) < cluster.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        yield runtime
    finally:
        await runtime.stop()
        runtime.close()


async def _collect(requester: Any, task_id: int, started: float, outcome: DemoResult,
                   home: Path, say: Callable[[str], None], timeout_s: float) -> None:
    from oarn_tui.chain.contracts import abi
    from oarn_tui.chain.events import query_events

    try:
        final = await requester.wait(task_id, timeout_s)
        if final["status"] != "finalized":
            raise RuntimeError(f"task ended {final['status']}")
        fetched = await requester.fetch_result(task_id, home / "results" /
                                               f"{task_id}.safetensors")
        outcome.latencies_s.append(time.monotonic() - started)
        outcome.finalized += 1
        outcome.results[task_id] = fetched["result_hash"]
        contracts = requester.h.contracts
        paid = [e for e in await query_events(
            contracts.client.pool, contracts.addresses["task_registry"], abi("TaskRegistry"),
            "ExecutorPaid") if int(e.args["taskId"]) == task_id]
        outcome.paid_wei += sum(int(e.args["reward"]) + int(e.args["bonus"]) for e in paid)
        say(f"task {task_id} finalized, result verified "
            f"({time.monotonic() - started:.2f} s)")
    except Exception as exc:
        outcome.failed += 1
        say(f"task {task_id} failed: {exc}")


def run_headless(root: Path, tasks: int, *, workers: int = 3, keep: bool = False,
                 say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """The whole demo without the dashboard; returns the summary document."""
    cluster = DemoCluster(root, workers)
    began = time.monotonic()
    try:
        prepare(cluster, say)
        start_workers(cluster, say)
        first = time.monotonic()
        outcome = asyncio.run(run_requester(cluster, tasks, say=say))
        summary = outcome.summary(time.monotonic() - first)
        summary.update({"workers": workers, "setup_s": round(first - began, 3),
                        "results": {str(k): v for k, v in sorted(outcome.results.items())}})
        if keep:
            summary["demo_dir"] = str(root)
        return summary
    finally:
        teardown(cluster, keep=keep)


def dump(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True)
