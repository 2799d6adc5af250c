"""Announcement floods (issue 14, finding 8): fake task ids from fresh identities must cost the
node a bounded, small number of chain reads, no ledger rows and bounded memory; minting
identities or copying real announcements must not buy a larger budget."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from oarn_tui.p2p.host import generate_identity
from oarn_tui.pipeline.intake import (
    COUNTER_TTL_S,
    SHARED_BURST,
    SHARED_RATE_PER_S,
    AnnouncementIntake,
    BoundedSet,
    Hint,
    HintQueue,
    OriginBudgets,
    TaskCounter,
)
from tests.security.worker_node import (
    announcement,
    item,
    start_chain,
    start_worker,
    wait_for,
)

TASK_READS = ("getTask", "getClaim", "openSlots", "getExecutorStats", "getClaimants")


async def test_a_flood_of_fake_ids_from_fresh_identities_costs_no_task_read_and_no_row(
        tmp_path: Path) -> None:
    chain = await start_chain(tmp_path)
    runtime = await start_worker(chain, tmp_path / "worker")
    try:
        pipeline = runtime.services["pipeline"]
        rng = random.Random(14)
        identities, per_identity = 300, 64
        floods = [announcement([item(rng.randrange(1, 2**62), "mlp-mnist")
                                for _ in range(per_identity)]) for _ in range(identities)]
        floods += [announcement([item(i, "mlp-mnist") for i in range(1, 65)])
                   for _ in range(20)]  # small ids too: the chain has no task yet
        before = chain.task_reads()
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(pipeline._on_announcement(e) for e in floods)),
                               60)
        await asyncio.sleep(2.0)  # whatever was queued would run by now
        elapsed = time.monotonic() - started
        after = chain.task_reads()
        spent = {name: after[name] - before[name] for name in (*TASK_READS, "taskCount")}
        # the attacker's gain: no task read at all, and the counter read at most once per TTL
        assert all(spent[name] == 0 for name in TASK_READS), spent
        assert spent["taskCount"] <= 2 + elapsed / COUNTER_TTL_S, (spent, elapsed)
        assert runtime.ledger.counts() == {}, runtime.ledger.counts()
        doc = dict(pipeline.status_fields())
        assert doc["pipeline"]["queued"] == 0 and doc["pipeline"]["active"] == []
        stats = doc["pipeline"]["announcements"]
        assert stats["admitted"] == 0, stats
        assert len(pipeline.intake.seen) == 0 and len(pipeline.intake.budgets) == 0
        # asking for an unknown id by hand says so, and leaves no row either
        from oarn_tui.core.service import CommandError

        with pytest.raises(CommandError, match="no task 99 on chain"):
            await runtime.commands.call("task.claim", task_id=99)
        assert runtime.ledger.counts() == {}
    finally:
        await runtime.stop()
        runtime.close()


async def test_only_the_paying_requester_earns_its_own_budget(tmp_path: Path) -> None:
    """A peer that copies a real announcement under its own identity gains nothing; the
    requester whose account paid for the task gets its own budget (the chain confirms it)."""
    chain = await start_chain(tmp_path)
    runtime = await start_worker(chain, tmp_path / "worker",
                                 {"OARN_BLOCKCHAIN_CONFIRMATIONS": "64"})
    try:
        pipeline, ledger = runtime.services["pipeline"], runtime.ledger
        first = await chain.submit("bafkreia" + "a" * 51, "bafkreia" + "b" * 51)
        second = await chain.submit("bafkreia" + "a" * 51, "bafkreia" + "c" * 51)
        copier, requester = generate_identity(), generate_identity()
        copied = announcement([item(first)], key_pair=copier)  # bound to a random account
        await pipeline._on_announcement(copied)
        await wait_for(lambda: ledger.get(str(first)) is not None, 30, "the copied hint's run")
        paid = announcement([item(second)], key_pair=requester, account_key=chain.keys[0])
        await pipeline._on_announcement(paid)
        await wait_for(lambda: ledger.get(str(second)) is not None, 30, "the paid hint's run")
        budgets = pipeline.intake.budgets
        assert not budgets.is_known(copied.sender)
        await wait_for(lambda: budgets.is_known(paid.sender), 10, "the requester's budget")
        assert len(budgets) == 1
    finally:
        await runtime.stop()
        runtime.close()


async def test_minting_identities_does_not_multiply_the_budget() -> None:
    """1 000 fresh identities × 64 real-looking ids together get one shared budget, while a
    confirmed requester keeps its own budget through the flood."""
    clock = [0.0]
    budgets = OriginBudgets(clock=lambda: clock[0])
    reads: list[int] = []

    async def task_count() -> int:
        reads.append(1)
        return 10**9  # every id below is a real task: only the budget limits the cost

    intake = AnnouncementIntake(TaskCounter(task_count, clock=lambda: clock[0]),
                                budgets=budgets)
    budgets.vouch("12D3KooWRequester")
    admitted = 0
    for origin in range(1_000):
        clock[0] += 0.001  # one second for the whole flood
        ids = list(range(origin * 64 + 1, origin * 64 + 65))
        admitted += len(await intake.admit(f"12D3KooWFresh{origin}", "", ids, {}))
    assert admitted <= SHARED_BURST + SHARED_RATE_PER_S * clock[0] + 1, admitted
    honest = await intake.admit("12D3KooWRequester", "", list(range(10**8, 10**8 + 64)), {})
    assert len(honest) == 64
    assert len(reads) == 1  # one counter read served the whole flood
    assert intake.stats["over_budget"] >= 1_000 * 64 - admitted


def test_queues_and_sets_stay_bounded_and_hints_expire() -> None:
    seen = BoundedSet(100)
    for task_id in range(10_000):
        seen.add(task_id)
    assert len(seen) == 100 and 9_999 in seen and 0 not in seen
    now = [1000.0]
    dropped: list[int] = []
    queue = HintQueue(max_items=50, ttl_s=120.0, clock=lambda: now[0],
                      on_drop=lambda hint: dropped.append(hint.task_id))
    for task_id in range(200):
        queue.put(Hint(task_id, "12D3KooWX", seen_at=now[0]))
    assert len(queue) == 50 and queue.dropped == 150 and dropped == list(range(150))
    now[0] += 121.0
    queue.put(Hint(1_000, "12D3KooWX", seen_at=now[0]))
    assert queue.pop() == Hint(1_000, "12D3KooWX", seen_at=now[0])
    assert queue.dropped == 151 and queue.expired == 49  # the cap evicted one more
    assert len(queue) == 0 and queue.pop() is None
    budgets = OriginBudgets(max_known=10)
    for origin in range(1_000):
        budgets.vouch(f"12D3KooW{origin}")
    assert len(budgets) == 10
