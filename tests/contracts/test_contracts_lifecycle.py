"""TaskRegistry lifecycle on a real anvil: R = 1, R = 3 agreeing/disagreeing, timeouts, refunds."""

from __future__ import annotations

import os

from contracts_support import MIN_STAKE, REVEAL_WINDOW, TOKEN, Oarn, commitment, result_hash
from web3.logs import DISCARD

REWARD = 10 * TOKEN
BONUS = 1 * TOKEN  # DeployParameters.bonus_per_executor
SLASH = MIN_STAKE * 2_500 // 10_000  # slashBps default 25 % of the minimum stake
OPEN, FINALIZED, CANCELLED = 1, 2, 3


def run_redundant(oarn: Oarn, task_id: int, answers: list[str]) -> None:
    """Executors i claim, commit answers[i], then reveal them (R = len(answers))."""
    executors = oarn.executors[: len(answers)]
    salts = [os.urandom(32) for _ in answers]
    for executor in executors:
        oarn.tx(oarn.tasks.functions.claimTask(task_id), executor)
    for executor, answer, salt in zip(executors, answers, salts, strict=True):
        digest = commitment(result_hash(answer), f"cid-{answer}", salt, executor)
        oarn.tx(oarn.tasks.functions.commitResult(task_id, digest), executor)
    assert oarn.tasks.functions.revealOpen(task_id).call()
    for executor, answer, salt in zip(executors, answers, salts, strict=True):
        digest = result_hash(answer)
        reveal = oarn.tasks.functions.revealResult(task_id, digest, f"cid-{answer}", salt)
        oarn.tx(reveal, executor)


def test_r1_whole_lifecycle_pays_reward_and_bonus(oarn: Oarn) -> None:
    executor = oarn.executors[0]
    requester_before = oarn.comp_balance(oarn.requester)
    task_id = oarn.submit(reward=REWARD)
    assert oarn.comp_balance(oarn.tasks.address) == REWARD
    assert oarn.comp_balance(oarn.requester) == requester_before - REWARD
    assert oarn.tasks.functions.openSlots(task_id).call() == 1

    receipt = oarn.tx(oarn.tasks.functions.claimTask(task_id), executor)
    (claimed,) = oarn.tasks.events.TaskClaimed().process_receipt(receipt, errors=DISCARD)
    assert claimed["args"]["executor"] == executor
    assert oarn.tasks.functions.openSlots(task_id).call() == 0
    oarn.reverts(oarn.tasks.functions.finalize(task_id), oarn.outsider, "NotFinalizable")

    answer = result_hash("output-bytes")
    oarn.tx(oarn.tasks.functions.submitResult(task_id, answer, "bafkresult"), executor)
    receipt = oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)  # anyone may finalize

    (finalized,) = oarn.tasks.events.TaskFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["majority"] is True
    assert finalized["args"]["resultHash"] == answer
    assert finalized["args"]["refunded"] == 0
    (paid,) = oarn.tasks.events.ExecutorPaid().process_receipt(receipt, errors=DISCARD)
    assert (paid["args"]["reward"], paid["args"]["bonus"]) == (REWARD, BONUS)
    assert oarn.comp_balance(executor) == REWARD + BONUS
    assert oarn.comp_balance(oarn.tasks.address) == 0
    assert oarn.stats(executor) == (1, 0, 0)
    task = oarn.task(task_id)
    assert (task["status"], task["escrow"], task["resultHash"]) == (FINALIZED, 0, answer)
    oarn.reverts(oarn.tasks.functions.finalize(task_id), oarn.outsider, "TaskNotOpen")


def test_r3_agreeing_pays_all_three(oarn: Oarn) -> None:
    task_id = oarn.submit(reward=REWARD, redundancy=3)
    assert oarn.comp_balance(oarn.tasks.address) == 3 * REWARD
    run_redundant(oarn, task_id, ["same", "same", "same"])
    receipt = oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)
    assert len(oarn.tasks.events.ExecutorPaid().process_receipt(receipt, errors=DISCARD)) == 3
    for executor in oarn.executors[:3]:
        assert oarn.comp_balance(executor) == REWARD + BONUS
        assert oarn.stats(executor) == (1, 0, 0)
        assert oarn.tasks.functions.stakeOf(executor).call() == 200 * TOKEN


def test_r3_one_disagreeing_is_slashed_and_majority_paid(oarn: Oarn) -> None:
    requester_before = oarn.comp_balance(oarn.requester)
    governance_gov_before = oarn.gov_balance(oarn.governance)
    task_id = oarn.submit(reward=REWARD, redundancy=3)
    run_redundant(oarn, task_id, ["good", "good", "bad"])
    receipt = oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)

    honest, honest2, liar = oarn.executors[:3]
    assert oarn.comp_balance(honest) == oarn.comp_balance(honest2) == REWARD + BONUS
    assert oarn.comp_balance(liar) == 0
    assert oarn.comp_balance(oarn.requester) == requester_before - 2 * REWARD
    assert oarn.stats(honest) == (1, 0, 0)
    assert oarn.stats(liar) == (0, 1, 0)
    assert oarn.tasks.functions.stakeOf(liar).call() == 200 * TOKEN - SLASH
    assert oarn.tasks.functions.stakeOf(honest).call() == 200 * TOKEN
    assert oarn.gov_balance(oarn.governance) == governance_gov_before + SLASH
    (slashed,) = oarn.tasks.events.StakeSlashed().process_receipt(receipt, errors=DISCARD)
    assert (slashed["args"]["executor"], slashed["args"]["amount"]) == (liar, SLASH)
    (disagreed,) = oarn.tasks.events.ResultDisagreed().process_receipt(receipt, errors=DISCARD)
    assert disagreed["args"]["resultHash"] == result_hash("bad")


def test_r3_no_majority_refunds_everything(oarn: Oarn) -> None:
    requester_before = oarn.comp_balance(oarn.requester)
    task_id = oarn.submit(reward=REWARD, redundancy=3)
    run_redundant(oarn, task_id, ["a", "b", "c"])
    receipt = oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)
    (finalized,) = oarn.tasks.events.TaskFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["majority"] is False
    assert finalized["args"]["refunded"] == 3 * REWARD
    assert oarn.comp_balance(oarn.requester) == requester_before
    assert oarn.comp_balance(oarn.tasks.address) == 0
    for executor in oarn.executors[:3]:
        assert oarn.comp_balance(executor) == 0
        assert oarn.tasks.functions.stakeOf(executor).call() == 200 * TOKEN


def test_r2_split_is_no_majority(oarn: Oarn) -> None:
    task_id = oarn.submit(reward=REWARD, redundancy=2)
    run_redundant(oarn, task_id, ["x", "y"])
    oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)
    assert oarn.comp_balance(oarn.executors[0]) == oarn.comp_balance(oarn.executors[1]) == 0
    assert oarn.stats(oarn.executors[1]) == (0, 0, 0)  # no majority: nobody is called wrong


def test_claim_timeout_reopens_the_slot(oarn: Oarn) -> None:
    slow, fresh = oarn.executors[:2]
    task_id = oarn.submit(reward=REWARD, claim_timeout=600)
    oarn.tx(oarn.tasks.functions.claimTask(task_id), slow)
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), fresh, "NoOpenSlot")
    oarn.advance(601)
    assert oarn.tasks.functions.openSlots(task_id).call() == 1
    late = oarn.tasks.functions.submitResult(task_id, result_hash("late"), "c")
    oarn.reverts(late, slow, "ClaimExpired")

    receipt = oarn.tx(oarn.tasks.functions.claimTask(task_id), fresh)
    (timed_out,) = oarn.tasks.events.ClaimTimedOut().process_receipt(receipt, errors=DISCARD)
    assert timed_out["args"]["executor"] == slow
    assert oarn.stats(slow) == (0, 0, 1)
    oarn.reverts(late, slow, "NotClaimant")
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), slow, "AlreadyClaimed")

    oarn.tx(oarn.tasks.functions.submitResult(task_id, result_hash("ok"), "c"), fresh)
    oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)
    assert oarn.comp_balance(fresh) == REWARD + BONUS
    assert oarn.comp_balance(slow) == 0
    assert oarn.tasks.functions.activeClaimsOf(slow).call() == 0


def test_expire_claims_frees_the_stake_lock(oarn: Oarn) -> None:
    executor = oarn.executors[0]
    task_id = oarn.submit(reward=REWARD, claim_timeout=600)
    oarn.tx(oarn.tasks.functions.claimTask(task_id), executor)
    oarn.reverts(oarn.tasks.functions.unstake(200 * TOKEN), executor, "StakeLocked")
    oarn.tx(oarn.tasks.functions.unstake(100 * TOKEN), executor)  # down to the minimum is fine
    oarn.advance(601)
    receipt = oarn.tx(oarn.tasks.functions.expireClaims(task_id), oarn.outsider)
    assert len(oarn.tasks.events.ClaimTimedOut().process_receipt(receipt, errors=DISCARD)) == 1
    assert oarn.stats(executor) == (0, 0, 1)
    oarn.tx(oarn.tasks.functions.unstake(100 * TOKEN), executor)
    assert oarn.tasks.functions.stakeOf(executor).call() == 0


def test_cancel_only_by_requester_and_before_any_claim(oarn: Oarn) -> None:
    requester_before = oarn.comp_balance(oarn.requester)
    task_id = oarn.submit(reward=REWARD, redundancy=2)
    oarn.reverts(oarn.tasks.functions.cancelTask(task_id), oarn.outsider, "NotRequester")
    receipt = oarn.tx(oarn.tasks.functions.cancelTask(task_id), oarn.requester)
    (cancelled,) = oarn.tasks.events.TaskCancelled().process_receipt(receipt, errors=DISCARD)
    assert cancelled["args"]["refunded"] == 2 * REWARD
    assert oarn.comp_balance(oarn.requester) == requester_before
    assert oarn.task(task_id)["status"] == CANCELLED
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), oarn.executors[0], "TaskNotOpen")

    claimed_id = oarn.submit(reward=REWARD)
    oarn.tx(oarn.tasks.functions.claimTask(claimed_id), oarn.executors[0])
    oarn.reverts(oarn.tasks.functions.cancelTask(claimed_id), oarn.requester, "HasClaims")


def test_refund_after_deadline_returns_escrow(oarn: Oarn) -> None:
    executor = oarn.executors[0]
    requester_before = oarn.comp_balance(oarn.requester)
    task_id = oarn.submit(reward=REWARD, deadline_in=1_000, claim_timeout=5_000)
    oarn.tx(oarn.tasks.functions.claimTask(task_id), executor)
    oarn.reverts(oarn.tasks.functions.refund(task_id), oarn.requester, "DeadlineNotPassed")
    oarn.reverts(oarn.tasks.functions.unstake(200 * TOKEN), executor, "StakeLocked")
    oarn.advance(1_001)
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), oarn.executors[1], "DeadlinePassed")
    late = oarn.tasks.functions.submitResult(task_id, result_hash("x"), "c")
    oarn.reverts(late, executor, "DeadlinePassed")

    receipt = oarn.tx(oarn.tasks.functions.refund(task_id), oarn.requester)
    (finalized,) = oarn.tasks.events.TaskFinalized().process_receipt(receipt, errors=DISCARD)
    assert (finalized["args"]["majority"], finalized["args"]["refunded"]) == (False, REWARD)
    assert oarn.comp_balance(oarn.requester) == requester_before
    assert oarn.stats(executor) == (0, 0, 1)
    oarn.tx(oarn.tasks.functions.unstake(200 * TOKEN), executor)  # no active claim any more
    assert oarn.gov_balance(executor) == 1_000 * TOKEN


def test_double_claim_by_one_executor_is_refused(oarn: Oarn) -> None:
    task_id = oarn.submit(reward=REWARD, redundancy=3)
    oarn.tx(oarn.tasks.functions.claimTask(task_id), oarn.executors[0])
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), oarn.executors[0], "AlreadyClaimed")
    assert oarn.tasks.functions.openSlots(task_id).call() == 2


def test_results_from_non_claimants_are_refused(oarn: Oarn) -> None:
    single = oarn.submit(reward=REWARD)
    oarn.tx(oarn.tasks.functions.claimTask(single), oarn.executors[0])
    submit = oarn.tasks.functions.submitResult(single, result_hash("x"), "c")
    oarn.reverts(submit, oarn.executors[1], "NotClaimant")
    oarn.reverts(submit, oarn.outsider, "NotClaimant")

    triple = oarn.submit(reward=REWARD, redundancy=3)
    oarn.tx(oarn.tasks.functions.claimTask(triple), oarn.executors[0])
    commit = oarn.tasks.functions.commitResult(triple, b"\x01" * 32)
    oarn.reverts(commit, oarn.outsider, "NotClaimant")
    direct = oarn.tasks.functions.submitResult(triple, result_hash("x"), "c")
    oarn.reverts(direct, oarn.executors[0], "WrongPhase")


def test_commit_reveal_rules(oarn: Oarn) -> None:
    first, second, third = oarn.executors[:3]
    task_id = oarn.submit(reward=REWARD, redundancy=3, deadline_in=3_600)
    salt = os.urandom(32)
    answer = result_hash("answer")
    for executor in (first, second):
        oarn.tx(oarn.tasks.functions.claimTask(task_id), executor)
    digest = commitment(answer, "cid", salt, first)
    assert oarn.tasks.functions.commitmentFor(answer, "cid", salt, first).call() == digest
    oarn.tx(oarn.tasks.functions.commitResult(task_id, digest), first)
    reveal = oarn.tasks.functions.revealResult(task_id, answer, "cid", salt)
    oarn.reverts(reveal, first, "WrongPhase")  # not all commitments in yet
    # A copier cannot reuse the first executor's commitment: it binds the executor's address.
    oarn.tx(oarn.tasks.functions.commitResult(task_id, digest), second)

    oarn.advance(3_600 - REVEAL_WINDOW)  # the reveal window before the deadline opens
    assert oarn.tasks.functions.revealOpen(task_id).call()
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), third, "WrongPhase")
    wrong_salt = oarn.tasks.functions.revealResult(task_id, answer, "cid", os.urandom(32))
    oarn.reverts(wrong_salt, first, "CommitmentMismatch")
    oarn.reverts(reveal, second, "CommitmentMismatch")
    oarn.tx(reveal, first)
    oarn.advance(REVEAL_WINDOW + 1)
    oarn.tx(oarn.tasks.functions.finalize(task_id), oarn.outsider)
    # One result out of R = 3 is no majority: the requester gets everything back.
    assert oarn.comp_balance(first) == 0
    assert oarn.stats(second) == (0, 0, 1)


def test_claim_requires_minimum_stake(oarn: Oarn) -> None:
    task_id = oarn.submit(reward=REWARD)
    oarn.reverts(oarn.tasks.functions.claimTask(task_id), oarn.outsider, "InsufficientStake")
    for bad_spec in (oarn.spec(redundancy=0), oarn.spec(deadline_in=-1), oarn.spec(reward=0)):
        oarn.reverts(oarn.tasks.functions.submitTask(bad_spec), oarn.requester, "InvalidSpec")
