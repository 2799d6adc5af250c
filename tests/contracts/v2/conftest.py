"""Fixtures of the v2 contract tests (py-evm in process; defined in v2_support)."""

from __future__ import annotations

from v2_support import chain, chain_module

__all__ = ["chain", "chain_module"]
