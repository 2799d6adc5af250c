"""The typed boundary between the node and its front ends: every command (arguments, result)
and every event kind (payload), as dataclasses.

`COMMANDS` and `EVENTS` are the single list of what the control API, the dashboard and the CLI
may call and hear; `docs/control-api.md` is generated from them (`python -m oarn_tui.docs_gen`).
"""

from __future__ import annotations

from oarn_tui.core.catalog.commands import COMMANDS
from oarn_tui.core.catalog.events import EVENTS
from oarn_tui.core.catalog.schema import (
    CatalogError,
    CommandSpec,
    EventSpec,
    FieldInfo,
    fields_of,
    matches,
    problems,
    type_label,
)

QUIET_KINDS = frozenset(kind for kind, spec in EVENTS.items() if spec.quiet)
"""Events that change nothing in the status document (telemetry and log lines travel as events
only), so they leave `EventBus.revision` alone."""

__all__ = ["COMMANDS", "EVENTS", "QUIET_KINDS", "CatalogError", "CommandSpec", "EventSpec",
           "FieldInfo", "fields_of", "matches", "problems", "type_label"]
