"""`ChainService`: the runtime's connection to the chain (name "chain", depends on "wallet").

Construct it as `ChainService(peer_id=..., capabilities=..., bootstrap_addr=...)` (values or
callables); the signer and peer ID come from the `wallet` face handed in (`wallet=`) unless
passed. For the in-process py-evm chain pass `pool=RpcPool.from_web3(w3)` and `addresses=` from
`anvil.inprocess_system()`.

It connects to the configured RPC URLs (failover), discovers the OARN contracts from the
registry, settles transactions a previous run left pending, and registers the node's peer ID and
capabilities in the OARNRegistry if they are not there yet (and says so in an event). An
unreachable RPC or a locked wallet makes it *degraded*, never dead: it keeps retrying.

While connected it dials the bootstrap peers the registry lists (through the `p2p=` network it
was handed) and keeps the account's balances and on-chain reputation fresh; its status section
is the document's `chain` block, `wallet.balances` and `reputation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from oarn_tui.amounts import amount_json
from oarn_tui.chain.bindings import OarnContracts
from oarn_tui.chain.client import ChainClient, ChainError
from oarn_tui.chain.contracts import abi
from oarn_tui.chain.discovery import Discovered, DiscoveryError, discover_from_config
from oarn_tui.chain.events import LogPoller
from oarn_tui.chain.nonces import TxStore
from oarn_tui.chain.receipts import TxReceipt
from oarn_tui.chain.rpc import RpcPool, RpcUnavailable
from oarn_tui.core.db import open_db
from oarn_tui.core.service import ServiceBase, ServiceHost

if TYPE_CHECKING:
    from oarn_tui.chain.face import PeerDialer
    from oarn_tui.wallet.face import WalletFace
    from oarn_tui.wallet.signer import LocalSigner

log = logging.getLogger(__name__)
Provider = Callable[[], Any]
BOOTSTRAP_KIND = 1
BALANCE_REFRESH_S = 5.0


class PeerNetwork(Protocol):
    """Where the p2p node is (None on a local-only node): the p2p service's face."""

    @property
    def node(self) -> PeerDialer | None: ...


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
                 addresses: dict[str, str] | None = None,
                 wallet: WalletFace | None = None, p2p: PeerNetwork | None = None,
                 state_db: sqlite3.Connection | None = None,
                 balance_refresh_s: float = BALANCE_REFRESH_S) -> None:
        """`wallet` gives the signer and peer ID, `p2p` dials the registry's bootstrap peers,
        `state_db` holds the signed transactions (default: the home's state database)."""
        self._peer_id = peer_id
        self._wallet = wallet
        self._p2p = p2p
        self._state_db = state_db
        self.balance_refresh_s = balance_refresh_s
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
        self.balances: dict[str, int] = {}
        self.reputation: dict[str, int] = {}  # on-chain completed / disagreed / timed out
        self.dialled: set[str] = set()
        self.revision = 0
        """Bumped when the block height, balances or reputation change (they publish no
        event; see runtime)."""
        self.connected = asyncio.Event()
        self._host: ServiceHost | None = None
        self._task: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Task[Any]] = set()

    # -- runtime interface -----------------------------------------------------------------

    async def start(self, host: ServiceHost) -> None:
        self._host = host
        config = host.config
        if self.pool is None:
            urls = list(config.blockchain.manual_rpc_urls)
            if not urls:
                self._set("degraded", "no RPC URL configured (blockchain.manual_rpc_urls)")
                return
            self.pool = RpcPool(urls, config.blockchain.chain_id)
        self.pool.on_failover = lambda old, new, why: self._publish(
            "chain.rpc_failover", old=old, new=new, reason=why)
        host.commands.register("chain.status", self._status_command)
        from oarn_tui.chain.commands import ChainCommands

        ChainCommands(self).register(host.commands)  # wallet.send, chain.stake, chain.unstake
        self._set("degraded", "connecting")
        self._task = asyncio.create_task(self._run(), name="chain-service")
        self._refresh = asyncio.create_task(self._refresh_forever(), name="chain-refresh")

    async def stop(self) -> None:
        for waiter in list(self._waiters):
            waiter.cancel()
        for task in (self._task, self._refresh):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._refresh = None
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

    def status_fields(self) -> Mapping[str, Any]:
        """The document's `chain` block, `wallet.balances` and (once read) `reputation`."""
        status = self.status()
        fields: dict[str, Any] = {
            "chain": {key: status[key] for key in ("state", "reason", "chain_id", "block",
                                                   "rpc_url", "registry", "registered")},
            "wallet": {"balances": {token: amount_json(wei)
                                    for token, wei in self.balances.items()}}}
        if self.reputation:
            fields["reputation"] = dict(self.reputation)
        return fields

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
        if self._host is not None:
            self._host.events.publish(kind, **data)

    def _require_host(self) -> ServiceHost:
        if self._host is None:
            raise ChainError("the chain service is not started")
        return self._host

    def _wallet_signer(self) -> LocalSigner | Any | None:
        if self._signer is not None:
            return self._signer
        return self._wallet.signer if self._wallet is not None else None

    def _wallet_peer_id(self) -> str | None:
        peer_id = _value(self._peer_id)
        if peer_id:
            return str(peer_id)
        unlocked = self._wallet.unlocked if self._wallet is not None else None
        return unlocked.peer_id if unlocked is not None else None

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
            self.discovered = await discover_from_config(self.pool, self._require_host().config,
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
        host = self._require_host()
        if self._state_db is None:  # opened once: reconnects reuse it
            self._state_db = open_db(host.config.path(host.config.node.state_path))
        config = host.config.blockchain
        self.client = ChainClient(self.pool, signer, TxStore(self._state_db),
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
                         confirmations=self._require_host().config.blockchain.confirmations,
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
                              address=self.contracts.address)
                return
        receipt: TxReceipt = await self.contracts.register_node(peer_id, capabilities)
        self.registered = True
        self._publish("chain.node_registered", peer_id=peer_id,
                      address=self.contracts.address, tx_hash=receipt.tx_hash,
                      block=receipt.block)

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
                      address=self.contracts.address)

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

    # -- balances, reputation, bootstrap peers ---------------------------------------------

    async def _refresh_forever(self) -> None:
        """Every `balance_refresh_s` while signing: dial new bootstrap peers, re-read the
        account's balances and reputation (bumping `revision` when they changed)."""
        while True:
            try:
                if self.contracts is not None:
                    await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the RPC may be down: the chain state reports it
                log.debug("chain refresh failed: %s", exc)
            await asyncio.sleep(self.balance_refresh_s)

    async def refresh(self) -> None:
        """One round of the refresh loop (see `_refresh_forever`)."""
        contracts = self.contracts
        if contracts is None:
            return
        await self._dial_bootstrap()
        balances = await contracts.balances()
        reputation = await contracts.executor_stats()
        if (balances, reputation) != (self.balances, self.reputation):
            self.balances, self.reputation = balances, reputation
            self.revision += 1

    async def _dial_bootstrap(self) -> None:
        """Dial the bootstrap peers the registry lists that this node has not dialled yet."""
        node = self._p2p.node if self._p2p is not None else None
        if node is None or self.discovered is None:
            return
        own = set(node.listen_addrs())
        for maddr in self.discovered.bootstrap:
            if maddr in self.dialled or maddr in own or node.peer_id in maddr:
                continue
            try:
                await node.connect(maddr)
                self.dialled.add(maddr)
                log.info("dialled bootstrap peer from the registry", extra={"maddr": maddr})
            except Exception as exc:
                log.debug("bootstrap %s unreachable: %s", maddr, exc)
