"""Fixtures of the contract tests (defined in contracts_support, which tests also import)."""

from __future__ import annotations

from contracts_support import oarn, oarn_module, w3

__all__ = ["oarn", "oarn_module", "w3"]
