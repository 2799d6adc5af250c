"""Immutable node snapshots: the typed view of `status --json` that every front end reads.

The runtime builds the status document (a plain dict, the documented JSON schema) and wraps it
in `NodeSnapshot`; a front end attached over the control API parses the same JSON with
`NodeSnapshot.from_dict`, so embedded and remote dashboards see exactly the same thing.

A snapshot is immutable all the way down: frozen dataclasses, tuples and read-only mappings
(`oarn_tui.core.frozen`), never a dict shared with the runtime, so a later status change cannot
alter an earlier snapshot and a reader cannot alter the node. The parsed task and peer lists may
be handed in by the caller (`parsed`): the runtime keeps them in its one snapshot cache
(`runtime/snapshot_cache.py`) while its ledger and peer book are unchanged; nothing is cached
here, at module level, across runtimes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from oarn_tui.core.frozen import EMPTY, freeze, freeze_mapping
from oarn_tui.core.ledger import TaskRecord
from oarn_tui.core.peerbook import PeerInfo
from oarn_tui.hardware.samples import GpuSample, as_number, gpu_value


def _wei(value: Any) -> int:
    if isinstance(value, Mapping):
        value = value.get("wei", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_tasks(items: Any) -> tuple[TaskRecord, ...]:
    """The status's `task_list` as frozen records (their `details` read-only)."""
    return tuple(
        TaskRecord(task_id=str(t["task_id"]), stage=str(t.get("stage", "")),
                   role=str(t.get("role", "worker")), model=str(t.get("model", "")),
                   model_cid=str(t.get("model_cid", "")),
                   input_cid=str(t.get("input_cid", "")),
                   result_cid=str(t.get("result_cid", "")),
                   result_hash=str(t.get("result_hash", "")),
                   progress=float(t.get("progress", 0.0)),
                   reward_wei=_wei(t.get("reward")),
                   failure_reason=str(t.get("failure_reason", "")),
                   created_at=float(t.get("created_at", 0.0)),
                   updated_at=float(t.get("updated_at", 0.0)),
                   details=freeze_mapping(t.get("details")))
        for t in items or ())


def parse_peers(items: Any) -> tuple[PeerInfo, ...]:
    """The status's `peer_list` as frozen records (`PeerInfo` freezes its capabilities)."""
    return tuple(
        PeerInfo(peer_id=str(p["peer_id"]), address=str(p.get("address", "")),
                 latency_ms=p.get("latency_ms"), score=float(p.get("score", 0.0)),
                 capabilities=freeze_mapping(p.get("capabilities")),
                 connected=bool(p.get("connected", True)), account=str(p.get("account", "")),
                 last_seen=float(p.get("last_seen", 0.0)))
        for p in items or ())


@dataclass(frozen=True)
class ParsedList:
    """One list of the status parsed once: its read-only copy (for `raw`) and its records."""

    raw: tuple[Any, ...]
    items: tuple[Any, ...]


LIST_PARSERS: Mapping[str, Callable[[Any], tuple[Any, ...]]] = MappingProxyType(
    {"task_list": parse_tasks, "peer_list": parse_peers})
"""The status lists a snapshot parses into records, by their status key."""


def parse_list(name: str, source: Any) -> ParsedList:
    """`LIST_PARSERS[name](source)` with the list's frozen copy."""
    return ParsedList(raw=freeze(list(source or ())), items=LIST_PARSERS[name](source))


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class WalletView:
    address: str = ""
    state: str = "missing"
    unlock: str = "none"
    balances_wei: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    pending_rewards_wei: int = 0
    earned_wei: int = 0


@dataclass(frozen=True)
class ChainView:
    state: str = "disabled"
    chain_id: int | None = None
    block: int | None = None
    rpc_url: str = ""
    reason: str = ""


def _index(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class GpuView:
    """One GPU as front ends show it. Its fields are `GpuSample.SNAPSHOT_KEYS` (the one
    telemetry vocabulary, `oarn_tui.hardware.samples`); numbers are floats, N/A is None."""

    index: int
    name: str
    uuid: str = ""
    memory_total_mb: float | None = None
    memory_used_mb: float | None = None
    memory_free_mb: float | None = None
    utilization_percent: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None

    @classmethod
    def from_dict(cls, gpu: Mapping[str, Any], position: int = 0) -> GpuView:
        """The one parser of a GPU snapshot: a `telemetry.gpus[*]` entry of the status or a
        `hardware.sample` event's GPU (an old daemon's `utilization_pct` alias is read too)."""
        return cls(index=_index(gpu.get("index"), position), name=str(gpu.get("name") or "GPU"),
                   uuid=str(gpu.get("uuid") or ""),
                   **{key: as_number(gpu_value(gpu, key)) for key in _GPU_NUMBERS})


_GPU_NUMBERS = tuple(key for key in GpuSample.SNAPSHOT_KEYS if key not in ("index", "name", "uuid"))


@dataclass(frozen=True)
class TelemetryView:
    """The machine as front ends show it: `TelemetrySample.SNAPSHOT_KEYS` plus the sparkline
    `history` and the `gpu_hint` of the status's `telemetry` block. `accelerator` is "gpu",
    "cpu", or "" before the first sample."""

    cpu_percent: float | None = None
    ram_used_mb: float | None = None
    ram_total_mb: float | None = None
    gpus: tuple[GpuView, ...] = ()
    history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    gpu_hint: str = ""
    timestamp: float | None = None
    ram_available_mb: float | None = None
    accelerator: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *,
                  history: Mapping[str, tuple[float, ...]] | None = None,
                  gpu_hint: str | None = None) -> TelemetryView:
        """The one parser of a telemetry snapshot: the status's `telemetry` block or a
        `hardware.sample` event (which has no history or hint of its own: pass them)."""
        gpus = tuple(GpuView.from_dict(g, i) for i, g in enumerate(data.get("gpus") or ()))
        total = as_number(data.get("ram_total_mb"))
        available = as_number(data.get("ram_available_mb"))
        used = as_number(data.get("ram_used_mb"))
        if used is None and total is not None and available is not None:
            used = total - available
        accelerator = str(data.get("accelerator") or "")
        if accelerator not in ("gpu", "cpu"):  # a daemon from before the field: derive it
            accelerator = ("gpu" if gpus else "cpu") if data else ""
        if history is None:
            history = {str(k): tuple(v) for k, v in (data.get("history") or {}).items()}
        return cls(cpu_percent=as_number(data.get("cpu_percent")), ram_used_mb=used,
                   ram_total_mb=total, gpus=gpus, history=history,
                   gpu_hint=str(data.get("gpu_hint") or "") if gpu_hint is None else gpu_hint,
                   timestamp=as_number(data.get("timestamp")), ram_available_mb=available,
                   accelerator=accelerator)


TELEMETRY_VIEW_EXTRAS = ("history", "gpu_hint")
"""`TelemetryView` fields that are not `TelemetrySample.SNAPSHOT_KEYS` (the status adds them)."""


@dataclass(frozen=True)
class EarningView:
    task_id: str
    amount_wei: int
    tx_hash: str
    ts: float


@dataclass(frozen=True)
class NodeSnapshot:
    """Everything a front end shows, at one instant. Build new ones; never mutate."""

    raw: Mapping[str, Any]
    version: str
    profile: str
    home: str
    node_name: str
    uptime_s: float
    peer_id: str
    listen_addrs: tuple[str, ...]
    topics: tuple[str, ...]
    network_state: str
    reachable: str
    accepting: bool
    wallet: WalletView
    chain: ChainView
    telemetry: TelemetryView
    services: tuple[ServiceState, ...]
    task_counts: Mapping[str, int]
    tasks: tuple[TaskRecord, ...]
    peers: tuple[PeerInfo, ...]
    earnings: tuple[EarningView, ...]
    attached: bool = False

    @property
    def short_peer_id(self) -> str:
        pid = self.peer_id
        return f"{pid[:6]}…{pid[-6:]}" if len(pid) > 14 else pid

    def to_dict(self) -> dict[str, Any]:
        """The status document again, as plain JSON types (a fresh copy)."""
        from oarn_tui.core.frozen import thaw

        return dict(thaw(self.raw))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, attached: bool = False,
                  parsed: Mapping[str, ParsedList] | None = None) -> NodeSnapshot:
        """Parse a status document; `parsed` holds lists the caller parsed before (see the
        module docstring), the rest is parsed and frozen here."""
        wallet = data.get("wallet") or {}
        chain = data.get("chain") or {}
        network = data.get("network") or {}
        telemetry = data.get("telemetry") or {}
        lists = {name: (parsed or {}).get(name) or parse_list(name, data.get(name))
                 for name in LIST_PARSERS}
        raw = MappingProxyType({key: lists[key].raw if key in lists else freeze(value)
                                for key, value in data.items()})
        telemetry_view = TelemetryView.from_dict(telemetry)
        return cls(
            raw=raw,
            version=str(data.get("version", "")),
            profile=str(data.get("profile", "")),
            home=str(data.get("home", "")),
            node_name=str(data.get("node_name", "")),
            uptime_s=float(data.get("uptime_s", 0.0)),
            peer_id=str(data.get("peer_id") or ""),
            listen_addrs=tuple(data.get("listen_addrs") or ()),
            topics=tuple(data.get("topics") or ()),
            network_state=str(network.get("state", "stopped")),
            reachable=str(network.get("reachable", "unknown")),
            accepting=bool(data.get("accepting", True)),
            wallet=WalletView(
                address=str(wallet.get("address") or ""), state=str(wallet.get("state", "missing")),
                unlock=str(wallet.get("unlock", "none")),
                balances_wei=MappingProxyType(
                    {k: _wei(v) for k, v in (wallet.get("balances") or {}).items()}),
                pending_rewards_wei=_wei(wallet.get("pending_rewards")),
                earned_wei=_wei(wallet.get("earned"))),
            chain=ChainView(state=str(chain.get("state", "disabled")),
                            chain_id=chain.get("chain_id"), block=chain.get("block"),
                            rpc_url=str(chain.get("rpc_url") or ""),
                            reason=str(chain.get("reason") or "")),
            telemetry=replace(telemetry_view, history=freeze_mapping(telemetry_view.history)),
            services=tuple(ServiceState(name, str(s.get("state", "")), str(s.get("reason", "")))
                           for name, s in sorted((data.get("services") or {}).items())),
            task_counts=MappingProxyType(dict(data.get("tasks") or {})),
            tasks=lists["task_list"].items,
            peers=lists["peer_list"].items,
            earnings=tuple(EarningView(str(e["task_id"]), _wei(e.get("amount")),
                                       str(e.get("tx_hash", "")), float(e.get("ts", 0.0)))
                           for e in data.get("earnings") or ()),
            attached=attached,
        )
