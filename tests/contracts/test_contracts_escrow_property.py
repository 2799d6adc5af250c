"""Property: over random action sequences the TaskRegistry escrow never creates or loses COMP.

Each example runs a random sequence of submits, claims, work (a claim plus the direct result or
the commitment, by one executor or by a crowd of three), reveals, finalizations, refunds,
cancellations and waits against the real contracts (actions the contract refuses are skipped
after an `eth_call`), between `evm_snapshot` and `evm_revert`. After every accepted action:
- the registry's COMP balance equals the escrow the events account for (submitted minus paid,
  refunded and cancelled);
- requester + registry + executors hold exactly their starting COMP plus the minted bonus;
- each executor holds exactly the rewards and bonuses its `ExecutorPaid` events announced, and
  the minted bonus equals the sum of those bonuses (total supply moves by nothing else).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from contracts_support import TOKEN, Oarn, commitment, result_hash
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_note
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

TASK = st.sampled_from([0, 0, 0, 1, 2])  # 0 = the latest open task, 1 = the one before, ...
EXECUTOR = st.integers(0, 3)
ANSWER = st.sampled_from([0, 0, 0, 1])  # mostly agreeing executors
SUBMIT = st.tuples(st.just("submit"), st.integers(1, 3), st.integers(1, 5))
WORK = st.tuples(st.just("work"), TASK, EXECUTOR, ANSWER)
CROWD = st.tuples(st.just("crowd"), TASK, st.lists(ANSWER, min_size=3, max_size=3))
REVEAL = st.tuples(st.just("reveal"), TASK)
FINALIZE = st.tuples(st.just("finalize"), TASK)
ACTION = st.one_of(  # whole-phase actions weighted up so that tasks actually get settled
    SUBMIT,
    st.tuples(st.just("claim"), TASK, EXECUTOR),
    WORK,
    CROWD,
    CROWD,
    REVEAL,
    REVEAL,
    FINALIZE,
    FINALIZE,
    st.tuples(st.just("refund"), TASK),
    st.tuples(st.just("cancel"), TASK),
    st.tuples(st.just("wait"), st.sampled_from([60, 700, 4_000])),
)


@dataclass
class Ledger:
    """What the test expects, built from the events of the transactions it sent."""

    task_ids: list[int] = field(default_factory=list)
    open_tasks: list[int] = field(default_factory=list)
    redundancy: dict[int, int] = field(default_factory=dict)
    escrow: int = 0
    secrets: dict[tuple[int, str], tuple[bytes, str, bytes]] = field(default_factory=dict)
    earned: dict[str, int] = field(default_factory=dict)
    bonuses: int = 0


def attempt(oarn: Oarn, function: Any, sender: str) -> Any | None:
    """Send the call if the contract accepts it now; None when it would revert."""
    try:
        function.call({"from": sender})
    except (ContractCustomError, ContractLogicError):
        return None
    return oarn.tx(function, sender)


def work(oarn: Oarn, ledger: Ledger, task_id: int, executor: str, answer_index: int) -> list[Any]:
    """Claim (if not yet) and send the result (R = 1) or its commitment (R > 1)."""
    functions = oarn.tasks.functions
    receipts = [attempt(oarn, functions.claimTask(task_id), executor)]
    answer, cid = result_hash(f"answer-{answer_index}"), f"cid-{answer_index}"
    if ledger.redundancy[task_id] == 1:
        receipts.append(attempt(oarn, functions.submitResult(task_id, answer, cid), executor))
    else:
        salt = os.urandom(32)
        digest = commitment(answer, cid, salt, executor)
        receipt = attempt(oarn, functions.commitResult(task_id, digest), executor)
        if receipt is not None:
            ledger.secrets[(task_id, executor)] = (answer, cid, salt)
        receipts.append(receipt)
    return receipts


def step(oarn: Oarn, ledger: Ledger, action: tuple[Any, ...]) -> bool:
    """Apply one action; True when it changed the chain's state."""
    kind = action[0]
    functions = oarn.tasks.functions
    if kind == "wait":
        oarn.advance(action[1])
        return False
    if kind == "submit":
        spec = oarn.spec(redundancy=action[1], reward=action[2] * TOKEN, claim_timeout=600)
        receipt = attempt(oarn, functions.submitTask(spec), oarn.requester)
        if receipt is not None:
            (event,) = oarn.tasks.events.TaskSubmitted().process_receipt(receipt, errors=DISCARD)
            task_id = int(event["args"]["taskId"])
            ledger.task_ids.append(task_id)
            ledger.open_tasks.append(task_id)
            ledger.redundancy[task_id] = action[1]
            ledger.escrow += action[1] * action[2] * TOKEN
        return receipt is not None
    if not ledger.open_tasks:
        return False
    task_id = ledger.open_tasks[-1 - action[1] % len(ledger.open_tasks)]
    receipts: list[Any] = []
    if kind == "claim":
        receipts.append(attempt(oarn, functions.claimTask(task_id), oarn.executors[action[2]]))
    elif kind == "work":
        receipts += work(oarn, ledger, task_id, oarn.executors[action[2]], action[3])
    elif kind == "crowd":
        for executor, answer_index in zip(oarn.executors, action[2], strict=False):
            receipts += work(oarn, ledger, task_id, executor, answer_index)
    elif kind == "reveal":
        for executor in oarn.executors:
            secret = ledger.secrets.get((task_id, executor))
            if secret is not None:
                reveal = functions.revealResult(task_id, *secret)
                receipts.append(attempt(oarn, reveal, executor))
    elif kind == "finalize":
        receipts.append(attempt(oarn, functions.finalize(task_id), oarn.outsider))
    elif kind == "refund":
        receipts.append(attempt(oarn, functions.refund(task_id), oarn.requester))
    elif kind == "cancel":
        receipts.append(attempt(oarn, functions.cancelTask(task_id), oarn.requester))
    sent = [receipt for receipt in receipts if receipt is not None]
    for receipt in sent:
        record(oarn, ledger, receipt)
    return bool(sent)


def record(oarn: Oarn, ledger: Ledger, receipt: Any) -> None:
    """Account for the escrow movements announced by one receipt's events."""
    events = oarn.tasks.events
    ended = [
        *events.TaskFinalized().process_receipt(receipt, errors=DISCARD),
        *events.TaskCancelled().process_receipt(receipt, errors=DISCARD),
    ]
    for event in ended:
        ledger.escrow -= int(event["args"]["refunded"])
        ledger.open_tasks.remove(int(event["args"]["taskId"]))
    for event in events.ExecutorPaid().process_receipt(receipt, errors=DISCARD):
        paid = event["args"]
        amount = int(paid["reward"]) + int(paid["bonus"])
        ledger.earned[paid["executor"]] = ledger.earned.get(paid["executor"], 0) + amount
        ledger.bonuses += int(paid["bonus"])
        ledger.escrow -= int(paid["reward"])
        event_note("an executor was paid")


def comp_balance(oarn: Oarn, account: str) -> int:
    """balanceOf through a bare eth_call (the property test makes thousands of these)."""
    data = "0x70a08231" + account[2:].lower().rjust(64, "0")
    call = {"to": oarn.comp.address, "data": data}
    return int(oarn.w3.provider.make_request("eth_call", [call, "latest"])["result"], 16)


def holdings(oarn: Oarn) -> int:
    accounts = [oarn.requester, oarn.tasks.address, *oarn.executors]
    return sum(comp_balance(oarn, account) for account in accounts)


def check(oarn: Oarn, ledger: Ledger, start_holdings: int, start_supply: int) -> None:
    assert comp_balance(oarn, oarn.tasks.address) == ledger.escrow
    minted = int(oarn.comp.functions.totalSupply().call()) - start_supply
    assert minted == ledger.bonuses
    assert holdings(oarn) == start_holdings + minted
    for executor in oarn.executors:
        assert comp_balance(oarn, executor) == ledger.earned.get(executor, 0)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(first=SUBMIT, actions=st.lists(ACTION, min_size=5, max_size=12))
def test_escrow_never_creates_or_loses_comp(
    oarn_module: Oarn, first: tuple[Any, ...], actions: list[tuple[Any, ...]]
) -> None:
    oarn = oarn_module
    snapshot_id = oarn.snapshot()
    try:
        start_holdings = holdings(oarn)
        start_supply = int(oarn.comp.functions.totalSupply().call())
        ledger = Ledger(escrow=comp_balance(oarn, oarn.tasks.address))
        for action in [first, *actions]:
            if step(oarn, ledger, action):  # a refused action changes nothing
                check(oarn, ledger, start_holdings, start_supply)
        check(oarn, ledger, start_holdings, start_supply)
    finally:
        oarn.revert_to(snapshot_id)
