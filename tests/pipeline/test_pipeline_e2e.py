"""End to end on anvil: three worker daemons (separate processes) and a requester node.

The cluster is built by the demo's own setup code (devnet, homes, wallets, stakes, `oarn start`
for each worker) and torn down by PID at the end; anvil and every worker daemon (restarted ones
too) die with the test process however it ends (`proclife`), so a killed run leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oarn_tui.chain.anvil import find_anvil
from oarn_tui.commands import demo_run as demo
from oarn_tui.runtime.control import ControlClient, ControlError
from tests.pipeline.rpc_proxy import HoldingRpcProxy

pytestmark = pytest.mark.skipif(find_anvil() is None, reason="anvil is not installed "
                                "(cd contracts && npm ci)")

REPO = Path(__file__).resolve().parents[2]
MATMUL = REPO / "assets" / "models" / "matmul_512.onnx"
MID_STAGES = ("fetching", "running", "storing")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoCluster]:
    root = tmp_path_factory.mktemp("e2e") / "demo"
    built = demo.DemoCluster(root, workers=3)
    try:
        demo.prepare(built, lambda _m: None)
        demo.start_workers(built, lambda _m: None)
        yield built
    finally:  # OARN_E2E_KEEP=1 keeps the homes (logs, ledgers) for a post-mortem
        demo.teardown(built, keep=os.environ.get("OARN_E2E_KEEP") == "1")


def requester(cluster: demo.DemoCluster) -> Any:
    """The requester's node, embedded in the test's loop (as `oarn task submit` runs it)."""
    return demo.requester_node(cluster)


def direct_result_hash(model: Path, inputs: dict[str, np.ndarray]) -> str:
    """What the task's result must be: the model run directly with ONNX Runtime."""
    import onnxruntime as ort

    from oarn_tui.compute.tensors import encode_canonical

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, inputs), strict=True))
    return "0x" + hashlib.sha256(encode_canonical(outputs)).hexdigest()


async def events(runtime: Any, name: str) -> list[Any]:
    from oarn_tui.chain.contracts import abi
    from oarn_tui.chain.events import query_events

    contracts = runtime.services["chain"].contracts
    return await query_events(contracts.client.pool, contracts.addresses["task_registry"],
                              abi("TaskRegistry"), name)


def worker_addresses(cluster: demo.DemoCluster) -> list[str]:
    from oarn_tui.chain.anvil import devnet_addresses

    return list(devnet_addresses()[1:cluster.workers + 1])


async def submit(runtime: Any, path: Path, inputs: dict[str, np.ndarray], *,
                 model: Path | None = None, **options: Any) -> int:
    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model

    path.write_bytes(encode_canonical(inputs))
    requester_ = runtime.services["pipeline"].requester
    settings = {"reward_wei": demo.REWARD_WEI, "deadline_s": 600, "max_runtime_s": 120}
    settings.update(options)
    submitted = await requester_.submit(model=str(model or sample_model()), input_path=path,
                                        **settings)
    return int(submitted["task_id"])


def assert_no_duplicate_transactions(claimed: list[Any], submitted: list[Any]) -> None:
    for name, found in (("claim", claimed), ("result", submitted)):
        keys = [(int(e.args["taskId"]), e.args["executor"]) for e in found]
        assert len(keys) == len(set(keys)), f"a {name} was sent twice: {keys}"


async def test_tasks_finalize_with_direct_results_and_exact_payments(
        cluster: demo.DemoCluster, tmp_path: Path) -> None:
    from oarn_tui.samples import sample_model

    async with requester(cluster) as runtime:
        contracts = runtime.services["chain"].contracts
        workers = worker_addresses(cluster)
        before = {w: await contracts.token_balance("comp", w) for w in workers}
        pipeline = runtime.services["pipeline"].requester
        task_inputs = {}
        for index in range(4):
            inputs = demo.sample_inputs(index)
            task_id = await submit(runtime, tmp_path / f"in-{index}.safetensors", inputs)
            task_inputs[task_id] = inputs
        finals = await asyncio.gather(*(pipeline.wait(t, 120) for t in task_inputs))
        assert [f["status"] for f in finals] == ["finalized"] * 4
        for task_id, inputs in task_inputs.items():
            fetched = await pipeline.fetch_result(task_id, tmp_path / f"out-{task_id}")
            expected = direct_result_hash(sample_model(), inputs)
            assert fetched["result_hash"] == expected
            data = (tmp_path / f"out-{task_id}").read_bytes()
            assert "0x" + hashlib.sha256(data).hexdigest() == expected
        paid = [e for e in await events(runtime, "ExecutorPaid")
                if int(e.args["taskId"]) in task_inputs]
        assert len(paid) == 4
        bonus = 1 * demo.TOKEN  # DeployParameters.bonus_per_executor on the devnet
        for worker in workers:
            count = sum(1 for e in paid if e.args["executor"] == worker)
            assert all(int(e.args["bonus"]) == bonus for e in paid)
            after = await contracts.token_balance("comp", worker)
            assert after - before[worker] == count * (demo.REWARD_WEI + bonus)


async def test_expired_task_is_refunded(cluster: demo.DemoCluster, tmp_path: Path) -> None:
    async with requester(cluster) as runtime:
        contracts = runtime.services["chain"].contracts
        before = await contracts.token_balance("comp")
        task_id = await submit(runtime, tmp_path / "in.safetensors", demo.sample_inputs(1),
                               deadline_s=6, min_vram_mb=10**7)  # no worker has 10 TB VRAM
        assert await contracts.token_balance("comp") == before - demo.REWARD_WEI
        final = await runtime.services["pipeline"].requester.wait(task_id, 60)
        assert final["status"] == "finalized" and final["results"] == 0
        assert await contracts.token_balance("comp") == before
        reasons = []
        for home in cluster.worker_homes:
            status = ControlClient(home).status()
            reasons += [t["failure_reason"] for t in status["task_list"]
                        if t["task_id"] == str(task_id)]
        assert reasons and all("VRAM" in reason for reason in reasons), reasons


@functools.cache
def ledger_path(home: Path) -> Path:
    from oarn_tui.config import load_config

    config = load_config(home)
    return Path(config.path(config.node.state_path))


def find_worker_in_stage(cluster: demo.DemoCluster, task_id: int,
                         stages: tuple[str, ...]) -> Path | None:
    """The worker whose ledger has `task_id` in one of `stages`, read straight from its state
    database (read-only): a status call per worker is too slow, on a loaded machine, to catch
    the short `submitted` stage between the result and the payment."""
    import sqlite3

    for home in cluster.worker_homes:
        path = ledger_path(home)
        with contextlib.suppress(sqlite3.Error), \
                contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                   timeout=1)) as db:
            row = db.execute("SELECT stage FROM tasks WHERE task_id = ?",
                             (str(task_id),)).fetchone()
            if row is not None and row[0] in stages:
                return home
    return None


@pytest.mark.parametrize("stages", [MID_STAGES, ("submitted",)],
                         ids=["mid-task", "after-submit"])
async def test_kill_9_mid_task_then_restart_loses_and_duplicates_nothing(
        cluster: demo.DemoCluster, tmp_path: Path, stages: tuple[str, ...]) -> None:
    """kill -9 of the executing worker while it fetches/runs/stores, or after its result is
    on chain but before payment; restarted, it finishes from its ledger: one claim, one
    result, paid once."""
    from oarn_tui.cli_support import AppContext
    from oarn_tui.runtime.daemon import start_background
    from oarn_tui.runtime.pidfile import read_pid

    inputs = {"x": np.random.default_rng(5).standard_normal((8192, 512)).astype(np.float32)}
    async with requester(cluster) as runtime:
        task_id = await submit(runtime, tmp_path / "big.safetensors", inputs, model=MATMUL)
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            victim = await asyncio.to_thread(find_worker_in_stage, cluster, task_id, stages)
            await asyncio.sleep(0.02)
        assert victim is not None, f"no worker was seen in {stages}"
        os.kill(read_pid(victim), signal.SIGKILL)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(start_background, AppContext(home=victim),
                                password_file=cluster.password_file, die_with_parent=True)
        final = await runtime.services["pipeline"].requester.wait(task_id, 180)
        assert final["status"] == "finalized"
        fetched = await runtime.services["pipeline"].requester.fetch_result(
            task_id, tmp_path / "big-out")
        assert fetched["result_hash"] == direct_result_hash(MATMUL, inputs)
        claimed = [e for e in await events(runtime, "TaskClaimed")
                   if int(e.args["taskId"]) == task_id]
        submitted = [e for e in await events(runtime, "ResultSubmitted")
                     if int(e.args["taskId"]) == task_id]
        assert len(claimed) == 1 and len(submitted) == 1
        record = ControlClient(victim).command("task.get", task_id=str(task_id))
        timeline = [step["stage"] for step in record["timeline"]]
        assert timeline.count("claimed") == 1 and record["stage"] == "rewarded", timeline
        earnings = [e for e in ControlClient(victim).status()["earnings"]
                    if e["task_id"] == str(task_id)]
        assert len(earnings) == 1, earnings


@pytest.mark.parametrize(("call", "hold"), [("claimTask(uint256)", "request"),
                                            ("claimTask(uint256)", "response"),
                                            ("finalize(uint256)", "response")],
                         ids=["claim-signed-not-broadcast", "claim-mined-not-acknowledged",
                              "finalize-mined-not-acknowledged"])
async def test_kill_9_with_a_transaction_in_flight_then_restart_sends_it_once(
        cluster: demo.DemoCluster, tmp_path: Path, call: str, hold: str) -> None:
    """kill -9 of the worker while its claim or finalize transaction is in flight: recorded by
    the node but not yet on the chain, or mined with the receipt not yet back. Its RPC runs
    through a proxy that holds that one call (the requester only finalizes once it waits, after
    the restart). Restarted, it rebroadcasts (or finds) that same transaction and finishes: one
    such transaction, one claim, one payment."""
    from eth_utils import keccak

    from oarn_tui.cli_support import AppContext
    from oarn_tui.config import load_config, set_key
    from oarn_tui.runtime.daemon import start_background, stop_node
    from oarn_tui.runtime.pidfile import read_pid

    victim, others = cluster.worker_homes[0], cluster.worker_homes[1:]
    rpc_urls = json.dumps(list(load_config(victim).blockchain.manual_rpc_urls))
    proxy = HoldingRpcProxy(cluster.devnet["rpc_url"], keccak(text=call)[:4], hold)

    def restart_victim() -> None:
        start_background(AppContext(home=victim), password_file=cluster.password_file,
                         die_with_parent=True)

    try:
        url = await proxy.start()
        await asyncio.to_thread(stop_node, victim)
        set_key(victim, "blockchain.manual_rpc_urls", json.dumps([url]))
        await asyncio.to_thread(restart_victim)
        for home in others:  # only the victim takes the task
            await asyncio.to_thread(ControlClient(home).command, "pause")
        async with requester(cluster) as runtime:
            task_id = await submit(runtime, tmp_path / "in.safetensors", demo.sample_inputs(7))
            await asyncio.wait_for(proxy.held.wait(), 60)
            os.kill(read_pid(victim), signal.SIGKILL)
            proxy.release()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(restart_victim)
            final = await runtime.services["pipeline"].requester.wait(task_id, 180)
            assert final["status"] == "finalized"
            for name in ("TaskClaimed", "ExecutorPaid"):
                assert [int(e.args["taskId"]) for e in await events(runtime, name)
                        ].count(task_id) == 1, name
            assert len(set(proxy.raw_txs)) == 1, f"a second {call} transaction was signed"
            # held before the chain saw it: the restarted node broadcast the recorded bytes
            assert len(proxy.raw_txs) == (2 if hold == "request" else 1)
            deadline = time.monotonic() + 60  # finalized by the victim's own held finalize:
            while True:  # the restarted victim records its payment as it resumes
                record = await asyncio.to_thread(ControlClient(victim).command, "task.get",
                                                 task_id=str(task_id))
                if record["stage"] == "rewarded" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            timeline = [step["stage"] for step in record["timeline"]]
            assert timeline.count("claimed") == 1 and record["stage"] == "rewarded", timeline
            status = await asyncio.to_thread(ControlClient(victim).status)
            assert [e["task_id"] for e in status["earnings"]].count(str(task_id)) == 1
    finally:
        for home in others:
            with contextlib.suppress(ControlError):
                await asyncio.to_thread(ControlClient(home).command, "resume")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stop_node, victim)
        set_key(victim, "blockchain.manual_rpc_urls", rpc_urls)
        await proxy.close()
        await asyncio.to_thread(restart_victim)
        await asyncio.to_thread(wait_until_working, victim, len(others))


def wait_until_working(home: Path, peers: int, timeout_s: float = 60.0) -> None:
    """Until a restarted worker has its chain, its pipeline (with task discovery armed:
    "ready") and `peers` peers again (as the module's other tests expect of every worker)."""
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while True:
        with contextlib.suppress(ControlError):
            status = ControlClient(home, timeout=2).status()
            services = status["services"]
            if services["chain"]["state"] == services["pipeline"]["state"] == "running" \
                    and services["pipeline"].get("reason") == "ready" \
                    and status["peers"] >= peers:
                return
        assert time.monotonic() < deadline, f"{home.name} did not come back: {status}"
        time.sleep(0.2)


async def test_rpc_outage_is_survived_without_duplicate_transactions(
        cluster: demo.DemoCluster, tmp_path: Path) -> None:
    anvil_pid = int(cluster.devnet["pid"])
    async with requester(cluster) as runtime:
        ids = [await submit(runtime, tmp_path / f"o-{i}.safetensors", demo.sample_inputs(i))
               for i in range(3)]
        os.kill(anvil_pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(10)
        finally:
            os.kill(anvil_pid, signal.SIGCONT)
        finals = await asyncio.gather(*(runtime.services["pipeline"].requester.wait(t, 180)
                                        for t in ids))
        assert [f["status"] for f in finals] == ["finalized"] * 3
        claimed = await events(runtime, "TaskClaimed")
        submitted = await events(runtime, "ResultSubmitted")
        assert_no_duplicate_transactions(claimed, submitted)
        for home in cluster.worker_homes:  # every worker is still up and answering
            assert ControlClient(home).status()["services"]["pipeline"]["state"] == "running"


async def test_malformed_announcement_is_ignored(cluster: demo.DemoCluster,
                                                 tmp_path: Path) -> None:
    from oarn_tui.p2p.messages import TOPIC_TASKS

    async with requester(cluster) as runtime:
        node = runtime.services["p2p"].node

        def worker_logs() -> str:
            return "".join((home / "logs" / "node.log").read_text()
                           for home in cluster.worker_homes)

        await node.publish_raw(TOPIC_TASKS, b"\x00not a signed envelope\xff")
        deadline = time.monotonic() + 30  # the gossip mesh may still be forming: resend
        while "ignored malformed announcement items" not in worker_logs():
            assert time.monotonic() < deadline, "no worker saw the malformed announcement"
            await node.publish(TOPIC_TASKS, {"tasks": [{"task_id": "1; DROP TABLE tasks"},
                                                       {"task_id": -4}, "junk"]})
            await asyncio.sleep(1.0)
        task_id = await submit(runtime, tmp_path / "after.safetensors", demo.sample_inputs(2))
        final = await runtime.services["pipeline"].requester.wait(task_id, 120)
        assert final["status"] == "finalized"
        for home in cluster.worker_homes:
            assert ControlClient(home).status()["services"]["pipeline"]["state"] == "running"


async def test_redundant_task_commits_reveals_and_pays_every_agreeing_executor(
        cluster: demo.DemoCluster, tmp_path: Path) -> None:
    from oarn_tui.pipeline.classes import node_class
    from oarn_tui.samples import sample_model

    async with requester(cluster) as runtime:
        class_id = node_class(runtime.config)[0]
        inputs = demo.sample_inputs(7)
        task_id = await submit(runtime, tmp_path / "r3.safetensors", inputs, redundancy=3,
                               determinism=class_id)
        pipeline = runtime.services["pipeline"].requester
        final = await pipeline.wait(task_id, 180)
        assert final["status"] == "finalized" and final["results"] == 3
        assert final["result_hash"] == direct_result_hash(sample_model(), inputs)
        committed = [e for e in await events(runtime, "ResultCommitted")
                     if int(e.args["taskId"]) == task_id]
        paid = [e for e in await events(runtime, "ExecutorPaid")
                if int(e.args["taskId"]) == task_id]
        assert len(committed) == 3
        assert sorted(e.args["executor"] for e in paid) == sorted(worker_addresses(cluster))
        assert not [e for e in await events(runtime, "ResultDisagreed")
                    if int(e.args["taskId"]) == task_id]


async def test_task_of_another_determinism_class_is_refused(cluster: demo.DemoCluster,
                                                            tmp_path: Path) -> None:
    async with requester(cluster) as runtime:
        own = runtime.services["pipeline"].class_id
        other = own % 255 + 1
        task_id = await submit(runtime, tmp_path / "cls.safetensors", demo.sample_inputs(3),
                               redundancy=2, determinism=other, deadline_s=320)
        deadline = time.monotonic() + 30
        reasons: list[str] = []
        while len(reasons) < cluster.workers and time.monotonic() < deadline:
            reasons = [t["failure_reason"] for home in cluster.worker_homes
                       for t in ControlClient(home).status()["task_list"]
                       if t["task_id"] == str(task_id)]
            await asyncio.sleep(0.5)
        assert len(reasons) == cluster.workers
        assert all(f"needs determinism class {other}" in r for r in reasons), reasons
        await runtime.services["pipeline"].requester.cancel(task_id)


def test_cli_submit_wait_result_and_status(cluster: demo.DemoCluster, tmp_path: Path) -> None:
    import json

    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model
    from tests.conftest import run_oarn

    inputs = tmp_path / "cli-in.safetensors"
    inputs.write_bytes(encode_canonical(demo.sample_inputs(11)))
    out = tmp_path / "cli-out.safetensors"
    home = cluster.requester_home
    submitted = run_oarn(home, "task", "submit", "--model", str(sample_model()), "--input",
                         str(inputs), "--reward", "0.5", "--wait", "--out", str(out),
                         "--password-file", str(cluster.password_file), "--json",
                         timeout=240)
    assert submitted.returncode == 0, submitted.stderr
    document = json.loads(submitted.stdout)
    assert document["reward"] == {"amount": "0.5", "wei": str(5 * 10**17)}
    expected = direct_result_hash(sample_model(), demo.sample_inputs(11))
    assert document["result"]["result_hash"] == expected
    assert "0x" + hashlib.sha256(out.read_bytes()).hexdigest() == expected
    status = run_oarn(home, "task", "status", str(document["task_id"]), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "finalized"
    again = run_oarn(home, "task", "result", str(document["task_id"]), "--out",
                     str(tmp_path / "again"), "--password-file", str(cluster.password_file))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again").read_bytes() == out.read_bytes()
    bad = run_oarn(home, "task", "submit", "--model", str(sample_model()), "--input",
                   str(inputs), "--reward", "-1", "--password-file", str(cluster.password_file))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


async def test_unlock_on_a_running_node_restarts_chain_and_p2p_then_sends(
        cluster: demo.DemoCluster) -> None:
    from oarn_tui.chain.anvil import devnet_addresses
    from oarn_tui.config import load_config
    from oarn_tui.core.service import CommandError
    from oarn_tui.runtime.assemble import build_runtime

    runtime = build_runtime(load_config(cluster.requester_home), worker=False)
    await runtime.start()
    try:
        assert runtime.status()["wallet"]["state"] == "locked"
        with pytest.raises(CommandError, match="wrong passphrase"):
            await runtime.commands.call("wallet.unlock", passphrase="not it")
        passphrase = cluster.password_file.read_text().strip()
        unlocked = await runtime.commands.call("wallet.unlock", passphrase=passphrase)
        assert unlocked["state"] == "unlocked"
        chain = runtime.services["chain"]
        await asyncio.wait_for(chain.connected.wait(), 30)
        deadline = time.monotonic() + 30
        while chain.contracts is None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert chain.contracts is not None
        assert runtime.services["p2p"].node.peer_id == unlocked["peer_id"]
        target = devnet_addresses()[9]
        before = await chain.contracts.token_balance("comp", target)
        sent = await runtime.commands.call("wallet.send", to=target, amount="0.25",
                                           token="COMP")
        assert sent["tx_hash"].startswith("0x")
        assert await chain.contracts.token_balance("comp", target) - before == 25 * 10**16
        with pytest.raises(CommandError, match="not an Ethereum address"):
            await runtime.commands.call("wallet.send", to="0x12", amount="1", token="ETH")
    finally:
        await runtime.stop()
        runtime.close()


def test_worker_metrics_and_status_show_the_work_done(cluster: demo.DemoCluster) -> None:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + 15  # balances and counters refresh every few seconds
    completed = 0
    while time.monotonic() < deadline:
        completed = sum(ControlClient(home).status().get("reputation", {}).get("completed", 0)
                        for home in cluster.worker_homes)
        if completed >= 4:
            break
        time.sleep(1)
    assert completed >= 4  # the on-chain counters the status shows
    totals: dict[str, float] = {}
    for home in cluster.worker_homes:
        status = ControlClient(home).status()
        assert set(status["transfer"]) == {"received", "sent"}
        with urllib.request.urlopen(status["metrics"]["url"], timeout=10) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = sample.name + "".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                totals[key] = totals.get(key, 0.0) + sample.value
    assert totals["oarn_tasksstage=rewarded"] >= 4
    assert totals["oarn_comp_earned_total"] >= 8  # 4+ tasks × (1 COMP reward + 1 COMP bonus)
    assert totals["oarn_inference_seconds_count"] >= 4
    assert totals["oarn_bytes_transferred_totaldirection=received"] > 0
    assert totals["oarn_peers"] >= 3


def test_cli_submit_without_wait_stays_up_until_an_executor_has_the_data(
        cluster: demo.DemoCluster, tmp_path: Path) -> None:
    import json

    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model
    from tests.conftest import run_oarn

    inputs = tmp_path / "nowait.safetensors"
    inputs.write_bytes(encode_canonical(demo.sample_inputs(13)))
    home = cluster.requester_home
    submitted = run_oarn(home, "task", "submit", "--model", str(sample_model()), "--input",
                         str(inputs), "--reward", "1", "--password-file",
                         str(cluster.password_file), "--json", timeout=240)
    assert submitted.returncode == 0, submitted.stderr
    document = json.loads(submitted.stdout)
    assert document["executor_has_data"] is True
    deadline = time.monotonic() + 60  # the executor finalizes once its result is in
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(run_oarn(home, "task", "status", str(document["task_id"]),
                                     "--json").stdout)
        if status["status"] == "finalized":
            break
        time.sleep(1)
    assert status["status"] == "finalized"
