"""Fixtures for the chain tests: one real anvil per test module, stopped by PID (and killed by
the kernel with the test process, however that ends: `start_anvil` ties it to its parent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oarn_tui.chain.anvil import AnvilProcess, devnet_keys, find_anvil, start_anvil

needs_anvil = pytest.mark.skipif(find_anvil() is None, reason="anvil binary not installed")


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    """A fresh anvil on 127.0.0.1 for this module; its files live under a temp dir."""
    if find_anvil() is None:
        pytest.skip("anvil binary not installed (npm ci in contracts/ or OARN_ANVIL)")
    work_dir = tmp_path_factory.mktemp("anvil")
    process = start_anvil(work_dir)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def keys() -> tuple[str, ...]:
    return devnet_keys()
