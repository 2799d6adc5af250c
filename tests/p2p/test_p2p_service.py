"""Two real NodeRuntimes with the storage and p2p services: status fields, the exchange as the
storage service's fetcher, pinned roots provided through the DHT, and a verified fetch."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from oarn_tui.config import load_config
from oarn_tui.p2p.messages import PROTOCOL_STATUS, AccountBinding, MessageError
from oarn_tui.p2p.service import P2PService
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.fetch import fetch_dag
from oarn_tui.storage.service import StorageService
from oarn_tui.storage.unixfs import ImportOptions, import_bytes, read_file
from oarn_tui.wallet.service import WalletService
from oarn_tui.wallet.unlock import UnlockedWallet
from oarn_tui.wallet.vault import VaultPayload

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ENV = {"OARN_NETWORK_MODE": "standard", "OARN_NETWORK_LISTEN_HOST": "127.0.0.1"}


def runtime_for(home: Path, bootstrap: list[str] | None = None,
                with_wallet: bool = False) -> NodeRuntime:
    config = load_config(home, env=ENV)
    storage = StorageService()
    wallet = None
    if with_wallet:
        payload = VaultPayload(bytearray(os.urandom(32)), bytearray(os.urandom(32)), False)
        wallet = WalletService(unlocked=UnlockedWallet(payload, "test", home / "wallet.vault"))
    services: list[object] = [storage, P2PService(bootstrap, reprovide_interval_s=0.5,
                                                  wallet=wallet, storage=storage)]
    if wallet is not None:
        services.append(wallet)
    return NodeRuntime(config, services, log_to_file=False)  # type: ignore[arg-type]


async def test_runtime_status_and_a_pinned_file_fetched_by_another_node(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    config_a = load_config(tmp_path / "a", env=ENV)
    blocks = Blockstore(config_a.path(config_a.storage.blocks_path))
    root = import_bytes(data, ImportOptions.v1(), blocks.put).cid
    blocks.pin(root, "test")
    blocks.close()

    first = runtime_for(tmp_path / "a", with_wallet=True)
    await first.start()
    second = None
    try:
        status = first.status()
        assert status["services"]["p2p"]["state"] == "running"
        assert status["peer_id"] and status["listen_addrs"][0].endswith(status["peer_id"])
        assert "/oarn/tasks/1" in status["topics"]
        assert status["network"]["reachable"] == "not reachable"  # loopback only

        second = runtime_for(tmp_path / "b", bootstrap=[status["listen_addrs"][0]],
                             with_wallet=True)
        await second.start()
        p2p_a = first.services["p2p"]
        assert isinstance(p2p_a, P2PService)

        async def provided() -> None:
            while str(root) not in p2p_a.provided:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(provided(), 30)
        storage_b = second.services["storage"]
        assert isinstance(storage_b, StorageService)
        assert storage_b.fetcher is second.services["p2p"].exchange  # type: ignore[attr-defined]
        progress: list[int] = []
        store_b = storage_b.storage.blocks  # type: ignore[union-attr]
        size = await fetch_dag(root, storage_b.fetcher, store_b,  # type: ignore[arg-type]
                               progress=lambda done, total: progress.append(done))
        assert size == len(data) and progress[-1] == len(data)
        assert await asyncio.to_thread(read_file, root, store_b.get) == data

        async def peers_listed() -> None:
            while not second.status()["peer_list"]:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(peers_listed(), 10)
        assert second.status()["peer_list"][0]["peer_id"] == status["peer_id"]

        # the wallet's key and binding: B runs fully and answers /oarn/status/1 with a bound reply
        p2p_b = second.services["p2p"]
        assert isinstance(p2p_b, P2PService) and p2p_b.node is not None
        assert second.status()["services"]["p2p"]["state"] == "running"
        wallet_b = second.services["wallet"].unlocked  # type: ignore[attr-defined]
        assert p2p_b.node.peer_id == wallet_b.peer_id
        assert p2p_a.node is not None
        reply = await p2p_a.node.request(p2p_b.node.peer_id, PROTOCOL_STATUS, "status",
                                         {"status": {}})
        assert reply.body["status"]["peer_id"] == wallet_b.peer_id
        assert reply.binding is not None and reply.binding.address == wallet_b.address
        # a reply whose binding does not verify is dropped like bad gossip
        assert p2p_a.node.binding is not None
        p2p_a.node.binding = AccountBinding(wallet_b.address, p2p_a.node.binding.signature)
        with pytest.raises(MessageError, match="bad_binding"):
            await p2p_b.node.request(p2p_a.node.peer_id, PROTOCOL_STATUS, "status",
                                     {"status": {}})
    finally:
        if second is not None:
            await second.stop()
        await first.stop()
    assert first.services["storage"].fetcher is None  # type: ignore[attr-defined]
