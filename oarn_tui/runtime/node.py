"""`NodeRuntime`: owns the services' lifecycle, the event stream, state and the status document.

Services start in dependency order and stop in reverse. A service that cannot start leaves the
node degraded, not dead: its state and reason appear in the status. Front ends talk to the
runtime through commands (`await runtime.commands.call(name, **args)`), events
(`runtime.events`) and snapshots (`runtime.snapshot()`), nothing else.

Lifecycle, status document and built-in commands stay in one module (~400 lines) because they
are one object's state (`NodeRuntime`); assembling the services is `assemble.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from oarn_tui import __version__
from oarn_tui.amounts import amount_json
from oarn_tui.config import NodeConfig, diff_live
from oarn_tui.core.db import open_db
from oarn_tui.core.events import EventBus
from oarn_tui.core.ledger import TaskLedger
from oarn_tui.core.peerbook import PeerBook
from oarn_tui.core.service import CommandError, CommandRegistry, Handler, Service
from oarn_tui.runtime.accepting import SET_BY_CONFIG, SET_BY_OPERATOR, AcceptingSwitch
from oarn_tui.runtime.logs import RecentLogs, set_level, setup_logging, teardown_logging
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.runtime.snapshot_cache import SnapshotCache

log = logging.getLogger("oarn.runtime")

STOP_TIMEOUT_S = 3.0


SNAPSHOT_MAX_AGE_S = 5.0


def dependency_order(services: Iterable[Service]) -> list[Service]:
    """Topological order; dependencies on services that are not present are ignored."""
    by_name = {s.name: s for s in services}
    ordered: list[Service] = []
    visiting: set[str] = set()

    def visit(service: Service) -> None:
        if service in ordered:
            return
        if service.name in visiting:
            raise ValueError(f"dependency cycle through {service.name}")
        visiting.add(service.name)
        for dep in service.depends_on:
            if dep in by_name:
                visit(by_name[dep])
        visiting.discard(service.name)
        ordered.append(service)

    for service in by_name.values():
        visit(service)
    return ordered


PENDING_STAGES = ("claimed", "fetching", "running", "storing", "submitted")
"""Stages of a worker task whose reward is `wallet.pending_rewards`."""
SHARED_SECTIONS = ("wallet", "network")
"""Blocks of the status document that several owners fill, merged key by key: `wallet` has the
wallet service's address/state/unlock/reason, the chain service's balances and the ledger's
earned/pending_rewards; `network` has the runtime's default and the p2p service's view."""
PEER_ID_FIRST = "p2p"
"""The running libp2p host's peer ID wins over the one the wallet vault records."""


def merge_sections(doc: dict[str, Any], sections: list[tuple[str, Mapping[str, Any]]]) -> None:
    """Put the services' sections into `doc` (the one place where they meet): a shared block
    (`SHARED_SECTIONS`) gets each owner's keys, any other field belongs to one service, and
    `peer_id` is the p2p host's when it has one, else the first other service's. The sections
    themselves are never changed (services may hand out cached, shared mappings)."""
    peer_ids: list[tuple[bool, str]] = []
    for name, fields in sections:
        for key, value in fields.items():
            if key == "peer_id":
                if value:
                    peer_ids.append((name != PEER_ID_FIRST, str(value)))
            elif key in SHARED_SECTIONS and isinstance(value, Mapping):
                doc[key] = {**doc.get(key, {}), **value}
            else:
                doc[key] = value
    if peer_ids:
        doc["peer_id"] = min(peer_ids, key=lambda pair: pair[0])[1]


class NodeRuntime:
    """One node: config, state database, event bus, services and commands."""

    def __init__(self, config: NodeConfig, services: Iterable[Service] = (), *,
                 log_to_file: bool = True) -> None:
        self.config = config
        self.home: Path = config.home
        self.events = EventBus()
        self.db = open_db(config.path(config.node.state_path))
        self.ledger = TaskLedger(self.db)
        self.peers = PeerBook(self.db)
        self.commands = CommandRegistry()
        self.services: dict[str, Service] = {}
        self.service_errors: dict[str, str] = {}
        self.started_at = time.time()
        self.stopped = asyncio.Event()
        self.extra_status: dict[str, Any] = {}
        self.accepting_switch = AcceptingSwitch(config.compute.accepting)
        """The one owner of `accepting` (see `runtime/accepting.py`)."""
        self.recent_logs = RecentLogs(on_record=self._on_log)
        self._log_handlers = setup_logging(
            config.path(config.node.log_path), level=config.node.log_level,
            max_mb=config.node.log_max_mb, backups=config.node.log_backups,
            recent=self.recent_logs) if log_to_file else []
        self._started: list[Service] = []
        self._snapshots = SnapshotCache()
        """The one snapshot cache (status sections, parsed lists, last snapshot)."""
        self.snapshot_max_age_s = SNAPSHOT_MAX_AGE_S
        for service in services:
            self.add_service(service)
        self._register_builtin_commands()

    # -- lifecycle ----------------------------------------------------------------------------

    def add_service(self, service: Service) -> None:
        if service.name in self.services:
            raise ValueError(f"service {service.name!r} added twice")
        self.services[service.name] = service

    async def start(self) -> None:
        """Start every service in dependency order; failures degrade, never abort."""
        self.started_at = time.time()
        log.info("node starting", extra={"home": str(self.home),
                                          "profile": self.config.node.profile})
        for service in dependency_order(self.services.values()):
            try:
                await service.start(self)
            except Exception as exc:  # one service must not take the node down
                reason = f"{type(exc).__name__}: {exc}"
                self.service_errors[service.name] = reason
                log.warning("service failed to start", extra={"service": service.name,
                                                               "reason": reason})
                self.events.publish("service.failed", service=service.name, reason=reason)
                continue
            self._started.append(service)
            self.events.publish("service.started", service=service.name)
        self.events.publish("node.started", version=__version__)
        log.info("node started", extra={"services": [s.name for s in self._started]})

    async def stop(self) -> None:
        """Stop started services in reverse order, each within `STOP_TIMEOUT_S`."""
        for service in reversed(self._started):
            try:
                await asyncio.wait_for(service.stop(), STOP_TIMEOUT_S)
            except Exception as exc:
                log.warning("service did not stop cleanly",
                            extra={"service": service.name, "reason": repr(exc)})
        self._started.clear()
        self.events.publish("node.stopped")
        log.info("node stopped")
        self.stopped.set()

    def dependents(self, name: str) -> list[Service]:
        """Started services that depend on `name`, directly or not, in start order."""
        affected = {name}
        ordered = dependency_order(self.services.values())
        for service in ordered:
            if affected.intersection(service.depends_on):
                affected.add(service.name)
        return [s for s in ordered if s.name in affected - {name} and s in self._started]

    async def restart_dependents(self, name: str) -> list[str]:
        """Restart what depends on `name` (after the wallet unlocks, the chain client and the
        p2p host pick up the keys); returns the restarted services' names."""
        services = self.dependents(name)
        for service in reversed(services):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(service.stop(), STOP_TIMEOUT_S)
            self._started.remove(service)
        for service in services:
            try:
                await service.start(self)
            except Exception as exc:
                self.service_errors[service.name] = f"{type(exc).__name__}: {exc}"
                continue
            self.service_errors.pop(service.name, None)
            self._started.append(service)
        self.events.publish("service.restarted", services=[s.name for s in services])
        return [s.name for s in services]

    def close(self) -> None:
        """Release the database and log handlers (after `stop`)."""
        teardown_logging(self._log_handlers)
        self._log_handlers = []
        self.db.close()

    def request_stop(self) -> None:
        self.stopped.set()

    # -- config -------------------------------------------------------------------------------

    def apply_config(self, new_config: NodeConfig) -> dict[str, list[str]]:
        """Apply the keys that can change live; report the ones that need a restart."""
        live, restart = diff_live(self.config, new_config)
        self.config = new_config
        if "node.log_level" in live:
            set_level(new_config.node.log_level)
        if "compute.accepting" in live:  # a changed key overrides an earlier pause/resume
            self.set_accepting(new_config.compute.accepting, SET_BY_CONFIG)
        if live:
            for service in self.services.values():
                service.config_changed(new_config, live)
        self.events.publish("config.reloaded", live=live, restart=restart)
        log.info("config reloaded", extra={"live": live, "restart_needed": restart})
        return {"applied": live, "restart_needed": restart}

    @property
    def accepting(self) -> bool:
        """Whether the node takes new network tasks now (read by the pipeline)."""
        return self.accepting_switch.accepting

    def set_accepting(self, accepting: bool, set_by: str = SET_BY_OPERATOR) -> dict[str, Any]:
        """Write `accepting` (last write wins) and tell the front ends."""
        change = self.accepting_switch.set(accepting, set_by)
        self.events.publish("node.accepting", accepting=change.accepting, set_by=set_by)
        if change.changed:
            log.info("accepting %s", "resumed" if change.accepting else "paused",
                     extra={"set_by": set_by})
        return {"accepting": change.accepting}

    # -- status -------------------------------------------------------------------------------

    def service_states(self) -> dict[str, dict[str, str]]:
        states: dict[str, dict[str, str]] = {}
        for name, service in self.services.items():
            if name in self.service_errors:
                states[name] = {"state": "failed", "reason": self.service_errors[name]}
                continue
            try:
                status = service.status()
            except Exception as exc:
                status = {"state": "failed", "reason": f"status error: {exc}"}
            state = status.get("service_state", status.get("state", "running"))
            states[name] = {"state": str(state),
                            "reason": str(status.get("reason", ""))}
        return states

    def _cached(self, name: str, key: tuple[int, int],
                build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`build()`, reused while `key` (a revision and a limit) is unchanged: a dashboard
        asks for the status every second and most seconds nothing in the ledger changed."""
        return self._snapshots.section(name, key, build)

    def _task_section(self, task_limit: int) -> dict[str, Any]:
        ledger = self.ledger
        return {"tasks": ledger.counts(),
                "task_list": [t.to_dict() for t in ledger.recent(task_limit)],
                "earnings": [{"task_id": e.task_id, "amount": amount_json(e.amount_wei),
                              "token": e.token, "tx_hash": e.tx_hash, "ts": e.ts}
                             for e in ledger.earnings(20)],
                "earned": amount_json(ledger.total_earned_wei()),
                "pending_rewards": amount_json(sum(
                    t.reward_wei for t in ledger.in_stages(PENDING_STAGES)
                    if t.role == "worker"))}

    def _peer_section(self, peer_limit: int) -> dict[str, Any]:
        peers = self.peers.connected()
        return {"peers": len(peers), "peer_list": [p.to_dict() for p in peers[:peer_limit]]}

    def status(self, *, task_limit: int = 200, peer_limit: int = 1000) -> dict[str, Any]:
        """The status document (`status --json` schema; fields are added, never renamed).
        Its task and peer parts are shared between calls while unchanged: read-only."""
        tasks = self._cached("tasks", (self.ledger.revision, task_limit),
                             lambda: self._task_section(task_limit))
        peers = self._cached("peers", (self.peers.revision, peer_limit),
                             lambda: self._peer_section(peer_limit))
        doc: dict[str, Any] = {
            "version": __version__,
            "profile": self.config.node.profile,
            "home": str(self.home),
            "node_name": self.config.node.name,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_at, 3),
            "peer_id": None,
            "listen_addrs": [],
            "topics": [],
            "peers": peers["peers"],
            "peer_list": peers["peer_list"],
            "wallet": {"address": None, "state": "missing", "unlock": "none",
                       "earned": tasks["earned"], "pending_rewards": tasks["pending_rewards"],
                       "balances": {}},
            "chain": {"state": "disabled", "chain_id": self.config.blockchain.chain_id,
                      "block": None, "rpc_url": None},
            "network": {"state": "disabled" if self.config.network.mode == "local"
                        else "stopped", "reachable": "unknown"},
            "accepting": self.accepting,
            "accepting_set_by": self.accepting_switch.set_by,
            "tasks": tasks["tasks"],
            "task_list": tasks["task_list"],
            "earnings": tasks["earnings"],
            "services": self.service_states(),
        }
        doc.update({k: v for k, v in self.extra_status.items()
                    if k not in ("accepting", "accepting_set_by")})
        merge_sections(doc, self._service_sections())
        return doc

    def _service_sections(self) -> list[tuple[str, Mapping[str, Any]]]:
        """Each running service's own status section; one that fails adds nothing."""
        sections: list[tuple[str, Mapping[str, Any]]] = []
        for service in self.services.values():
            if service.name in self.service_errors:
                continue
            try:
                sections.append((service.name, service.status_fields()))
            except Exception as exc:
                log.debug("status section failed",
                          extra={"service": service.name, "reason": repr(exc)})
        return sections

    def snapshot(self, *, task_limit: int = 200, peer_limit: int = 1000) -> NodeSnapshot:
        """The status as a `NodeSnapshot`, reused while quiet (see `cached_snapshot`)."""
        key = self._snapshot_key(task_limit, peer_limit)
        cached = self._snapshots.snapshot(key, self.snapshot_max_age_s)
        if cached is not None:
            return cached
        doc = self.status(task_limit=task_limit, peer_limit=peer_limit)
        snapshot = NodeSnapshot.from_dict(doc, parsed=self._snapshots.parsed_lists(doc))
        self._snapshots.keep(key, snapshot)
        return snapshot

    def cached_snapshot(self, *, task_limit: int = 200, peer_limit: int = 1000
                        ) -> NodeSnapshot | None:
        """The last snapshot while the ledger, the peer book, the event stream and the services'
        own revisions (chain height, balances) have been quiet since, for up to
        `snapshot_max_age_s` (anything else shows within that); else None. An idle dashboard
        polling every second then costs next to nothing and can skip redrawing. Safe from any
        thread: it only reads counters and an immutable snapshot."""
        return self._snapshots.snapshot(self._snapshot_key(task_limit, peer_limit),
                                        self.snapshot_max_age_s)

    def _snapshot_key(self, task_limit: int, peer_limit: int) -> tuple[int, ...]:
        services = sum(service.revision for service in self.services.values())
        return (self.ledger.revision, self.peers.revision, self.events.revision, services,
                task_limit, peer_limit)

    # -- built-in commands --------------------------------------------------------------------

    def _on_log(self, entry: dict[str, Any]) -> None:
        self.events.publish("log", **entry)

    def _register_builtin_commands(self) -> None:
        async def status(task_limit: int = 200, peer_limit: int = 1000) -> dict[str, Any]:
            return self.status(task_limit=task_limit, peer_limit=peer_limit)

        async def stop() -> dict[str, Any]:
            asyncio.get_running_loop().call_soon(self.request_stop)
            return {"stopping": True}

        async def pause() -> dict[str, Any]:
            return self.set_accepting(False)

        async def resume() -> dict[str, Any]:
            return self.set_accepting(True)

        async def logs(lines: int = 50) -> dict[str, Any]:
            return {"lines": list(self.recent_logs.records)[-int(lines):]}

        async def reload_config() -> dict[str, Any]:
            from oarn_tui.config import ConfigError, load_config

            try:
                new_config = load_config(self.home, self.config.node.profile)
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
            return self.apply_config(new_config)

        async def set_config(key: str, value: str) -> dict[str, Any]:
            """`config.set`: validated and written atomically by `config.set_key` (on the
            loop, so two calls never interleave their read-modify-write), then reloaded."""
            from oarn_tui.config import ConfigError, set_key

            try:
                stored = set_key(self.home, key, value)
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
            return {"key": key, "value": stored, **(await reload_config())}

        async def task(task_id: str) -> dict[str, Any]:
            record = self.ledger.get(task_id)
            if record is None:
                raise CommandError(f"no task {task_id} in this node's ledger")
            return {**record.to_dict(),
                    "timeline": [{"stage": e.stage, "ts": e.ts, "note": e.note,
                                  "tx_hash": e.tx_hash} for e in self.ledger.timeline(task_id)]}

        handlers: dict[str, Handler] = {
            "status": status, "stop": stop, "pause": pause, "resume": resume, "logs": logs,
            "config.reload": reload_config, "config.set": set_config, "task.get": task}
        for name, handler in handlers.items():
            self.commands.register(name, handler)
