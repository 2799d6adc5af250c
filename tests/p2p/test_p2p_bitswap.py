"""A 20 MiB file added on one node process is fetched on another through DHT providers and
bitswap, verified block by block and end to end."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nodeharness import NodeProcess, start_network, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FILE_SIZE = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def storage_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    nodes = start_network(tmp_path_factory.mktemp("bitswap"), 3, "--storage")
    try:
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def test_20mib_file_is_fetched_through_dht_providers_and_verified(
        storage_network: list[NodeProcess], tmp_path: Path) -> None:
    bootstrap, provider, fetcher = storage_network
    assert wait_until(lambda: len(fetcher.call("peers")["peers"]) >= 2, 60)
    data = os.urandom(FILE_SIZE)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    added = provider.call("add_file", path=str(path), timeout_s=120)
    assert added["size"] == FILE_SIZE and added["provided"]
    providers = fetcher.call("providers", cid=added["cid"])["providers"]
    assert [p["peer_id"] for p in providers] == [provider.peer_id]  # deduplicated
    fetched = fetcher.call("fetch", cid=added["cid"], timeout_s=240)
    assert fetched["size"] == FILE_SIZE
    assert fetched["sha256"] == hashlib.sha256(data).hexdigest()
    assert fetched["blocks"] >= FILE_SIZE // (256 * 1024)  # every leaf came over bitswap
    assert fetched["progress_updates"] >= 5  # large fetches report progress
    served = provider.call("snapshot")["snapshot"]["bitswap"]["served"]
    assert served >= FILE_SIZE // (256 * 1024)
    # having fetched it, the fetcher provides the file too
    assert wait_until(lambda: {p["peer_id"] for p in bootstrap.call(
        "providers", cid=added["cid"])["providers"]} == {provider.peer_id, fetcher.peer_id}, 30)


def test_fetch_of_unknown_content_fails_with_no_providers(
        storage_network: list[NodeProcess]) -> None:
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    with pytest.raises(RuntimeError, match="NoProviders"):
        storage_network[2].call("fetch", cid=missing, timeout_s=120)
    assert all(node.alive() for node in storage_network)
