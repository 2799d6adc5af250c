"""Task flows on v1 and v2 used by the v2 attack, settlement and property tests."""

from __future__ import annotations

import os
from typing import Any

from eth_utils import keccak
from v2_support import COLLATERAL, TOKEN, Chain, commitment, result_hash

REWARD = 10 * TOKEN
SPEC_HASH = keccak(text="bafkmodel|bafkinput|onnx")


# ---------------------------------------------------------------- v1
def v1_spec(
    chain: Chain,
    *,
    reward: int = REWARD,
    redundancy: int = 1,
    determinism: int = 1,
    deadline_in: int = 3_600,
    claim_timeout: int = 600,
) -> tuple[Any, ...]:
    return (
        "bafkmodel",
        "bafkinput",
        "onnx",
        0,
        512,
        60,
        determinism,
        reward,
        redundancy,
        chain.now() + deadline_in,
        claim_timeout,
    )


def v1_submit(chain: Chain, requester: str, **spec: Any) -> int:
    tasks = chain.v1["tasks"]
    chain.tx(tasks.functions.submitTask(v1_spec(chain, **spec)), requester)
    return int(tasks.functions.taskCount().call())


def v1_stake(chain: Chain, executor: str, amount: int = 200 * TOKEN) -> None:
    chain.tx(chain.v1["tasks"].functions.stake(amount), executor)


def v1_commit(chain: Chain, task_id: int, executors: list[str], answers: list[str]) -> list[bytes]:
    """Each executor claims and commits its answer; returns the salts."""
    tasks = chain.v1["tasks"]
    salts = [os.urandom(32) for _ in executors]
    for executor in executors:
        chain.tx(tasks.functions.claimTask(task_id), executor)
    for executor, answer, salt in zip(executors, answers, salts, strict=True):
        digest = commitment(result_hash(answer), f"cid-{answer}", salt, executor)
        chain.tx(tasks.functions.commitResult(task_id, digest), executor)
    return salts


def v1_reveal(chain: Chain, task_id: int, executor: str, answer: str, salt: bytes) -> None:
    reveal = chain.v1["tasks"].functions.revealResult(
        task_id, result_hash(answer), f"cid-{answer}", salt
    )
    chain.tx(reveal, executor)


# ---------------------------------------------------------------- v2
def v2_spec(
    chain: Chain,
    *,
    executors: list[str] | tuple[str, ...] = (),
    reward: int = REWARD,
    redundancy: int = 1,
    determinism: int = 1,
    deadline_in: int = 3_600,
    claim_timeout: int = 600,
    collateral: int = COLLATERAL,
) -> tuple[Any, ...]:
    return (
        SPEC_HASH,
        determinism,
        redundancy,
        reward,
        collateral,
        chain.now() + deadline_in,
        claim_timeout,
        list(executors),
    )


def v2_submit(chain: Chain, requester: str, **spec: Any) -> int:
    market = chain.v2["market"]
    chain.tx(market.functions.submitTask(v2_spec(chain, **spec)), requester)
    return int(market.functions.taskCount().call())


def v2_stake(chain: Chain, executor: str, amount: int = 200 * TOKEN) -> None:
    chain.tx(chain.v2["market"].functions.stake(amount), executor)


def v2_commit(chain: Chain, task_id: int, executors: list[str], answers: list[str]) -> list[bytes]:
    """Each assigned executor commits (claiming on the way); returns the salts."""
    market = chain.v2["market"]
    salts = [os.urandom(32) for _ in executors]
    for executor, answer, salt in zip(executors, answers, salts, strict=True):
        digest = commitment(result_hash(answer), f"cid-{answer}", salt, executor)
        chain.tx(market.functions.commitResult(task_id, digest), executor)
    return salts


def v2_reveal(chain: Chain, task_id: int, executor: str, answer: str, salt: bytes) -> None:
    reveal = chain.v2["market"].functions.revealResult(
        task_id, result_hash(answer), f"cid-{answer}", salt
    )
    chain.tx(reveal, executor)


def net(amount: int) -> int:
    """What an executor receives of `amount` after the 5 % protocol fee."""
    return amount - amount * 500 // 10_000
