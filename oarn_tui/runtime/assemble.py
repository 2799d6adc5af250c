"""Builds a `NodeRuntime` with every service the config asks for (the daemon, the dashboard and
the requester commands all use this, so they run the same node).

Start order (from the services' dependencies): wallet, hardware, metrics, storage, p2p, compute,
chain, links, pipeline. `LinksService` is the glue no single layer owns: it dials the bootstrap
peers the chain registry lists, keeps the wallet's balances fresh for the dashboard, and turns
telemetry into the status document's `telemetry` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from oarn_tui.amounts import amount_json
from oarn_tui.config import NodeConfig
from oarn_tui.core.service import ServiceBase
from oarn_tui.hardware.telemetry import sample_points
from oarn_tui.runtime.node import NodeRuntime

log = logging.getLogger("oarn.links")

BALANCE_REFRESH_S = 5.0
HISTORY_POINTS = 60
PENDING_STAGES = ("claimed", "fetching", "running", "storing", "submitted")


def _gpu_view(gpu: dict[str, Any]) -> dict[str, Any]:
    return {"index": gpu.get("index"), "name": gpu.get("name"),
            "utilization_pct": gpu.get("utilization_percent"),
            "memory_used_mb": gpu.get("memory_used_mb"),
            "memory_total_mb": gpu.get("memory_total_mb"),
            "temperature_c": gpu.get("temperature_c"), "power_w": gpu.get("power_w"),
            "power_limit_w": gpu.get("power_limit_w")}


class LinksService(ServiceBase):
    """Glue between layers: bootstrap from the registry, balances, telemetry for the status."""

    name = "links"
    depends_on: tuple[str, ...] = ("chain", "p2p", "hardware", "wallet")

    def __init__(self) -> None:
        self.runtime: Any = None
        self.balances: dict[str, int] = {}
        self.reputation: dict[str, int] = {}  # on-chain completed / disagreed / timed out
        self.dialled: set[str] = set()
        self.revision = 0
        """Bumped when balances or reputation change (they publish no event; see runtime)."""
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: NodeRuntime) -> None:
        self.runtime = runtime
        runtime.commands.register("wallet.send", self.send)
        self._task = asyncio.create_task(self._loop(), name="links")

    async def send(self, to: str, amount: str, token: str = "ETH") -> dict[str, Any]:
        """`wallet.send`: transfer ETH, GOV or COMP from the node's account (confirmed by the
        front end before it calls this)."""
        from eth_utils import is_address, to_checksum_address

        from oarn_tui.amounts import AmountError, parse_amount
        from oarn_tui.core.service import CommandError

        chain = self.runtime.services.get("chain")
        if chain is None or chain.contracts is None:
            raise CommandError("cannot send: the chain is not connected or the wallet is locked")
        if not is_address(to):
            raise CommandError(f"{to!r} is not an Ethereum address")
        token = token.lower()
        if token not in ("eth", "gov", "comp"):
            raise CommandError(f"unknown token {token!r}; use ETH, GOV or COMP")
        try:
            wei = parse_amount(amount)
        except AmountError as exc:
            raise CommandError(str(exc)) from None
        receipt = await chain.contracts.transfer(token, to_checksum_address(to), wei)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info("sent tokens", extra={"token": token, "amount": amount, "tx_hash": tx_hash})
        return {"tx_hash": tx_hash, "amount": amount_json(wei), "token": token.upper()}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def status(self) -> dict[str, Any]:
        return {"state": "running", "reason": f"{len(self.dialled)} bootstrap peers dialled"}

    async def _loop(self) -> None:
        chain = self.runtime.services.get("chain")
        while True:
            try:
                if chain is not None and chain.contracts is not None:
                    await self._dial_bootstrap(chain)
                    balances = await chain.contracts.balances()
                    reputation = await chain.contracts.executor_stats()
                    if (balances, reputation) != (self.balances, self.reputation):
                        self.balances, self.reputation = balances, reputation
                        self.revision += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the RPC may be down: the chain service reports it
                log.debug("links refresh failed: %s", exc)
            await asyncio.sleep(BALANCE_REFRESH_S)

    async def _dial_bootstrap(self, chain: Any) -> None:
        p2p = self.runtime.services.get("p2p")
        node = getattr(p2p, "node", None)
        if node is None or chain.discovered is None:
            return
        own = set(node.listen_addrs())
        for maddr in chain.discovered.bootstrap:
            if maddr in self.dialled or maddr in own or node.peer_id in maddr:
                continue
            try:
                await node.connect(maddr)
                self.dialled.add(maddr)
                log.info("dialled bootstrap peer from the registry", extra={"maddr": maddr})
            except Exception as exc:
                log.debug("bootstrap %s unreachable: %s", maddr, exc)

    def contribute_status(self, doc: dict[str, Any]) -> None:
        runtime = self.runtime
        chain = runtime.services.get("chain")
        if chain is not None:
            status = chain.status()
            doc["chain"] = {"state": status["state"], "reason": status["reason"],
                            "chain_id": status["chain_id"], "block": status["block"],
                            "rpc_url": status["rpc_url"], "registry": status.get("registry"),
                            "registered": status.get("registered")}
        exchange = runtime.services["storage"].fetcher if "storage" in runtime.services \
            else None
        if exchange is not None and hasattr(exchange, "adapter"):
            doc["transfer"] = {"received": exchange.fetched_bytes,
                               "sent": exchange.adapter.served_bytes}
        if self.reputation:
            doc["reputation"] = self.reputation
        wallet = doc.setdefault("wallet", {})
        wallet["balances"] = {token: amount_json(wei) for token, wei in self.balances.items()}
        pending = sum(t.reward_wei for t in runtime.ledger.in_stages(PENDING_STAGES)
                      if t.role == "worker")
        wallet["pending_rewards"] = amount_json(pending)
        hardware = runtime.services.get("hardware")
        latest = getattr(hardware, "latest", None)
        if latest is None:
            return
        history: dict[str, list[float]] = {}
        for sample in hardware.history()[-HISTORY_POINTS:]:
            for name, value in sample_points(sample.to_dict()).items():
                history.setdefault(name, []).append(round(value, 1))
        doc["telemetry"] = {
            "cpu_percent": latest.cpu_percent, "ram_used_mb": latest.ram_used_mb,
            "ram_total_mb": latest.ram_total_mb,
            "gpus": [_gpu_view(g.to_dict()) for g in latest.gpus], "history": history,
            "gpu_hint": "" if latest.gpus else hardware.nvml.hint()}


def _capabilities(runtime: NodeRuntime) -> dict[str, Any]:
    """The summary a node registers on chain: frameworks, GPUs, determinism class."""
    hardware = runtime.services.get("hardware")
    latest = getattr(hardware, "latest", None)
    pipeline = runtime.services.get("pipeline")
    return {"frameworks": list(runtime.config.compute.frameworks),
            "gpus": len(latest.gpus) if latest else 0,
            "vram_mb": latest.vram_free_mb if latest else 0,
            "class": getattr(pipeline, "class_id", 0)}


def _bootstrap_addr(runtime: NodeRuntime) -> str | None:
    """Devnet nodes list themselves as bootstrap peers (DESIGN: devnet conventions)."""
    if runtime.config.node.profile != "devnet":
        return None
    p2p = runtime.services.get("p2p")
    node = getattr(p2p, "node", None)
    if node is None:
        return None
    addrs = [a for a in node.listen_addrs() if "/tcp/" in a]
    return f"{addrs[0]}/p2p/{node.peer_id}" if addrs and "/p2p/" not in addrs[0] else \
        (addrs[0] if addrs else None)


def build_runtime(config: NodeConfig, *, passphrase: bytearray | None = None,
                  unlock_source: str = "none", log_to_file: bool = True,
                  worker: bool = True) -> NodeRuntime:
    """A runtime with its services added (not started). `passphrase` unlocks the wallet;
    `worker=False` builds a requester-only node (it never claims tasks)."""
    from oarn_tui.chain.service import ChainService
    from oarn_tui.compute.service import ComputeService
    from oarn_tui.hardware.service import HardwareService
    from oarn_tui.p2p.service import P2PService
    from oarn_tui.pipeline.service import PipelineService
    from oarn_tui.runtime.metrics import MetricsService
    from oarn_tui.storage.service import StorageService
    from oarn_tui.wallet.service import WalletService

    runtime = NodeRuntime(config, log_to_file=log_to_file)
    secret = bytes(passphrase).decode("utf-8") if passphrase is not None else None
    runtime.add_service(WalletService(passphrase=secret, unlock_method=unlock_source))
    runtime.add_service(MetricsService())
    runtime.add_service(HardwareService())
    runtime.add_service(StorageService())
    runtime.add_service(ComputeService())
    runtime.add_service(P2PService())
    runtime.add_service(ChainService(capabilities=lambda: _capabilities(runtime),
                                     bootstrap_addr=lambda: _bootstrap_addr(runtime)))
    runtime.add_service(LinksService())
    runtime.add_service(PipelineService(worker=worker))
    return runtime
