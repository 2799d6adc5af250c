"""The chain client against a real anvil: nonces, restarts, stuck-fee replacement, failover."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.chain.anvil import AnvilProcess, inprocess_web3
from oarn_tui.chain.client import ChainClient, SentTx, TxRejected, TxTimeout
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.rpc import RpcPool, RpcUnavailable
from oarn_tui.wallet.signer import LocalSigner
from tests.chain.chain_support import TcpProxy, dead_url

SINK = "0x000000000000000000000000000000000000dEaD"


def make_client(urls: list[str], key: str, db: Path, **kwargs: Any) -> ChainClient:
    pool = RpcPool(urls, 31337, request_timeout=5)
    return ChainClient(pool, LocalSigner.from_key(key), TxStore(db), poll_interval=0.05,
                       **kwargs)


async def mined_nonces(client: ChainClient, receipts: list[Any]) -> list[int]:
    nonces = []
    for receipt in receipts:
        tx = await client.pool.call(
            lambda w3, h=receipt["transactionHash"]: w3.eth.get_transaction(h))
        nonces.append(int(tx["nonce"]))
    return sorted(nonces)


async def test_concurrent_sends_and_restart_never_reuse_or_skip(anvil: AnvilProcess,
                                                                keys: tuple[str, ...],
                                                                tmp_path: Path) -> None:
    db = tmp_path / "txs.db"
    client = make_client([anvil.rpc_url], keys[1], db)
    await client.start()
    first = await asyncio.gather(*(client.transfer_eth(SINK, i + 1) for i in range(12)))
    await client.pool.close()

    restarted = make_client([anvil.rpc_url], keys[1], db)
    assert await restarted.start() == []
    second = await asyncio.gather(*(restarted.transfer_eth(SINK, 1) for _ in range(8)))
    receipts = first + second
    assert all(r["status"] == 1 for r in receipts)
    assert await mined_nonces(restarted, receipts) == list(range(20))
    count = await restarted.pool.call(
        lambda w3: w3.eth.get_transaction_count(restarted.address, "latest"))
    assert count == 20
    states = {r.state for r in restarted.store.history(31337, restarted.address)}
    assert states == {"confirmed"}
    await restarted.pool.close()


async def test_crash_between_record_and_broadcast_leaves_no_gap(anvil: AnvilProcess,
                                                                keys: tuple[str, ...],
                                                                tmp_path: Path) -> None:
    db = tmp_path / "txs.db"
    signer = LocalSigner.from_key(keys[2])
    client = make_client([anvil.rpc_url], keys[2], db)
    await client.start()
    await client.transfer_eth(SINK, 5)
    # A "crash" right after the signed transaction was recorded but before it went out.
    fees = await client.fees()
    signed = signer.sign_transaction({"to": SINK, "value": 7, "gas": 21_000, "nonce": 1,
                                      "chainId": 31337, "type": 2, **fees.as_tx_fields()})
    client.store.record(31337, signer.address, 1, "0x" + bytes(signed.hash).hex(),
                        bytes(signed.raw_transaction), fees.max_fee, fees.priority_fee)
    await client.pool.close()

    restarted = make_client([anvil.rpc_url], keys[2], db)
    pending = await restarted.start()
    assert [p.nonce for p in pending] == [1]
    receipt = await restarted.wait(pending[0])
    assert receipt["status"] == 1
    after = await restarted.transfer_eth(SINK, 9)
    assert await mined_nonces(restarted, [after]) == [2]
    await restarted.pool.close()


async def test_unsendable_recorded_transaction_gives_its_nonce_back(
        anvil: AnvilProcess, keys: tuple[str, ...], tmp_path: Path) -> None:
    """A recorded tx the chain refuses at restart (no funds for it) frees its nonce."""
    db = tmp_path / "txs.db"
    signer = LocalSigner.from_key(keys[9])
    client = make_client([anvil.rpc_url], keys[9], db)
    await client.start()
    fees = await client.fees()
    signed = signer.sign_transaction({"to": SINK, "value": 10**30, "gas": 21_000, "nonce": 0,
                                      "chainId": 31337, "type": 2, **fees.as_tx_fields()})
    client.store.record(31337, signer.address, 0, "0x" + bytes(signed.hash).hex(),
                        bytes(signed.raw_transaction), fees.max_fee, fees.priority_fee)
    await client.pool.close()

    restarted = make_client([anvil.rpc_url], keys[9], db)
    assert await restarted.start() == []
    assert restarted.store.get(31337, signer.address, 0).state == "dropped"
    receipt = await restarted.transfer_eth(SINK, 1)
    assert await mined_nonces(restarted, [receipt]) == [0]
    record = restarted.store.get(31337, signer.address, 0)
    assert record.state == "confirmed" and len(record.all_hashes) == 1
    await restarted.pool.close()


async def test_rejected_transaction_gives_its_nonce_back(anvil: AnvilProcess,
                                                         keys: tuple[str, ...],
                                                         tmp_path: Path) -> None:
    client = make_client([anvil.rpc_url], keys[3], tmp_path / "txs.db")
    await client.start()
    with pytest.raises(TxRejected, match=r"(?i)insufficient funds|lack of funds"):
        await client.transfer_eth(SINK, 10**30)
    receipt = await client.transfer_eth(SINK, 1)
    assert await mined_nonces(client, [receipt]) == [0]
    await client.pool.close()


async def test_stuck_transaction_is_replaced_with_bumped_fee(anvil: AnvilProcess,
                                                             keys: tuple[str, ...],
                                                             tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    replaced = asyncio.Event()

    def on_event(kind: str, **data: Any) -> None:
        events.append((kind, data))
        if kind == "chain.tx_replaced":
            replaced.set()

    client = make_client([anvil.rpc_url], keys[4], tmp_path / "txs.db", tx_timeout_s=0.5,
                         gas_bump_percent=25, on_event=on_event)
    await client.start()
    await client.pool.request("evm_setAutomine", [False])
    try:
        sending = asyncio.create_task(client.transfer_eth(SINK, 3))
        await asyncio.wait_for(replaced.wait(), 10)
        await client.pool.request("evm_setAutomine", [True])
        await client.pool.request("evm_mine", [])
        receipt = await asyncio.wait_for(sending, 10)
    finally:
        await client.pool.request("evm_setAutomine", [True])
    sent = next(data for kind, data in events if kind == "chain.tx_sent")
    bump = next(data for kind, data in events if kind == "chain.tx_replaced")
    mined_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    assert receipt["status"] == 1
    assert mined_hash == bump["tx_hash"] != sent["tx_hash"]
    mined = await client.pool.call(lambda w3: w3.eth.get_transaction(bump["tx_hash"]))
    assert int(mined["maxFeePerGas"]) == bump["max_fee"] >= sent["max_fee"] * 125 // 100
    assert int(mined["maxPriorityFeePerGas"]) >= sent["priority_fee"] * 125 // 100
    assert int(mined["nonce"]) == sent["nonce"] == 0
    from web3.exceptions import TransactionNotFound

    with pytest.raises(TransactionNotFound):
        await client.pool.call(lambda w3: w3.eth.get_transaction_receipt(sent["tx_hash"]))
    record = client.store.get(31337, client.address, 0)
    assert record is not None and record.state == "confirmed"
    assert record.all_hashes[0] == sent["tx_hash"] and record.tx_hash == bump["tx_hash"]
    count = await client.pool.call(
        lambda w3: w3.eth.get_transaction_count(client.address, "latest"))
    assert count == 1
    await client.pool.close()


async def test_receipt_timeout_leaves_the_transaction_to_settle_later(
        anvil: AnvilProcess, keys: tuple[str, ...], tmp_path: Path) -> None:
    client = make_client([anvil.rpc_url], keys[8], tmp_path / "txs.db", tx_timeout_s=0.3,
                         max_bumps=1)
    await client.start()
    await client.pool.request("evm_setAutomine", [False])
    try:
        with pytest.raises(TxTimeout, match="after 1 fee bumps"):
            await client.transfer_eth(SINK, 4)
        record = client.store.get(31337, client.address, 0)
        assert record is not None and record.state == "pending"
        assert len(record.all_hashes) == 2  # the original and one replacement
    finally:
        await client.pool.request("evm_setAutomine", [True])
    await client.pool.request("evm_mine", [])
    assert await client.reconcile() == []
    record = client.store.get(31337, client.address, 0)
    assert record is not None and record.state == "confirmed"
    assert record.tx_hash == record.all_hashes[-1]
    await client.pool.close()


async def test_failover_to_second_url_keeps_going(anvil: AnvilProcess, keys: tuple[str, ...],
                                                  tmp_path: Path) -> None:
    proxy = TcpProxy(anvil.port)
    proxy_url = await proxy.start()
    failovers: list[tuple[str, str, str]] = []
    client = make_client([proxy_url, anvil.rpc_url], keys[5], tmp_path / "txs.db")
    client.pool.on_failover = lambda old, new, why: failovers.append((old, new, why))
    await client.start()
    assert client.pool.rpc_url == proxy_url
    before = [await client.transfer_eth(SINK, 1) for _ in range(3)]
    await proxy.stop()
    after = [await client.transfer_eth(SINK, 1) for _ in range(3)]
    assert client.pool.rpc_url == anvil.rpc_url
    assert failovers and failovers[0][0] == proxy_url and failovers[0][1] == anvil.rpc_url
    assert await mined_nonces(client, before + after) == list(range(6))
    revived = TcpProxy(anvil.port)
    await revived.start(int(proxy_url.rsplit(":", 1)[1]))
    assert await client.pool.refresh() is True  # fail back to the preferred URL
    assert client.pool.rpc_url == proxy_url
    assert (await client.transfer_eth(SINK, 1))["status"] == 1
    await client.pool.close()
    await revived.stop()


async def test_send_during_total_outage_is_settled_after(anvil: AnvilProcess,
                                                         keys: tuple[str, ...],
                                                         tmp_path: Path) -> None:
    """A send whose broadcast failed for lack of any RPC stays recorded and goes out later."""
    proxy = TcpProxy(anvil.port)
    url = await proxy.start()
    client = make_client([url], keys[7], tmp_path / "txs.db")
    await client.start()
    first = await client.transfer_eth(SINK, 1)
    await proxy.stop()
    with pytest.raises(RpcUnavailable):
        await client.transfer_eth(SINK, 2)
    revived = TcpProxy(anvil.port)
    await revived.start(int(url.rsplit(":", 1)[1]))
    third = await client.transfer_eth(SINK, 3)
    lost = client.store.get(31337, client.address, 1)
    assert lost is not None
    settled = await client.wait(SentTx(client.address, 1, lost.tx_hash))
    assert await mined_nonces(client, [first, settled, third]) == [0, 1, 2]
    await client.pool.close()
    await revived.stop()


async def test_down_url_is_skipped_and_wrong_chain_refused(anvil: AnvilProcess) -> None:
    pool = RpcPool([dead_url(), anvil.rpc_url], 31337, request_timeout=2)
    await pool.connect()
    assert pool.rpc_url == anvil.rpc_url
    assert pool.describe()[0]["healthy"] is False
    assert pool.describe()[0]["reason"].startswith("unreachable")
    await pool.close()

    wrong = RpcPool([anvil.rpc_url], 1, request_timeout=2)
    with pytest.raises(RpcUnavailable, match="chain id 31337, expected 1"):
        await wrong.connect()
    await wrong.close()


async def test_websocket_url_sends(anvil: AnvilProcess, keys: tuple[str, ...],
                                   tmp_path: Path) -> None:
    client = make_client([anvil.ws_url], keys[6], tmp_path / "txs.db")
    await client.start()
    receipt = await client.transfer_eth(SINK, 1)
    assert receipt["status"] == 1
    await client.pool.close()


async def test_inprocess_chain_serves_when_anvil_is_missing(tmp_path: Path) -> None:
    w3, test_keys = inprocess_web3()
    pool = RpcPool.from_web3(w3)
    client = ChainClient(pool, LocalSigner.from_key(test_keys[0]), TxStore(tmp_path / "t.db"),
                         poll_interval=0.01)
    await client.start()
    receipts = await asyncio.gather(*(client.transfer_eth(SINK, 2) for _ in range(3)))
    assert [r["status"] for r in receipts] == [1, 1, 1]
    assert await client.balance(SINK) == 6


async def test_inprocess_system_runs_a_task_without_anvil(tmp_path: Path) -> None:
    from oarn_tui.chain.anvil import inprocess_system
    from oarn_tui.chain.bindings import OarnContracts, TaskSpec

    w3, test_keys, addresses = inprocess_system()
    pool = RpcPool.from_web3(w3)
    deployer = OarnContracts(ChainClient(pool, LocalSigner.from_key(test_keys[0]),
                                         TxStore(tmp_path / "d.db"), poll_interval=0.01),
                             addresses)
    executor = OarnContracts(ChainClient(pool, LocalSigner.from_key(test_keys[1]),
                                         TxStore(tmp_path / "e.db"), poll_interval=0.01),
                             addresses)
    await deployer.client.start()
    await executor.client.start()
    await deployer.transfer("gov", executor.client.address, await deployer.min_stake())
    await executor.stake(await executor.min_stake())
    deadline = await deployer.chain_time() + 3_600
    task_id = await deployer.submit_task(TaskSpec("bafym", "bafyi", 10**18, deadline))
    await executor.claim(task_id)
    await executor.submit_result(task_id, b"\x01" * 32, "bafyr")
    await executor.finalize(task_id)
    assert (await executor.get_task(task_id)).status == "finalized"
    assert await executor.token_balance("comp") >= 10**18

    # the same in-process chain behind the runtime's ChainService (no RPC URL, no discovery)
    from oarn_tui.chain.service import ChainService
    from oarn_tui.config import load_config
    from oarn_tui.runtime.node import NodeRuntime

    runtime = NodeRuntime(load_config(tmp_path / "home"), log_to_file=False)
    service = ChainService(pool=pool, addresses=addresses, peer_id="12D3KooWInProcess",
                           signer=LocalSigner.from_key(test_keys[2]), health_interval_s=0.02)
    runtime.add_service(service)
    await runtime.start()
    for _ in range(200):
        if service.status()["state"] == "running":
            break
        await asyncio.sleep(0.05)
    assert service.status()["state"] == "running" and service.status()["registered"] is True
    assert await executor.is_node_registered(service.status()["address"])

    # a new block height (which publishes no event) rebuilds the runtime's snapshot at once
    runtime.snapshot_max_age_s = 3600.0
    height = await pool.call(lambda w3: w3.eth.block_number)
    for _ in range(100):  # the registration mined a block: let the service read that height
        if service.block == height:
            break
        await asyncio.sleep(0.02)
    quiet = runtime.snapshot()
    await asyncio.sleep(0.2)  # several reads of an unchanged height
    assert runtime.snapshot() is quiet
    height = service.block
    await deployer.transfer("comp", executor.client.address, 1)
    for _ in range(100):
        if service.block != height:
            break
        await asyncio.sleep(0.02)
    assert service.block is not None and height is not None and service.block > height
    assert runtime.snapshot() is not quiet
    await runtime.stop()
    runtime.close()
