"""Every event kind the node publishes, with the dataclass of its data.

Events reach the dashboard, `oarn` commands that watch (`model pull`), the log and any client of
`GET /v1/events` (NDJSON: `{"kind", "ts", "seq", "data"}`): kinds and field names are added,
never renamed. `EventBus.publish` checks each event against its entry (see `core/events.py` for
what happens when one does not fit), and `tests/foundation/test_catalog.py` fails when a kind is
published but not catalogued, or catalogued and listened for but never published.

To add a kind: a payload dataclass and an `EventSpec` in `EVENTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oarn_tui.core.catalog.schema import EventSpec


@dataclass(frozen=True)
class NoData:
    """The event carries no data."""


@dataclass(frozen=True)
class NodeStarted:
    version: str


@dataclass(frozen=True)
class NodeAccepting:
    """`set_by`: who wrote the switch last (the operator's pause/resume, a config reload...)."""

    accepting: bool
    set_by: str = ""


@dataclass(frozen=True)
class ServiceStarted:
    service: str


@dataclass(frozen=True)
class ServiceFailed:
    service: str
    reason: str


@dataclass(frozen=True)
class ServiceRestarted:
    services: list[str]


@dataclass(frozen=True)
class ConfigReloaded:
    live: list[str]
    restart: list[str]


@dataclass(frozen=True)
class LogLine:
    """A log record as the JSON log file has it; `extra={...}` fields ride along."""

    ts: float
    level: str
    logger: str
    msg: str


@dataclass(frozen=True)
class TaskStage:
    task_id: str
    stage: str
    note: str = ""
    tx_hash: str = ""


@dataclass(frozen=True)
class WalletEarned:
    task_id: str
    amount_wei: str


@dataclass(frozen=True)
class WalletState:
    state: str
    address: str | None
    unlock: str


@dataclass(frozen=True)
class ChainState:
    state: str
    reason: str


@dataclass(frozen=True)
class ChainRpcFailover:
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class ChainRpcProvidersAdded:
    count: int


@dataclass(frozen=True)
class ChainRpcFailback:
    rpc_url: str


@dataclass(frozen=True)
class ChainConnected:
    chain_id: int | None
    rpc_url: str
    block: int | None
    registry: str | None
    pending_txs: int


@dataclass(frozen=True)
class ChainNodeNotRegistered:
    reason: str


@dataclass(frozen=True)
class ChainNodeAlreadyRegistered:
    peer_id: str
    address: str


@dataclass(frozen=True)
class ChainNodeRegistered:
    peer_id: str
    address: str
    tx_hash: str
    block: int


@dataclass(frozen=True)
class ChainBootstrapRegistered:
    multiaddr: str
    address: str


@dataclass(frozen=True)
class ChainBootstrapNotRegistered:
    multiaddr: str
    reason: str


@dataclass(frozen=True)
class ChainTxSent:
    """A transaction broadcast (fees in wei per gas)."""

    nonce: int
    tx_hash: str
    label: str
    max_fee: int
    priority_fee: int


@dataclass(frozen=True)
class ChainTxMined:
    nonce: int
    tx_hash: str
    block: int
    label: str


@dataclass(frozen=True)
class ChainTxReplaced:
    nonce: int
    old_hash: str
    tx_hash: str
    max_fee: int
    priority_fee: int


@dataclass(frozen=True)
class ChainTxDropped:
    nonce: int
    tx_hash: str
    reason: str = ""


@dataclass(frozen=True)
class ChainTxRebroadcast:
    nonce: int
    tx_hash: str


@dataclass(frozen=True)
class StorageCorruptBlock:
    cid: str


@dataclass(frozen=True)
class ModelProgress:
    """Pull progress (`storage.progress.ProgressMeter`): `eta_s` is null until a rate is
    known."""

    cid: str
    bytes_done: int
    bytes_total: int
    percent: float
    rate_bytes_s: float
    eta_s: float | None
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class StorageFetchProgress:
    cid: str
    done: int
    total: int


@dataclass(frozen=True)
class HardwareSample:
    """One telemetry sample (`TelemetrySample.to_dict`)."""

    timestamp: float
    cpu_percent: float
    ram_total_mb: int
    ram_available_mb: int
    gpus: list[dict[str, Any]] = field(default_factory=list)
    ram_used_mb: int | None = None
    accelerator: str | None = None


@dataclass(frozen=True)
class P2PStarted:
    peer_id: str
    listen_addrs: list[str]


@dataclass(frozen=True)
class PeerConnected:
    peer_id: str
    address: str = ""


@dataclass(frozen=True)
class PeerDisconnected:
    peer_id: str


def _spec(kind: str, payload: type, summary: str, **flags: Any) -> tuple[str, EventSpec]:
    return kind, EventSpec(kind, payload, summary, **flags)


EVENTS: dict[str, EventSpec] = dict([
    _spec("node.started", NodeStarted, "Every service has been started (or has failed)."),
    _spec("node.stopped", NoData, "Every started service has been stopped."),
    _spec("node.accepting", NodeAccepting, "The operator paused or resumed taking tasks."),
    _spec("service.started", ServiceStarted, "A service started."),
    _spec("service.failed", ServiceFailed, "A service failed to start; the node runs "
          "degraded."),
    _spec("service.restarted", ServiceRestarted, "Services restarted after the wallet "
          "unlocked."),
    _spec("config.reloaded", ConfigReloaded, "config.toml was re-read: keys applied live, keys "
          "that need a restart."),
    _spec("log", LogLine, "A log record.", quiet=True, open=True),
    _spec("task.stage", TaskStage, "A task moved to another stage."),
    _spec("wallet.earned", WalletEarned, "A task paid this node (`amount_wei` as a decimal "
          "string)."),
    _spec("wallet.state", WalletState, "The wallet became missing, locked or unlocked."),
    _spec("chain.state", ChainState, "The chain client's state changed."),
    _spec("chain.rpc_failover", ChainRpcFailover, "The chain client moved to another RPC "
          "endpoint (URLs redacted)."),
    _spec("chain.rpc_providers_added", ChainRpcProvidersAdded, "RPC endpoints found in the "
          "registry were added to the pool."),
    _spec("chain.rpc_failback", ChainRpcFailback, "The chain client is back on its preferred "
          "RPC endpoint (URL redacted)."),
    _spec("chain.connected", ChainConnected, "The chain client is connected and has read the "
          "registry."),
    _spec("chain.node_not_registered", ChainNodeNotRegistered, "The node could not register "
          "its peer ID on chain."),
    _spec("chain.node_already_registered", ChainNodeAlreadyRegistered, "The node's peer ID "
          "was already registered on chain."),
    _spec("chain.node_registered", ChainNodeRegistered, "The node registered its peer ID on "
          "chain."),
    _spec("chain.bootstrap_registered", ChainBootstrapRegistered, "The node registered as a "
          "bootstrap peer."),
    _spec("chain.bootstrap_not_registered", ChainBootstrapNotRegistered, "The node could not "
          "register as a bootstrap peer."),
    _spec("chain.tx_sent", ChainTxSent, "A transaction of the node's account was broadcast."),
    _spec("chain.tx_confirmed", ChainTxMined, "A transaction was mined and succeeded."),
    _spec("chain.tx_failed", ChainTxMined, "A transaction was mined and reverted."),
    _spec("chain.tx_replaced", ChainTxReplaced, "A stuck transaction was replaced with higher "
          "fees (same nonce)."),
    _spec("chain.tx_dropped", ChainTxDropped, "A recorded transaction was given up (its nonce "
          "is free again)."),
    _spec("chain.tx_rebroadcast", ChainTxRebroadcast, "A pending transaction from an earlier "
          "run was sent again."),
    _spec("storage.corrupt_block", StorageCorruptBlock, "A stored block failed its hash check "
          "and was dropped."),
    _spec("model.progress", ModelProgress, "Progress of a model pull, with rate and ETA."),
    _spec("storage.fetch_progress", StorageFetchProgress, "Progress of a model pull (bytes "
          "only).", deprecated="model.progress"),
    _spec("hardware.sample", HardwareSample, "A telemetry sample.", quiet=True),
    _spec("p2p.started", P2PStarted, "The libp2p host is listening."),
    _spec("peer.connected", PeerConnected, "A peer connected."),
    _spec("peer.disconnected", PeerDisconnected, "A peer disconnected."),
])
