"""The runtime's errors that a front end shows as one line.

In a module of their own so the CLI can catch them without importing the runtime (`oarn --help`
and `oarn status` stay fast).
"""

from __future__ import annotations


class DaemonError(Exception):
    """The daemon cannot start, unlock or stop for a reason the operator can fix (one line)."""
