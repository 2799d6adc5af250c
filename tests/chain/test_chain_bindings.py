"""Typed bindings, event polling, discovery (registry and ENS) and the ChainService on anvil."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from oarn_tui.chain.anvil import AnvilProcess
from oarn_tui.chain.bindings import ContractRevert, OarnContracts, TaskSpec
from oarn_tui.chain.client import ChainClient
from oarn_tui.chain.contracts import abi
from oarn_tui.chain.deploy import DEFAULT_ENS_NAME, deploy_system, fund_account
from oarn_tui.chain.discovery import discover, resolve_ens
from oarn_tui.chain.events import LogPoller
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.rpc import RpcPool
from oarn_tui.chain.service import ChainService
from oarn_tui.config import load_config, set_key
from oarn_tui.wallet.signer import LocalSigner

TOKEN = 10**18
REQUESTER, EXECUTOR, OTHER, PROVIDER, NODE = 1, 2, 3, 4, 5


@pytest.fixture(scope="module")
def system(anvil: AnvilProcess, keys: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """The OARN contracts (with ENS) deployed once for this module, accounts funded."""
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(anvil.rpc_url))
    deployer = LocalSigner.from_key(keys[0])
    addresses = deploy_system(w3, deployer, with_ens=True)
    for index in (REQUESTER, EXECUTOR, OTHER, PROVIDER, NODE):
        who = LocalSigner.from_key(keys[index]).address
        fund_account(w3, deployer, addresses, who, gov=5_000 * TOKEN, comp=1_000 * TOKEN)
    yield addresses


async def contracts_for(anvil: AnvilProcess, key: str, system: dict[str, str],
                        db: Path) -> OarnContracts:
    client = ChainClient(RpcPool([anvil.rpc_url], 31337), LocalSigner.from_key(key),
                         TxStore(db), poll_interval=0.05)
    await client.start()
    return OarnContracts(client, system)


@pytest.fixture
async def actors(anvil: AnvilProcess, keys: tuple[str, ...], system: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[dict[int, OarnContracts]]:
    made = {i: await contracts_for(anvil, keys[i], system, tmp_path / f"{i}.db")
            for i in (REQUESTER, EXECUTOR, OTHER)}
    yield made
    for contracts in made.values():
        await contracts.client.pool.close()


async def new_task(requester: OarnContracts, redundancy: int = 1) -> int:
    deadline = await requester.chain_time() + 3_600
    return await requester.submit_task(TaskSpec(
        model_cid="bafymodel", input_cid="bafyinput", reward_per_executor=2 * TOKEN,
        deadline=deadline, redundancy=redundancy, claim_timeout_s=600))


async def test_r1_lifecycle_through_bindings(actors: dict[int, OarnContracts]) -> None:
    requester, executor = actors[REQUESTER], actors[EXECUTOR]
    await executor.stake(await executor.min_stake())
    assert await executor.stake_of() == await executor.min_stake()
    task_id = await new_task(requester)
    assert task_id in [t.task_id for t in await executor.open_tasks()]
    await executor.claim(task_id)
    with pytest.raises(ContractRevert, match=r"TaskRegistry\.AlreadyClaimed"):
        await executor.claim(task_id)
    before = await executor.token_balance("comp")
    await executor.submit_result(task_id, b"\x11" * 32, "bafyresult")
    await actors[OTHER].finalize(task_id)
    task = await executor.get_task(task_id)
    assert task.status == "finalized" and task.escrow == 0
    assert task.result_hash == "0x" + "11" * 32
    earned = await executor.token_balance("comp") - before
    assert earned >= 2 * TOKEN  # the reward, plus the minted bonus
    assert (await executor.executor_stats())["completed"] >= 1
    assert task_id not in [t.task_id for t in await executor.open_tasks()]
    with pytest.raises(ContractRevert, match=r"TaskRegistry\.TaskNotOpen"):
        await requester.cancel(task_id)
    other = await new_task(requester)
    await requester.cancel(other)
    assert (await requester.get_task(other)).status == "cancelled"


async def test_commitment_matches_the_contract(actors: dict[int, OarnContracts]) -> None:
    executor = actors[EXECUTOR]
    salt, result = b"\x05" * 32, b"\x22" * 32
    on_chain = await executor._read("task_registry", "commitmentFor", result, "bafyr", salt,
                                    executor.client.address)
    assert bytes(on_chain) == executor.commitment_for(result, "bafyr", salt)


async def test_events_arrive_only_after_confirmations(anvil: AnvilProcess,
                                                      actors: dict[int, OarnContracts],
                                                      system: dict[str, str]) -> None:
    requester = actors[REQUESTER]
    pool = requester.client.pool
    head = await requester.client.block_number()
    poller = LogPoller(pool, [system["gov_token"]], [abi("GOVToken")], confirmations=2,
                       from_block=head + 1, event_names=["Transfer"])
    receipt = await requester.transfer("gov", actors[OTHER].client.address, 3 * TOKEN)
    assert await poller.poll() == []  # mined, but 0 confirmations deep
    await pool.request("anvil_mine", ["0x1"])
    assert await poller.poll() == []  # 1 deep
    await pool.request("anvil_mine", ["0x1"])
    events = await poller.poll()
    assert [(e.name, e.args["value"], e.block_number) for e in events] == \
        [("Transfer", 3 * TOKEN, receipt.block)]
    await pool.request("anvil_mine", ["0x3"])
    assert await poller.poll() == []  # never delivered twice


async def test_discovery_from_registry_and_ens(anvil: AnvilProcess, keys: tuple[str, ...],
                                               system: dict[str, str], tmp_path: Path) -> None:
    provider = await contracts_for(anvil, keys[PROVIDER], system, tmp_path / "p.db")
    maddr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBootstrapPeerForTheTest"
    await provider.register_provider(1, maddr, 1_000 * TOKEN)
    await provider.register_provider(0, anvil.ws_url, 1_000 * TOKEN)
    pool = provider.client.pool
    found = await discover(pool, system["registry"])
    assert found.rpc_providers == [anvil.ws_url]
    for role in ("task_registry", "gov_token", "comp_token"):
        assert found.contracts[role] == system[role]
    assert found.bootstrap == [maddr]
    assert found.min_executor_stake == await provider.min_stake()
    resolved = await resolve_ens(pool, DEFAULT_ENS_NAME, system["ens_registry"])
    assert resolved == system["registry"]
    await pool.close()


def write_home(home: Path, rpc_urls: list[str], registry: str) -> None:
    set_key(home, "node.profile", '"devnet"')
    set_key(home, "blockchain.manual_rpc_urls", json.dumps(rpc_urls))
    set_key(home, "blockchain.registry_address", json.dumps(registry))
    set_key(home, "blockchain.chain_id", "31337")


async def wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_service_registers_node_once_and_degrades_without_rpc(
        anvil: AnvilProcess, keys: tuple[str, ...], system: dict[str, str],
        tmp_path: Path) -> None:
    from oarn_tui.runtime.node import NodeRuntime

    write_home(tmp_path, [anvil.rpc_url], system["registry"])
    requester = await contracts_for(anvil, keys[REQUESTER], system, tmp_path / "r.db")
    await new_task(requester)
    providers = (await discover(requester.client.pool, system["registry"])).rpc_providers
    await requester.client.pool.close()
    signer = LocalSigner.from_key(keys[NODE])
    peer_id = "12D3KooWServiceTestPeer"
    maddr = f"/ip4/127.0.0.1/tcp/4002/p2p/{peer_id}"
    for run in range(2):
        runtime = NodeRuntime(load_config(tmp_path), log_to_file=False)
        service = ChainService(signer=signer, peer_id=peer_id, bootstrap_addr=lambda: maddr,
                               capabilities={"frameworks": ["onnx"], "ram_mb": 4096})
        runtime.add_service(service)
        await runtime.start()
        await wait_for(lambda s=service: s.status()["state"] == "running")
        status = service.status()
        assert status["chain_id"] == 31337 and status["rpc_url"] == anvil.rpc_url
        assert status["block"] > 0 and status["registered"] is True
        assert status["bootstrap_registered"] is True
        kinds = [e.kind for e in runtime.events.recent(prefix="chain.")]
        expected = "chain.node_registered" if run == 0 else "chain.node_already_registered"
        assert expected in kinds
        assert ("chain.bootstrap_registered" in kinds) == (run == 0)
        assert maddr in (await discover(service.pool, system["registry"])).bootstrap
        # the RPC provider found in the registry became a fallback endpoint
        assert [e["url"] for e in status["endpoints"]] == [anvil.rpc_url, *providers]
        events = await service.task_event_poller(event_names=["TaskSubmitted"]).poll()
        assert events and all(e.name == "TaskSubmitted" for e in events)
        await runtime.stop()
        runtime.close()
    node = await (await contracts_for(anvil, keys[NODE], system, tmp_path / "n.db")).get_node()
    assert node["peer_id"] == peer_id and json.loads(node["capabilities"])["ram_mb"] == 4096

    from tests.chain.chain_support import dead_url

    down_home = tmp_path / "down"
    write_home(down_home, [dead_url()], system["registry"])
    runtime = NodeRuntime(load_config(down_home), log_to_file=False)
    service = ChainService(signer=signer, peer_id=peer_id, retry_interval_s=0.2)
    runtime.add_service(service)
    await runtime.start()
    await wait_for(lambda: "unreachable" in service.status()["reason"])
    assert service.status()["state"] == "degraded"
    assert runtime.service_errors == {}
    await runtime.stop()
    runtime.close()
