"""OARN contracts v2: artifacts (artifacts/v2/) and EIP-712 typed-data helpers for TaskMarket.

The node still runs on v1 (`oarn_tui.chain.contracts`); this package is what the v2 pipeline and
the v2 contract tests use.
"""
