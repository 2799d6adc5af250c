"""Typed service faces: no lookups by name outside the runtime, each service returns its own
status section (the runtime merges them in one place), typed receipts, typed retry decisions."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
import re
import time
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from web3.exceptions import TransactionNotFound, Web3RPCError

import oarn_tui
from oarn_tui.chain.bindings import ContractRevert
from oarn_tui.chain.client import ChainError, TxRejected, TxReverted, TxTimeout
from oarn_tui.chain.receipts import TxReceipt
from oarn_tui.chain.rpc import RpcUnavailable
from oarn_tui.config import load_config
from oarn_tui.core.service import ServiceBase, ServiceHost
from oarn_tui.pipeline.worker import Handles, PermanentFailure, transient
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.storage.exchange import NoProviders
from oarn_tui.storage.fetch import FetchError
from oarn_tui.storage.limits import ContentRefused

PACKAGE = Path(oarn_tui.__file__).parent

# The status document of an assembled node (network on 127.0.0.1, no wallet, no RPC) as the code
# before the faces produced it: every top-level field, and the keys of each block.
STATUS_BEFORE_FACES: dict[str, list[str] | None] = {
    "accepting": None, "earnings": None, "home": None, "listen_addrs": None,
    "node_name": None, "peer_id": None, "peer_list": None, "peers": None, "pid": None,
    "profile": None, "task_list": None, "topics": None, "uptime_s": None, "version": None,
    "tasks": [],
    "chain": ["block", "chain_id", "reason", "registered", "registry", "rpc_url", "state"],
    "compute": ["running", "workers"],
    "hardware": ["cpu_percent", "gpus", "ram_available_mb", "ram_total_mb", "timestamp"],
    "metrics": ["url"],
    "network": ["reachable", "reachable_basis", "state"],
    "pipeline": ["active", "announcements", "determinism_class", "queued", "worker"],
    "sandbox": ["bwrap", "layers", "ok", "reason"],
    "services": ["chain", "compute", "hardware", "metrics", "p2p", "pipeline", "storage",
                 "wallet"],  # and "links", the glue service the faces dissolved
    "telemetry": ["cpu_percent", "gpu_hint", "gpus", "history", "ram_total_mb",
                  "ram_used_mb"],
    "transfer": ["received", "sent"],
    "wallet": ["address", "balances", "earned", "pending_rewards", "reason", "state",
               "unlock"],
}


def _modules(*, outside: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] != outside:
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_services(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "services"


def test_no_module_outside_the_runtime_looks_up_a_service_by_name() -> None:
    """`x.services["chain"]`, `x.services.get("p2p")`, `getattr(x, "services")` are how
    callers reached into concrete services; they get faces handed in instead."""
    found = []
    for path, tree in _modules(outside="runtime"):
        for node in ast.walk(tree):
            lookup = (isinstance(node, ast.Subscript) and _is_services(node.value)) or (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get" and _is_services(node.func.value)) or (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == "services")
            if lookup:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


def test_no_service_writes_into_the_shared_status_document() -> None:
    """The legacy hook `contribute_status(doc)` let seven writers mutate one dict; each
    service now returns its own section from `status_fields()`."""
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}"
             for path, tree in _modules(outside="")
             for node in ast.walk(tree)
             if (isinstance(node, ast.FunctionDef) and node.name == "contribute_status")
             or (isinstance(node, ast.Constant) and node.value == "contribute_status")]
    assert found == []


def test_pipeline_handles_and_service_hooks_are_typed() -> None:
    """`Handles` holds faces and the `ServiceHost`, nothing typed `Any`; every service's
    `start` takes a `ServiceHost`."""
    from oarn_tui.chain.service import ChainService
    from oarn_tui.compute.service import ComputeService
    from oarn_tui.hardware.service import HardwareService
    from oarn_tui.p2p.service import P2PService
    from oarn_tui.pipeline.service import PipelineService
    from oarn_tui.runtime.metrics import MetricsService
    from oarn_tui.storage.service import StorageService
    from oarn_tui.wallet.service import WalletService

    fields = {field.name: str(field.type) for field in dataclasses.fields(Handles)}
    assert fields == {"host": "ServiceHost", "chain": "ChainFace", "storage": "StorageFace",
                      "compute": "ComputeFace", "p2p": "P2PFace | None",
                      "metrics": "InferenceTimer | None"}
    for service in (ChainService, ComputeService, HardwareService, P2PService,
                    PipelineService, MetricsService, StorageService, WalletService):
        host = list(inspect.signature(service.start).parameters)[1]  # the one after self
        assert typing.get_type_hints(service.start)[host] is ServiceHost, service.__name__


class Section(ServiceBase):
    """A real service with a fixed status section, or one whose section fails."""

    def __init__(self, name: str, fields: Mapping[str, Any] | None) -> None:
        self.name, self.fields = name, fields

    async def start(self, host: ServiceHost) -> None:
        return None

    async def stop(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"state": "running", "reason": ""}

    def status_fields(self) -> Mapping[str, Any]:
        if self.fields is None:
            raise RuntimeError("section exploded")
        return self.fields


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[NodeRuntime]:
    rt = NodeRuntime(load_config(tmp_path, env={}), log_to_file=False)
    yield rt
    rt.close()


async def test_a_failing_section_adds_nothing_and_the_others_stay(runtime: NodeRuntime) -> None:
    runtime.add_service(Section("broken", None))
    runtime.add_service(Section("fine", {"fine": {"ok": True}}))
    await runtime.start()
    doc = runtime.status()
    assert doc["fine"] == {"ok": True}
    assert "broken" not in doc and doc["services"]["broken"]["state"] == "running"
    assert doc["wallet"]["state"] == "missing" and doc["chain"]["state"] == "disabled"
    await runtime.stop()


async def test_shared_blocks_get_each_owners_keys_and_sections_stay_untouched(
        runtime: NodeRuntime) -> None:
    """`wallet` = the wallet service's keys + the chain's balances + the ledger's earned and
    pending rewards; the p2p host's peer ID wins over the vault's; no section is mutated."""
    wallet_section = {"wallet": {"address": "0xabc", "state": "unlocked", "unlock": "prompt",
                                 "reason": ""}, "peer_id": "12D3KooWVault"}
    chain_section = {"chain": {"state": "running"}, "wallet": {"balances": {"eth": "1"}}}
    p2p_section = {"peer_id": "12D3KooWHost", "network": {"state": "connected"}}
    frozen = repr((wallet_section, chain_section, p2p_section))
    for name, fields in (("wallet", wallet_section), ("p2p", p2p_section),
                         ("chain", chain_section)):
        runtime.add_service(Section(name, fields))
    runtime.ledger.transition("7", "claimed", role="worker", reward_wei=3 * 10**18)
    await runtime.start()
    doc = runtime.status()
    assert doc["wallet"] == {"address": "0xabc", "state": "unlocked", "unlock": "prompt",
                             "reason": "", "balances": {"eth": "1"},
                             "earned": doc["wallet"]["earned"],
                             "pending_rewards": doc["wallet"]["pending_rewards"]}
    assert doc["wallet"]["pending_rewards"]["wei"] == str(3 * 10**18)
    assert doc["peer_id"] == "12D3KooWHost"
    assert doc["network"] == {"state": "connected", "reachable": "unknown"}
    assert repr((wallet_section, chain_section, p2p_section)) == frozen
    await runtime.stop()


async def test_real_services_return_their_own_sections(runtime: NodeRuntime) -> None:
    """The chain service owns `chain` (with reason and registry) and `wallet.balances`, the
    wallet service `wallet.state`; the runtime merges them (was: the glue service)."""
    from oarn_tui.chain.service import ChainService
    from oarn_tui.wallet.service import WalletService

    wallet = WalletService(env={})
    chain = ChainService(wallet=wallet)
    runtime.add_service(wallet)
    runtime.add_service(chain)
    await runtime.start()
    assert set(chain.status_fields()) == {"chain", "wallet"}
    doc = runtime.status()
    assert doc["chain"]["state"] == "degraded"
    assert doc["chain"]["reason"] == "no RPC URL configured (blockchain.manual_rpc_urls)"
    assert set(doc["chain"]) == set(STATUS_BEFORE_FACES["chain"] or ())
    assert doc["wallet"]["state"] == "missing" and doc["wallet"]["balances"] == {}
    await runtime.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_the_assembled_node_keeps_every_status_field(tmp_path: Path) -> None:
    from oarn_tui.runtime.assemble import build_runtime

    env = {"OARN_NETWORK_MODE": "standard", "OARN_NETWORK_LISTEN_HOST": "127.0.0.1"}
    runtime = build_runtime(load_config(tmp_path, env=env), log_to_file=False)
    await runtime.start()
    try:
        deadline = time.monotonic() + 60
        doc = runtime.status()
        while not (doc.get("telemetry") and doc.get("transfer")) \
                and time.monotonic() < deadline:  # first sample, bitswap up
            await asyncio.sleep(0.2)
            doc = runtime.status()
        missing = {field: sorted(set(keys or ()) - set(doc[field] or ()))
                   if field in doc else "the field" for field, keys in STATUS_BEFORE_FACES.items()
                   if field not in doc or (keys and set(keys) - set(doc[field] or ()))}
        assert missing == {}
        assert runtime.chain.contracts is None and runtime.requester is not None
    finally:
        await runtime.stop()
        runtime.close()


def test_transient_matches_exception_types_not_names() -> None:
    class FlakyRpc(RpcUnavailable):
        pass

    retry = [RpcUnavailable("down"), FlakyRpc("down"), TxTimeout("stuck"), ChainError("odd"),
             Web3RPCError("rpc said no"), TransactionNotFound("not yet"),
             aiohttp.ClientError("http"), aiohttp.ServerDisconnectedError(),
             aiohttp.ClientPayloadError("truncated"), NoProviders("nobody"),
             FetchError("peer went away"), ConnectionResetError(), TimeoutError()]
    never = [ContractRevert("TaskRegistry.AlreadyClaimed"), TxRejected("nonce too low"),
             TxReverted("reverted", {}), ContentRefused("too big"),
             PermanentFailure("bad model"), ValueError("bug"), KeyError("bug")]
    assert [type(e).__name__ for e in retry if not transient(e)] == []
    assert [type(e).__name__ for e in never if transient(e)] == []


@pytest.mark.timeout(120)
async def test_chain_writes_return_a_frozen_typed_receipt(tmp_path: Path) -> None:
    from tests.security.worker_node import start_chain

    chain = await start_chain(tmp_path)
    other = "0x000000000000000000000000000000000000bEEF"
    for token in ("eth", "gov"):
        receipt = await chain.requester.transfer(token, other, 5)
        assert isinstance(receipt, TxReceipt)
        assert re.fullmatch(r"0x[0-9a-f]{64}", receipt.tx_hash)
        assert receipt.status == 1 and receipt.ok and receipt.gas_used > 0
        assert receipt.block == await chain.requester.block_number()
        with pytest.raises(dataclasses.FrozenInstanceError):
            receipt.block = 0  # type: ignore[misc]
    assert receipt.to_json() == {"tx_hash": receipt.tx_hash, "block": receipt.block,
                                 "gas_used": receipt.gas_used}
