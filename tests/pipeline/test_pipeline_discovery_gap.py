"""A worker whose chain discovery is starting (a daemon just restarted) misses no task.

Discovery scans the open tasks, then follows `TaskSubmitted` events from a start block. A task
submitted after the scan read the task counter but before the start block was read was in
neither: a just-restarted worker never saw it (when the gossip hint also missed it). Here the
in-process chain itself submits a task at exactly that moment, right after it answered the
worker's `taskCount` read, and the worker has no p2p: only the chain can tell it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.security.worker_node import (
    Chain,
    CountingProvider,
    start_chain,
    start_worker,
    task_registry_selectors,
    wait_for,
)


class SubmitAfterCounterRead(CountingProvider):
    """Once armed, the first `taskCount` read is answered as it was, and then (before the
    answer reaches the caller) a task is submitted and mined."""

    def __init__(self) -> None:
        super().__init__()
        self.submit: Any = None  # armed by the test: an async callable returning the task id
        self.task_id: int | None = None
        self._count_key = next(key for key, name in task_registry_selectors().items()
                               if name == "taskCount")

    async def make_request(self, method: Any, params: Any) -> Any:
        answer = await super().make_request(method, params)
        is_count = str(method) == "eth_call" and params and isinstance(params[0], dict) and \
            "eth_call:" + str(params[0].get("data") or params[0].get("input") or "")[:10] \
            == self._count_key
        if is_count and self.submit is not None:
            submit, self.submit = self.submit, None
            self.task_id = await submit()
        return answer


async def test_task_submitted_while_discovery_starts_is_found(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    import tests.security.worker_node as worker_node

    monkeypatch.setattr(worker_node, "CountingProvider", SubmitAfterCounterRead)
    chain: Chain = await start_chain(tmp_path)
    provider = chain.provider
    assert isinstance(provider, SubmitAfterCounterRead)

    async def submit() -> int:
        return await chain.submit("bafy-model-of-the-gap", "bafy-input-of-the-gap")

    provider.submit = submit
    # as on the devnet: act on events at once (the in-process chain mines only on transactions)
    runtime = await start_worker(chain, tmp_path / "worker",
                                 env={"OARN_BLOCKCHAIN_CONFIRMATIONS": "0"})
    try:
        await wait_for(lambda: provider.task_id is not None, 15,
                       "the worker's scan of the open tasks")
        task_id = provider.task_id
        await wait_for(lambda: runtime.ledger.get(str(task_id)) is not None, 15,
                       f"the worker to look at task {task_id}, submitted as its discovery "
                       "started")
    finally:
        await runtime.stop()
        runtime.close()
