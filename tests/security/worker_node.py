"""A worker node on a real in-process chain (py-evm) whose every RPC request is counted, and
signed announcements from fresh identities — the adversary's side of the security tests."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3.providers.eth_tester import AsyncEthereumTesterProvider

from oarn_tui.chain.bindings import OarnContracts, TaskSpec
from oarn_tui.chain.client import ChainClient
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.rpc import RpcPool
from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import Envelope, decode_message, encode_message, make_binding
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.wallet.signer import LocalSigner

TOKEN = 10**18


class CountingProvider(AsyncEthereumTesterProvider):
    """The in-process chain; counts each JSON-RPC request by method and `eth_call` selector."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def make_request(self, method: Any, params: Any) -> Any:
        name = str(method)
        if name == "eth_call" and params and isinstance(params[0], dict):
            name = "eth_call:" + str(params[0].get("data") or params[0].get("input") or "")[:10]
        self.calls[name] += 1
        return await super().make_request(method, params)


def task_registry_selectors() -> dict[str, str]:
    """`eth_call:0x…` key → TaskRegistry function name."""
    from eth_utils import function_abi_to_4byte_selector

    from oarn_tui.chain.contracts import abi

    return {"eth_call:0x" + function_abi_to_4byte_selector(item).hex(): item["name"]
            for item in abi("TaskRegistry") if item.get("type") == "function"}


@dataclass
class Chain:
    """The chain, its deployment and a requester account (the deployer) to submit tasks."""

    provider: CountingProvider
    pool: RpcPool
    keys: tuple[str, ...]
    addresses: dict[str, str]
    requester: OarnContracts

    def task_reads(self) -> Counter[str]:
        """TaskRegistry reads so far, by function name (plus `eth_getBlockByNumber`)."""
        names = task_registry_selectors()
        reads: Counter[str] = Counter()
        for key, count in self.provider.calls.items():
            if key in names:
                reads[names[key]] += count
            elif key == "eth_getBlockByNumber":
                reads[key] += count
        return reads

    async def submit(self, model_cid: str, input_cid: str, **changes: Any) -> int:
        deadline = await self.requester.chain_time() + 3_600
        spec = TaskSpec(model_cid, input_cid, TOKEN, deadline, max_runtime_s=60, **changes)
        return await self.requester.submit_task(spec)


async def start_chain(tmp_path: Path) -> Chain:
    from web3 import AsyncWeb3, Web3
    from web3.providers.eth_tester import EthereumTesterProvider

    from oarn_tui.chain.deploy import deploy_system

    provider = CountingProvider()
    keys = tuple(k.to_hex() for k in provider.ethereum_tester.backend.account_keys)
    sync_w3 = Web3(EthereumTesterProvider(ethereum_tester=provider.ethereum_tester))
    addresses = deploy_system(sync_w3, LocalSigner.from_key(keys[0]))
    pool = RpcPool.from_web3(AsyncWeb3(provider))
    requester = OarnContracts(ChainClient(pool, LocalSigner.from_key(keys[0]),
                                          TxStore(tmp_path / "requester-txs.db"),
                                          poll_interval=0.01), addresses)
    await requester.client.start()
    return Chain(provider, pool, keys, addresses, requester)


async def stake_worker(chain: Chain, key: str, tmp_path: Path) -> None:
    worker = OarnContracts(ChainClient(chain.pool, LocalSigner.from_key(key),
                                       TxStore(tmp_path / "stake-txs.db"), poll_interval=0.01),
                           chain.addresses)
    await worker.client.start()
    stake = await chain.requester.min_stake()
    await chain.requester.transfer("gov", worker.client.address, stake)
    await worker.stake(stake)


async def start_worker(chain: Chain, home: Path, env: dict[str, str] | None = None,
                       key_index: int = 1) -> NodeRuntime:
    """A worker runtime (storage, hardware, compute, chain, pipeline; no p2p: the tests hand
    announcements to the pipeline's gossip callback) connected and ready."""
    from oarn_tui.chain.service import ChainService
    from oarn_tui.compute.service import ComputeService
    from oarn_tui.config import load_config
    from oarn_tui.hardware.service import HardwareService
    from oarn_tui.pipeline.service import PipelineService
    from oarn_tui.storage.service import StorageService

    runtime = NodeRuntime(load_config(home, env=env or {}), log_to_file=False)
    storage, hardware = StorageService(), HardwareService()
    compute = ComputeService(hardware=hardware)
    chain_service = ChainService(pool=chain.pool, addresses=chain.addresses,
                                 peer_id=f"12D3KooWWorker{key_index}",
                                 signer=LocalSigner.from_key(chain.keys[key_index]),
                                 health_interval_s=0.5)
    pipeline = PipelineService(chain=chain_service, storage=storage, compute=compute)
    for service in (storage, hardware, compute, chain_service, pipeline):
        runtime.add_service(service)
    await runtime.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = runtime.services["pipeline"].status()["reason"] == "ready"
        if ready and runtime.services["hardware"].latest is not None:
            return runtime
        await asyncio.sleep(0.05)
    await runtime.stop()
    raise TimeoutError("the worker did not become ready within 60 s")


def announcement(items: list[dict[str, Any]], key_pair: Any = None,
                 account_key: str | None = None) -> Envelope:
    """A signed `tasks` announcement as a peer sends it (a fresh identity by default, bound to
    `account_key`'s account or to a fresh random account)."""
    key_pair = key_pair or generate_identity()
    signer = LocalSigner.from_key(account_key or "0x" + os.urandom(32).hex())
    data = encode_message(key_pair, "tasks", {"tasks": items},
                          make_binding(signer, peer_id_of(key_pair)))
    return decode_message(data)


def item(task_id: int, model_name: str = "", model_cid: str = "", input_cid: str = ""
         ) -> dict[str, Any]:
    return {"task_id": task_id, "model_cid": model_cid, "input_cid": input_cid,
            "framework": "onnx", "reward_wei": str(TOKEN), "redundancy": 1,
            "model_name": model_name}


async def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
