"""Hostile content cannot hurt the node (issue 14, bounded content): DAG bombs, deep DAGs,
results larger than declared and peers that send bad blocks. Each test asserts the attacker's gain
is zero: a clear refusal, nothing on disk, memory bounded, the sender's score lowered."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from libp2p.bitswap.block_store import MemoryBlockStore
from libp2p.bitswap.cid import CIDInput

from oarn_tui.p2p.host import generate_identity, peer_id_of
from oarn_tui.p2p.messages import make_binding
from oarn_tui.p2p.node import NodeOptions, P2PNode
from oarn_tui.storage.bitswap import VerifiedBlockStore
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.cid import CID, DAG_PB, RAW
from oarn_tui.storage.content import DigestMismatch, LocalContentStore
from oarn_tui.storage.dagpb import (
    UNIXFS_FILE,
    PBLink,
    PBNode,
    UnixFSData,
    encode_pbnode,
    encode_unixfs,
)
from oarn_tui.storage.exchange import BitswapExchange
from oarn_tui.storage.fetch import FetchError, StoreFetcher, fetch_dag
from oarn_tui.storage.limits import ContentRefused, DagLimits, FetchBudget
from oarn_tui.storage.unixfs import CHUNK_SIZE
from oarn_tui.wallet.signer import LocalSigner

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20


def file_node(store: Blockstore, children: list[tuple[CID, int, int]], data: bytes = b"") -> CID:
    """Put a UnixFS File node linking `children` (cid, file size, tsize); returns its CID."""
    meta = UnixFSData(UNIXFS_FILE, data, len(data) + sum(size for _, size, _ in children),
                      tuple(size for _, size, _ in children))
    block = encode_pbnode(PBNode(tuple(PBLink(cid, tsize) for cid, _, tsize in children),
                                 encode_unixfs(meta)))
    return store.put_block(block, DAG_PB)


def dag_bomb(store: Blockstore, repeats: int = 400) -> tuple[CID, int]:
    """Two blocks (~282 KB) declaring a 100 MiB file: one node listing one leaf `repeats` times."""
    leaf_bytes = random.Random(6).randbytes(CHUNK_SIZE)
    leaf = store.put_block(leaf_bytes, RAW)
    root = file_node(store, [(leaf, CHUNK_SIZE, CHUNK_SIZE)] * repeats)
    wire = sum(len(store.get(key)) for key in (leaf, root))
    return root, wire


def deep_chain(store: Blockstore, depth: int) -> CID:
    """A chain of `depth` one-link nodes above a 1-byte leaf."""
    cid = store.put_block(b"x", RAW)
    for _ in range(depth):
        cid = file_node(store, [(cid, 1, 0)])
    return cid


class CountingFetcher(StoreFetcher):
    """The hostile peer: serves its store and counts what it was asked for."""

    def __init__(self, store: Blockstore) -> None:
        super().__init__(store)
        self.requested = 0

    async def get_block(self, cid: CID) -> bytes:
        self.requested += 1
        return await super().get_block(cid)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


async def test_dag_bomb_of_two_blocks_is_refused_and_leaves_nothing_on_disk(
        tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker")
    root, wire = dag_bomb(attacker)
    assert wire < 300_000  # 282 KB on the wire ...
    victim = Blockstore(tmp_path / "victim")
    with pytest.raises(ContentRefused, match=r"repeats block .* more than 32 times"):
        await fetch_dag(root, StoreFetcher(attacker), victim)  # ... claiming 100 MiB
    assert victim.count() == 0 and victim.size() == 0  # the fetched blocks were removed again
    # the worker's next step (assembling the file) has nothing to assemble either
    out = tmp_path / "work" / "model.onnx"
    with pytest.raises(Exception, match="not complete"):
        await LocalContentStore(victim).get_file(root, out)
    assert files_under(tmp_path / "work") == []


async def test_dag_bomb_already_in_the_store_is_refused_while_assembling(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    root, _wire = dag_bomb(store)
    out_dir = tmp_path / "work"
    with pytest.raises(ContentRefused, match="DAG bomb"):
        await LocalContentStore(store).get_file(root, out_dir / "model.onnx")
    assert files_under(out_dir) == []  # no partial file, no temp file


async def test_dag_bomb_within_a_raised_repeat_limit_is_still_capped_by_declared_size(
        tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker")
    root, _ = dag_bomb(attacker)
    victim = Blockstore(tmp_path / "victim")
    limits = DagLimits(max_repeats=1000, max_bytes=10 * MIB)
    with pytest.raises(ContentRefused, match="declares 104857600 bytes, over the limit"):
        await fetch_dag(root, CountingFetcher(attacker), victim, limits=limits)
    assert victim.count() == 0
    # a task's disk quota refuses it the same way, before any child is fetched
    fetcher = CountingFetcher(attacker)
    with pytest.raises(ContentRefused, match="disk quota"):
        await fetch_dag(root, fetcher, victim, limits=DagLimits(max_repeats=1000),
                        budget=FetchBudget(50 * MIB))
    assert fetcher.requested == 1 and victim.count() == 0


async def test_deep_dag_is_refused_at_the_depth_cap_without_memory_blow_up(
        tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker", durable=False)
    root = deep_chain(attacker, 2000)
    victim = Blockstore(tmp_path / "victim", durable=False)
    fetcher = CountingFetcher(attacker)
    tracemalloc.start()
    try:
        with pytest.raises(ContentRefused, match="deeper than 32 levels"):
            await fetch_dag(root, fetcher, victim)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fetcher.requested <= 34  # stopped at the cap, not after walking 2000 levels
    assert peak < 8 * MIB
    assert victim.count() == 0
    with pytest.raises(ContentRefused, match="deeper than 32 levels"):
        LocalContentStore(attacker).get_file_sync(root, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


async def test_node_with_too_many_links_is_refused_before_its_children_are_fetched(
        tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker")
    leaves = [attacker.put_block(os.urandom(8), RAW) for _ in range(1500)]
    root = file_node(attacker, [(leaf, 8, 8) for leaf in leaves])
    fetcher = CountingFetcher(attacker)
    victim = Blockstore(tmp_path / "victim")
    with pytest.raises(ContentRefused, match="1500 links, over the limit of 1024"):
        await fetch_dag(root, fetcher, victim)
    assert fetcher.requested == 1 and victim.count() == 0


async def test_node_declaring_less_than_its_children_hold_is_refused(tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker")
    big = attacker.put_block(os.urandom(CHUNK_SIZE), RAW)
    root = file_node(attacker, [(big, 1000, 1000)])  # "1000 bytes" hiding 256 KiB
    with pytest.raises(ContentRefused, match="more than the 1000 its link declares"):
        await fetch_dag(root, StoreFetcher(attacker), Blockstore(tmp_path / "victim"))


async def test_root_whose_links_declare_a_huge_transfer_is_refused_before_its_children(
        tmp_path: Path) -> None:
    attacker = Blockstore(tmp_path / "attacker")
    leaf = attacker.put_block(b"8 bytes!", RAW)
    root = file_node(attacker, [(leaf, 8, 1 << 40)])  # Tsize: "1 TiB below this link"
    fetcher = CountingFetcher(attacker)
    victim = Blockstore(tmp_path / "victim")
    with pytest.raises(ContentRefused, match="bytes to transfer, over the limit"):
        await fetch_dag(root, fetcher, victim)
    assert fetcher.requested == 1 and victim.count() == 0


async def test_result_larger_than_declared_is_refused_while_streaming(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    big = store.put_block(os.urandom(CHUNK_SIZE), RAW)
    root = file_node(store, [(big, 1000, 0)])  # no Tsize to catch it: the bytes do
    out = tmp_path / "result.bin"
    with pytest.raises(ContentRefused, match="declares 262144 bytes where its parent declares"):
        await LocalContentStore(store).save_verified(root, out, "0x" + "00" * 32)
    assert files_under(tmp_path) == files_under(tmp_path / "blocks")  # no result, no temp file


async def test_result_is_streamed_hashed_and_renamed_only_when_its_hash_matches(
        tmp_path: Path) -> None:
    content = LocalContentStore(Blockstore(tmp_path / "blocks", durable=False))
    data = random.Random(8).randbytes(24 * MIB + 5)
    root = content.add_file_sync(data)
    out = tmp_path / "out" / "result.bin"
    with pytest.raises(DigestMismatch, match="hashes to"):
        await content.save_verified(root, out, "0x" + "11" * 32)
    assert files_under(tmp_path / "out") == []
    tracemalloc.start()
    try:
        size = await content.save_verified(root, out, "0x" + hashlib.sha256(data).hexdigest())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == len(data) and out.read_bytes() == data
    assert peak < 4 * MIB  # never the whole 24 MiB result in memory
    assert files_under(tmp_path / "out") == [out]


async def test_honest_files_with_repeated_chunks_within_the_limit_still_fetch(
        tmp_path: Path) -> None:
    source = LocalContentStore(Blockstore(tmp_path / "a"))
    data = bytes(20 * CHUNK_SIZE) + b"tail"  # 20 identical zero chunks
    root = source.add_file_sync(data)
    victim = Blockstore(tmp_path / "b")
    assert await fetch_dag(root, StoreFetcher(source.blocks), victim) == len(data)
    out = tmp_path / "out.bin"
    await LocalContentStore(victim).get_file(root, out)
    assert out.read_bytes() == data


# -- bitswap: a peer that sends blocks not matching their CID ----------------------------------


class LyingStore(MemoryBlockStore):
    """The hostile peer's block store: claims every block and serves random bytes for it."""

    async def has_block(self, cid: CIDInput) -> bool:
        return True

    async def get_block(self, cid: CIDInput) -> bytes | None:
        return os.urandom(64)


def node(tmp_path: Path, name: str, block_store: object, **options: object) -> P2PNode:
    key_pair = generate_identity()
    binding = make_binding(LocalSigner.from_key(os.urandom(32)), peer_id_of(key_pair))
    opts = NodeOptions(**options)  # type: ignore[arg-type]
    return P2PNode(key_pair, opts, binding=binding, block_store=block_store)


async def wait_for(predicate, timeout_s: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout_s)
    except TimeoutError:
        return False
    return True


@pytest.fixture
async def honest_and_liar(tmp_path: Path) -> AsyncIterator[tuple[P2PNode, P2PNode,
                                                                  BitswapExchange]]:
    blocks = Blockstore(tmp_path / "honest")
    adapter = VerifiedBlockStore(blocks)
    honest = node(tmp_path, "honest", adapter)
    await honest.start()
    liar = node(tmp_path, "liar", LyingStore(), bootstrap=[honest.snapshot()["listen_addrs"][0]])
    try:
        await liar.start()
        exchange = BitswapExchange(honest, blocks, adapter, block_timeout_s=1.0)
        yield honest, liar, exchange
    finally:
        await liar.stop()
        await honest.stop()


async def test_peer_sending_bad_blocks_is_scored_down_banned_and_disconnected(
        honest_and_liar: tuple[P2PNode, P2PNode, BitswapExchange]) -> None:
    honest, liar, exchange = honest_and_liar
    assert await wait_for(lambda: liar.peer_id in {p["peer_id"] for p in honest.peers()})
    wanted = [CID.for_block(os.urandom(32), RAW) for _ in range(5)]

    async def fetch(cid: CID) -> str:
        try:
            await exchange.fetch(cid, hint=liar.peer_id)
        except FetchError as error:
            return type(error).__name__
        return "fetched"

    outcomes = await asyncio.wait_for(asyncio.gather(*(fetch(cid) for cid in wanted)), 60)
    assert "fetched" not in outcomes  # nothing the liar sent was accepted
    adapter = exchange.adapter
    assert adapter.bad_blocks.get(liar.peer_id, 0) >= 4
    assert honest.scores.score(liar.peer_id) <= honest.scores.ban_threshold
    assert honest.scores.is_banned(liar.peer_id)
    assert exchange.store.count() == 0  # no bad block stored
    assert await wait_for(lambda: liar.peer_id not in {p["peer_id"] for p in honest.peers()})
    # banned: the exchange no longer asks it, even when hinted
    before = adapter.bad_blocks[liar.peer_id]
    with pytest.raises(FetchError):
        await asyncio.wait_for(exchange.fetch(wanted[0], hint=liar.peer_id), 30)
    assert adapter.bad_blocks[liar.peer_id] == before


async def test_dag_bomb_served_over_bitswap_is_refused_by_the_exchange(tmp_path: Path) -> None:
    """The worker's path: `BitswapExchange.fetch` from the task's requester (a real peer)."""
    attacker_blocks = Blockstore(tmp_path / "attacker")
    root, _wire = dag_bomb(attacker_blocks)
    attacker = node(tmp_path, "attacker", VerifiedBlockStore(attacker_blocks))
    await attacker.start()
    victim_blocks = Blockstore(tmp_path / "victim")
    adapter = VerifiedBlockStore(victim_blocks)
    victim = node(tmp_path, "victim", adapter,
                  bootstrap=[attacker.snapshot()["listen_addrs"][0]])
    try:
        await victim.start()
        exchange = BitswapExchange(victim, victim_blocks, adapter, block_timeout_s=5.0)
        assert await wait_for(lambda: attacker.peer_id in {p["peer_id"] for p in victim.peers()})
        with pytest.raises(ContentRefused, match="DAG bomb"):
            await asyncio.wait_for(exchange.fetch(root, hint=attacker.peer_id,
                                                  budget=FetchBudget(200 * MIB)), 60)
        assert exchange.fetched_blocks == 2  # the root and the leaf, once: 282 KB, no more
        assert victim_blocks.count() == 0 and victim_blocks.size() == 0
    finally:
        await victim.stop()
        await attacker.stop()
