"""`oarn wallet send` while the home's daemon claims and finalizes tasks (issue 13, build 4).

A devnet, one worker daemon and an embedded requester that submits tasks; while the worker
claims, runs, submits and finalizes them, the real CLI (`python -m oarn_tui wallet send`,
separate processes, several at once) sends ETH from the worker's own account. Every
transaction must be mined, no nonce used twice, none left stuck, every one recorded once in the
home's transaction table, and the balances must add up.

Before, each `oarn wallet send` built its own chain client beside the daemon's: both allocated
nonces from their own memory, so they handed out the same nonce, overwrote each other's
records and deleted them on "nonce too low".
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.chain.anvil import devnet_addresses, find_anvil
from oarn_tui.commands import demo_run as demo
from tests.conftest import oarn_env, run_tree

pytestmark = pytest.mark.skipif(find_anvil() is None, reason="anvil is not installed "
                                "(cd contracts && npm ci)")

REPO = Path(__file__).resolve().parents[2]
SINK = "0x000000000000000000000000000000000000dEaD"
SEND_WEI = 10**16  # 0.01 ETH per send
AT_ONCE, TASKS = 3, 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoCluster]:
    built = demo.DemoCluster(tmp_path_factory.mktemp("sends") / "demo", workers=1)
    try:
        demo.prepare(built, lambda _m: None)
        demo.start_workers(built, lambda _m: None)
        yield built
    finally:
        demo.teardown(built)


def cli_send(cluster: demo.DemoCluster) -> dict[str, Any]:
    home = cluster.worker_home(1)
    done = run_tree([sys.executable, "-m", "oarn_tui", "--home", str(home), "wallet", "send",
                     SINK, "0.01", "--yes", "--password-file", str(cluster.password_file),
                     "--json"], timeout=180, env=oarn_env(home), cwd=REPO)
    assert done.returncode == 0, f"oarn wallet send failed: {done.stderr[-1500:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def account_txs(runtime: Any, account: str, first_block: int) -> dict[int, str]:
    """Every transaction `account` got mined from `first_block` on: nonce → hash."""
    pool = runtime.chain.contracts.client.pool
    last = int(await pool.call(lambda w3: w3.eth.block_number))
    found: dict[int, str] = {}
    for number in range(first_block, last + 1):
        block = await pool.call(lambda w3, n=number: w3.eth.get_block(n, full_transactions=True))
        for tx in block["transactions"]:
            if tx["from"] == account:
                nonce = int(tx["nonce"])
                assert nonce not in found, f"nonce {nonce} mined twice"
                found[nonce] = "0x" + bytes(tx["hash"]).hex()
    return found


def recorded(cluster: demo.DemoCluster, account: str) -> dict[int, tuple[str, str]]:
    """The worker home's transaction table: nonce → (hash, state)."""
    from oarn_tui.config import load_config

    config = load_config(cluster.worker_home(1))
    conn = sqlite3.connect(config.path(config.node.state_path))
    try:
        rows = conn.execute("SELECT nonce, tx_hash, state FROM chain_txs WHERE sender=?",
                            (account,)).fetchall()
    finally:
        conn.close()
    return {int(n): (str(h), str(s)) for n, h, s in rows}


async def test_cli_sends_while_the_daemon_works_never_reuse_a_nonce(
        cluster: demo.DemoCluster, tmp_path: Path) -> None:
    from oarn_tui.compute.tensors import encode_canonical
    from oarn_tui.samples import sample_model

    worker = devnet_addresses()[1]
    async with demo.requester_node(cluster, log_to_file=False) as runtime:
        contracts = runtime.chain.contracts
        pool = contracts.client.pool
        first_block = int(await pool.call(lambda w3: w3.eth.block_number))
        sink_before = await contracts.client.balance(SINK)

        async def submit(index: int) -> int:
            path = tmp_path / f"in-{index}.safetensors"
            path.write_bytes(encode_canonical(demo.sample_inputs(index)))
            submitted = await runtime.requester.submit(
                model=str(sample_model()), input_path=path, reward_wei=demo.REWARD_WEI,
                deadline_s=600, max_runtime_s=120)
            return int(submitted["task_id"])

        async def send_at_once() -> list[dict[str, Any]]:
            return list(await asyncio.gather(
                *(asyncio.to_thread(cli_send, cluster) for _ in range(AT_ONCE))))

        # Each round: several CLI sends at once while the worker claims, runs and finalizes
        # the current task; the next task makes the worker send again right after them.
        sent: list[dict[str, Any]] = []
        finals = []
        task_id = await submit(0)
        for index in range(1, TASKS + 1):
            round_sent, final = await asyncio.gather(
                send_at_once(), runtime.requester.wait(task_id, 240))
            sent += round_sent
            finals.append(final)
            if index < TASKS:
                task_id = await submit(index)
        assert [f["status"] for f in finals] == ["finalized"] * TASKS

        mined = await account_txs(runtime, worker, first_block)
        latest = int(await pool.call(lambda w3: w3.eth.get_transaction_count(worker, "latest")))
        pending = int(await pool.call(
            lambda w3: w3.eth.get_transaction_count(worker, "pending")))
        assert pending == latest, "a transaction of the worker is stuck in the mempool"
        cli_hashes = [s["tx_hash"] for s in sent]
        assert len(set(cli_hashes)) == TASKS * AT_ONCE
        assert set(cli_hashes) <= set(mined.values()), "a sent transaction was never mined"
        # the daemon's claims, results and finalizations were mined too, beside the sends
        assert len(mined) > len(cli_hashes)
        assert sorted(mined) == list(range(min(mined), latest)), "a nonce was skipped"
        table = recorded(cluster, worker)
        lost = sorted(n for n, h in mined.items() if table.get(n, ("", ""))[0] != h)
        assert not lost, f"mined nonces whose record was lost or overwritten: {lost}"
        assert {table[n][1] for n in mined} == {"confirmed"}
        assert await contracts.client.balance(SINK) - sink_before == len(sent) * SEND_WEI
        assert all(s["from"] == worker and s["amount"]["wei"] == str(SEND_WEI) for s in sent)
