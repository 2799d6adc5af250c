"""Whether the node takes new network tasks: one owner, written by the operator and the config.

The runtime owns one `AcceptingSwitch`; the pipeline and the compute service read it through
`ServiceHost.accepting`, and `status --json` shows it as `accepting` (with `accepting_set_by`).
Two writers, last write wins:

- the `pause` / `resume` commands (the dashboard's p key, `oarn pause`), which do not touch the
  config file: a pause is an operator's act for this run;
- a config reload in which `compute.accepting` changed: the file is the operator's word too, so
  a changed key overrides an earlier pause or resume. A reload that leaves the key as it was
  leaves the switch as it is (a pause survives reloading other keys).

At start the switch takes the config's value.
"""

from __future__ import annotations

from dataclasses import dataclass

SET_BY_CONFIG = "config"
SET_BY_OPERATOR = "operator"


@dataclass(frozen=True)
class AcceptingChange:
    """What one write did: the new value, who wrote it and whether the value changed."""

    accepting: bool
    set_by: str
    changed: bool


class AcceptingSwitch:
    """The single place `accepting` lives (see the module docstring)."""

    def __init__(self, initial: bool) -> None:
        self._accepting = bool(initial)
        self._set_by = SET_BY_CONFIG

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def set_by(self) -> str:
        """`config` or `operator`: who wrote the current value last."""
        return self._set_by

    def set(self, accepting: bool, set_by: str) -> AcceptingChange:
        changed = bool(accepting) != self._accepting
        self._accepting, self._set_by = bool(accepting), set_by
        return AcceptingChange(self._accepting, set_by, changed)
