"""The contract between the runtime and its services, below every layer that has a service.

A service (wallet, hardware, storage, p2p, compute, chain, pipeline...) gets a `ServiceHost` when
it starts: the config, the event bus, the command registry and the node's shared state. It never
sees the runtime's other services by name: what a service needs from another is handed to it
when the runtime is assembled (`runtime/assemble.py`), typed by that service's face.

`ServiceBase` gives the optional hooks explicit defaults, so the runtime calls them on every
service instead of probing with `getattr`. `CommandError` and `CommandRegistry` live in
`core/commands.py` (checked against `core/catalog`) and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from oarn_tui.core.commands import BadArguments, CommandError, CommandRegistry, Handler

__all__ = ["BadArguments", "CommandError", "CommandRegistry", "Handler", "Service",
           "ServiceBase", "ServiceHost"]

if TYPE_CHECKING:
    from oarn_tui.config import NodeConfig
    from oarn_tui.core.events import EventBus
    from oarn_tui.core.ledger import TaskLedger
    from oarn_tui.core.peerbook import PeerBook


class ServiceHost(Protocol):
    """What a running service may use of the node that hosts it."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def home(self) -> Path: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def commands(self) -> CommandRegistry: ...

    @property
    def ledger(self) -> TaskLedger: ...

    @property
    def peers(self) -> PeerBook: ...

    @property
    def accepting(self) -> bool:
        """Whether the operator lets the node take network tasks now (pause/resume)."""
        ...

    async def restart_dependents(self, name: str) -> list[str]:
        """Restart the services that depend on `name` (the wallet after it unlocks)."""
        ...


@runtime_checkable
class Service(Protocol):
    """A part of the node with a lifecycle, started in dependency order."""

    name: str
    depends_on: tuple[str, ...]

    async def start(self, host: ServiceHost) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """`{"state": ..., "reason": ...}` for the document's `services` table."""
        ...

    def status_fields(self) -> Mapping[str, Any]:
        """Top-level fields of the status document this service owns (may be empty)."""
        ...

    def config_changed(self, config: NodeConfig, live: list[str]) -> None:
        """Apply live-reloadable keys (`live` names them) without a restart."""
        ...

    @property
    def revision(self) -> int:
        """Bumped when the service's status changes without an event (chain height...)."""
        ...


class ServiceBase:
    """Defaults for a service's optional hooks: no status fields, no live config, revision 0."""

    name: str = ""
    depends_on: tuple[str, ...] = ()
    revision: int = 0

    def status_fields(self) -> Mapping[str, Any]:
        return {}

    def config_changed(self, config: NodeConfig, live: list[str]) -> None:
        return None
