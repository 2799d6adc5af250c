"""A pull killed with SIGKILL half-way resumes after a restart from the blocks already held:
it completes, the bytes are right, and no block held at the kill is fetched again. Two oarn node
processes (tests/storage/storage_node_proc.py) on 127.0.0.1, bitswap by direct connection."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID
from oarn_tui.storage.unixfs import read_file
from tests.storage.storage_node_client import NodeProc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
MIB = 1 << 20


def test_pull_killed_half_way_resumes_without_fetching_any_block_twice(tmp_path: Path) -> None:
    data = os.urandom(16 * MIB)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    provider = NodeProc(tmp_path / "provider")
    try:
        root = provider.call(cmd="import", path=str(source))["cid"]
        addr = provider.ready["addrs"][0]
        victim = NodeProc(tmp_path / "puller", window=1)  # one block in flight: a slow pull
        victim.call(cmd="connect", addr=addr)
        victim.send(cmd="pull", cid=root)
        victim.wait("progress", 120, until=lambda item: item.get("done", 0) >= len(data) // 2)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=15)

        store = Blockstore(tmp_path / "puller" / "blocks", durable=False)
        held = set(store.keys())
        store.close()
        assert 2 <= len(held) < 65  # root + leaves: part of the 65 blocks, not all

        again = NodeProc(tmp_path / "puller")
        try:
            again.call(cmd="connect", addr=addr)
            result = again.call(cmd="pull", cid=root)
        finally:
            again.stop()
        fetched = set(result["fetched_keys"])
        assert result["size"] == len(data)
        assert not fetched & held  # no block fetched twice
        assert len(fetched | held) == 65  # and together they are the whole file
        store = Blockstore(tmp_path / "puller" / "blocks", durable=False)
        try:
            got = read_file(CID.parse(root), store.get)
        finally:
            store.close()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        provider.stop()
