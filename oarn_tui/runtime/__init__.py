"""The node runtime: services, events, snapshots, state. Never imports Textual (DESIGN rule 1)."""

from __future__ import annotations
