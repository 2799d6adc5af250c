"""`ChainService`: the runtime's connection to the chain (name "chain", depends on "wallet").

Construct it as `ChainService(peer_id=..., capabilities=..., bootstrap_addr=...)` (values or
callables); the signer comes from the runtime's "wallet" service unless one is passed. For the
in-process py-evm chain pass `pool=RpcPool.from_web3(w3)` and `addresses=` from
`anvil.inprocess_system()`.

It connects to the configured RPC URLs (failover), discovers the OARN contracts from the
registry, settles transactions a previous run left pending, and registers the node's peer ID and
capabilities in the OARNRegistry if they are not there yet (and says so in an event). An
unreachable RPC or a locked wallet makes it *degraded*, never dead: it keeps retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from oarn_tui.chain.bindings import OarnContracts
from oarn_tui.chain.client import ChainClient, ChainError
from oarn_tui.chain.contracts import abi
from oarn_tui.chain.discovery import Discovered, DiscoveryError, discover_from_config
from oarn_tui.chain.events import LogPoller
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.rpc import RpcPool, RpcUnavailable
from oarn_tui.core.service import ServiceBase

log = logging.getLogger(__name__)
Provider = Callable[[], Any]
BOOTSTRAP_KIND = 1


def _value(source: Any) -> Any:
    return source() if callable(source) else source


class ChainService(ServiceBase):
    """Keeps a `ChainClient` connected and the node registered; reports `chain {...}`."""

    name = "chain"
    depends_on: tuple[str, ...] = ("wallet",)

    def __init__(self, *, peer_id: str | Provider | None = None,
                 capabilities: dict[str, Any] | str | Provider | None = None,
                 signer: Any | None = None, retry_interval_s: float = 5.0,
                 health_interval_s: float = 10.0, pool: RpcPool | None = None,
                 ens_registry: str | None = None,
                 bootstrap_addr: str | Provider | None = None,
                 addresses: dict[str, str] | None = None) -> None:
        self._peer_id = peer_id
        self._capabilities = capabilities
        self._signer = signer
        self.retry_interval_s = retry_interval_s
        self.health_interval_s = health_interval_s
        self.pool = pool
        self.ens_registry = ens_registry
        self._bootstrap_addr = bootstrap_addr
        self._addresses = addresses
        self.bootstrap_registered: bool | None = None
        self.client: ChainClient | None = None
        self.contracts: OarnContracts | None = None
        self.discovered: Discovered | None = None
        self.registered: bool | None = None
        self.state = "stopped"
        self.reason = "not started"
        self.block: int | None = None
        self.revision = 0
        """Bumped when the block height read changes (it publishes no event; see runtime)."""
        self.connected = asyncio.Event()
        self._runtime: Any = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Task[Any]] = set()

    # -- runtime interface -----------------------------------------------------------------

    async def start(self, runtime: Any) -> None:
        self._runtime = runtime
        config = runtime.config
        if self.pool is None:
            urls = list(config.blockchain.manual_rpc_urls)
            if not urls:
                self._set("degraded", "no RPC URL configured (blockchain.manual_rpc_urls)")
                return
            self.pool = RpcPool(urls, config.blockchain.chain_id)
        self.pool.on_failover = lambda old, new, why: self._publish(
            "chain.rpc_failover", old=old, new=new, reason=why)
        commands = getattr(runtime, "commands", None)
        if commands is not None:
            commands.register("chain.status", self._status_command)
        self._set("degraded", "connecting")
        self._task = asyncio.create_task(self._run(), name="chain-service")

    async def stop(self) -> None:
        for waiter in list(self._waiters):
            waiter.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.pool is not None:
            await self.pool.close()
        self._set("stopped", "stopped")

    def status(self) -> dict[str, Any]:
        chain_id = self.pool.chain_id if self.pool is not None else None
        return {"state": self.state, "reason": self.reason, "chain_id": chain_id,
                "block": self.block,
                "rpc_url": self.pool.rpc_url if self.pool is not None else None,
                "endpoints": self.pool.describe() if self.pool is not None else [],
                "address": self.client.address if self.client is not None else None,
                "registry": self.discovered.registry if self.discovered else None,
                "registered": self.registered,
                "bootstrap_registered": self.bootstrap_registered}

    async def _status_command(self, **_params: Any) -> dict[str, Any]:
        return self.status()

    # -- internals -------------------------------------------------------------------------

    def _set(self, state: str, reason: str) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self._publish("chain.state", state=state, reason=reason)

    def _set_block(self, block: int) -> None:
        if block != self.block:
            self.block = block
            self.revision += 1

    def _publish(self, kind: str, **data: Any) -> None:
        events = getattr(self._runtime, "events", None)
        if events is not None:
            events.publish(kind, **data)

    def _wallet_signer(self) -> Any | None:
        if self._signer is not None:
            return self._signer
        services = getattr(self._runtime, "services", {}) or {}
        wallet = services.get("wallet") if hasattr(services, "get") else None
        return getattr(wallet, "signer", None) if wallet is not None else None

    def _wallet_peer_id(self) -> str | None:
        peer_id = _value(self._peer_id)
        if peer_id:
            return str(peer_id)
        services = getattr(self._runtime, "services", {}) or {}
        wallet = services.get("wallet") if hasattr(services, "get") else None
        unlocked = getattr(wallet, "unlocked", None) if wallet is not None else None
        return getattr(unlocked, "peer_id", None)

    async def _run(self) -> None:
        """Connect (retrying), then watch the head; reconnect whenever the RPC goes away."""
        while True:
            try:
                await self._connect()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except (RpcUnavailable, DiscoveryError) as exc:
                self.connected.clear()
                self._set("degraded", str(exc))
            except Exception as exc:  # keep the node alive; say what happened
                log.warning("chain service error: %s", exc, exc_info=True)
                self.connected.clear()
                self._set("degraded", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.retry_interval_s)

    async def _connect(self) -> None:
        assert self.pool is not None
        await self.pool.connect()
        self._set_block(int(await self.pool.call(lambda w3: w3.eth.block_number)))
        if self._addresses is not None:  # known already (in-process chain): no discovery
            self.discovered = Discovered(self._addresses["registry"], dict(self._addresses),
                                         [], [], 0)
        else:
            self.discovered = await discover_from_config(self.pool, self._runtime.config,
                                                         self.ens_registry)
        added = [url for url in self.discovered.rpc_providers
                 if url.startswith(("http://", "https://", "ws://", "wss://"))
                 and self.pool.add_url(url)]
        if added:
            self._publish("chain.rpc_providers_added", count=len(added))
        signer = self._wallet_signer()
        if signer is None:
            self.client, self.contracts = None, None
            self.connected.set()
            self._set("degraded", "read-only: the wallet is locked or missing")
            return
        db = getattr(self._runtime, "db", None)
        if db is None:
            db = self._runtime.config.path(self._runtime.config.node.state_path)
        config = self._runtime.config.blockchain
        self.client = ChainClient(self.pool, signer, TxStore(db),
                                  tx_timeout_s=config.tx_timeout_s,
                                  gas_bump_percent=config.gas_bump_percent,
                                  on_event=self._publish)
        pending = await self.client.start()
        self.contracts = OarnContracts(self.client, self.discovered.contracts)
        self._publish("chain.connected", chain_id=self.pool.chain_id, rpc_url=self.pool.rpc_url,
                      block=self.block, registry=self.discovered.registry,
                      pending_txs=len(pending))
        for sent in pending:  # settle what a previous run left in flight, in the background
            waiter = asyncio.create_task(self.client.wait(sent, check=False))
            self._waiters.add(waiter)
            waiter.add_done_callback(self._waiters.discard)
        await self._register_node()
        await self._register_bootstrap()
        self.connected.set()
        self._set("running", "ok")

    def task_event_poller(self, from_block: int = 0,
                          event_names: list[str] | None = None) -> LogPoller:
        """A poller of TaskRegistry events `blockchain.confirmations` blocks deep."""
        if self.pool is None or self.discovered is None:
            raise ChainError("the chain service is not connected yet")
        return LogPoller(self.pool, [self.discovered.contracts["task_registry"]],
                         [abi("TaskRegistry")],
                         confirmations=self._runtime.config.blockchain.confirmations,
                         from_block=from_block, event_names=event_names)

    async def _register_node(self) -> None:
        """Register peer ID + capabilities once; update them when they changed."""
        assert self.contracts is not None
        peer_id = self._wallet_peer_id()
        if not peer_id:
            self.registered = None
            self._publish("chain.node_not_registered", reason="no peer ID known")
            return
        capabilities = _value(self._capabilities) or {}
        if not isinstance(capabilities, str):
            capabilities = json.dumps(capabilities, sort_keys=True, separators=(",", ":"))
        if await self.contracts.is_node_registered():
            current = await self.contracts.get_node()
            if current["peer_id"] == peer_id and current["capabilities"] == capabilities:
                self.registered = True
                self._publish("chain.node_already_registered", peer_id=peer_id,
                              address=self.contracts.client.address)
                return
        receipt = await self.contracts.register_node(peer_id, capabilities)
        self.registered = True
        self._publish("chain.node_registered", peer_id=peer_id,
                      address=self.contracts.client.address,
                      tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                      block=int(receipt["blockNumber"]))

    async def _register_bootstrap(self) -> None:
        """Devnet convention: list this node's multiaddr as a bootstrap peer (GOV-staked)."""
        assert self.contracts is not None
        maddr = _value(self._bootstrap_addr)
        if not maddr:
            return
        current = await self.contracts.provider_of(BOOTSTRAP_KIND)
        if current is not None and current["endpoint"] == maddr:
            self.bootstrap_registered = True
            return
        try:
            if current is None:
                stake = await self.contracts.min_provider_stake()
                if await self.contracts.token_balance("gov") < stake:
                    self.bootstrap_registered = False
                    self._publish("chain.bootstrap_not_registered", multiaddr=maddr,
                                  reason="not enough GOV for the provider stake "
                                         "(`oarn devnet fund ADDRESS --gov N`)")
                    return
                await self.contracts.register_provider(BOOTSTRAP_KIND, maddr, stake)
            else:
                await self.contracts.update_provider_endpoint(BOOTSTRAP_KIND, maddr)
        except ChainError as exc:
            self.bootstrap_registered = False
            self._publish("chain.bootstrap_not_registered", multiaddr=maddr, reason=str(exc))
            return
        self.bootstrap_registered = True
        self._publish("chain.bootstrap_registered", multiaddr=maddr,
                      address=self.contracts.client.address)

    async def _watch(self) -> None:
        assert self.pool is not None
        while True:
            await asyncio.sleep(self.health_interval_s)
            if len(self.pool.endpoints) > 1 and await self.pool.refresh():
                self._publish("chain.rpc_failback", rpc_url=self.pool.rpc_url)
            self._set_block(int(await self.pool.call(lambda w3: w3.eth.block_number)))
            if self.client is None and self._wallet_signer() is not None:
                return  # the wallet was unlocked meanwhile: reconnect with signing
            if self.state != "running" and self.client is not None:
                self._set("running", "ok")
