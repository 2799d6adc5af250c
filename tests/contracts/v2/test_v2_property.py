"""Property: random sequences of every TaskMarket action keep COMP and GOV conserved, and no
deposit leaves without its owner's signature.

Each example runs stakes, unstakes, deposits, withdrawals, vouchers (and forged ones), on-chain
R = 1 / R = 3 tasks (claims, results, commits, reveals, escalations, finalizations, cancels),
receipt disputes and waits against the real contracts on py-evm; an action the contract refuses
(its eth_call reverts) is skipped. After every accepted action:
- COMP: the market holds exactly the deposits plus the escrow of unsettled tasks; all COMP sits in
  the tracked accounts; total supply = start + minted − burned (the burned fees announced);
- GOV: the market holds exactly the executors' stakes; executors + market + treasury hold a
  constant total (what a slash takes, the treasury gains);
- a requester's deposit only shrinks in a withdrawal it sent, a voucher or order it signed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from eth_tester.exceptions import TransactionFailed
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from v2_flows import SPEC_HASH
from v2_support import COLLATERAL, GAS, TOKEN, Chain, commitment, result_hash
from web3.exceptions import ContractCustomError, ContractLogicError

from oarn_tui.chain.v2.typed_data import TaskOrder, sign_order, sign_receipt, sign_voucher

REQ = st.integers(0, 1)
EXE = st.integers(0, 3)
ANS = st.sampled_from(["good", "good", "bad"])
TASK = st.sampled_from([0, 0, 0, 1])  # 0 = the latest task, 1 = the one before
SUBMIT = st.one_of(
    st.tuples(st.just("submit1"), REQ, st.one_of(st.none(), EXE)),
    st.tuples(st.just("submit3"), REQ, st.permutations([0, 1, 2, 3])),
)
LIFECYCLE = st.one_of(
    st.tuples(st.just("work"), TASK, EXE, st.tuples(ANS, ANS, ANS)),
    st.tuples(st.just("reveal_all"), TASK),
    st.tuples(st.just("finalize"), TASK),
    st.tuples(st.just("wait"), st.sampled_from([700, 4_000])),
)
ACTION = st.one_of(
    LIFECYCLE,
    SUBMIT,
    st.tuples(st.just("stake"), EXE, st.integers(50, 200)),
    st.tuples(st.just("unstake"), EXE, st.integers(10, 150)),
    st.tuples(st.just("complete"), EXE),
    st.tuples(st.just("deposit"), REQ, st.integers(1, 60)),
    st.tuples(st.just("withdraw_request"), REQ, st.integers(1, 60)),
    st.tuples(st.just("withdraw"), REQ),
    st.tuples(st.just("voucher"), REQ, EXE, st.integers(1, 30)),
    st.tuples(st.just("forged"), REQ, EXE),
    st.tuples(st.just("submit1"), REQ, st.one_of(st.none(), EXE)),
    st.tuples(st.just("submit3"), REQ, st.permutations([0, 1, 2, 3])),
    st.tuples(st.just("claim"), TASK, EXE),
    st.tuples(st.just("work"), TASK, EXE, st.tuples(ANS, ANS, ANS)),
    st.tuples(st.just("reveal_all"), TASK),
    st.tuples(st.just("work"), TASK, EXE, st.tuples(ANS, ANS, ANS)),
    st.tuples(st.just("finalize"), TASK),
    st.tuples(st.just("result"), TASK, EXE, ANS),
    st.tuples(st.just("commit"), TASK, EXE, ANS),
    st.tuples(st.just("reveal"), TASK, EXE),
    st.tuples(st.just("escalate"), TASK, st.permutations([0, 1, 2, 3])),
    st.tuples(st.just("finalize"), TASK),
    st.tuples(st.just("cancel"), TASK),
    st.tuples(st.just("dispute"), st.tuples(ANS, ANS, ANS)),
    st.tuples(st.just("wait"), st.sampled_from([100, 700, 4_000])),
)


@dataclass
class World:
    chain: Chain
    requesters: list[str]
    executors: list[str]
    tasks: list[int] = field(default_factory=list)
    secrets: dict[tuple[int, str], tuple[bytes, str, bytes]] = field(default_factory=dict)
    vouchers: dict[tuple[str, str], int] = field(default_factory=dict)
    minted: int = 0
    burned: int = 0
    nonce: int = 0


def attempt(chain: Chain, function: Any, sender: str) -> Any | None:
    """Send `function` if its eth_call succeeds; None if the contract refuses it."""
    try:
        function.call({"from": sender, "gas": GAS})
    except (ContractCustomError, ContractLogicError, TransactionFailed):
        return None
    return chain.tx(function, sender)


def step(world: World, action: tuple[Any, ...]) -> tuple[Any | None, set[str]]:
    """Run one action; returns its receipt and the requesters that authorised a deposit debit."""
    chain, market = world.chain, world.chain.v2["market"]
    fn = market.functions
    kind = action[0]
    task = (
        world.tasks[-1 - action[1]]
        if kind
        in {
            "claim",
            "result",
            "commit",
            "reveal",
            "escalate",
            "finalize",
            "cancel",
            "work",
            "reveal_all",
        }
        and len(world.tasks) > action[1]
        else None
    )
    r = (
        world.requesters[action[1]]
        if kind
        in {"deposit", "withdraw_request", "withdraw", "voucher", "forged", "submit1", "submit3"}
        else None
    )
    if kind == "stake":
        return attempt(chain, fn.stake(action[2] * TOKEN), world.executors[action[1]]), set()
    if kind == "unstake":
        return attempt(
            chain, fn.requestUnstake(action[2] * TOKEN), world.executors[action[1]]
        ), set()
    if kind == "complete":
        return attempt(chain, fn.completeUnstake(), world.executors[action[1]]), set()
    if kind == "deposit":
        return attempt(chain, fn.deposit(action[2] * TOKEN), r), set()
    if kind == "withdraw_request":
        return attempt(chain, fn.requestWithdrawal(action[2] * TOKEN), r), set()
    if kind == "withdraw":
        return attempt(chain, fn.withdraw(), r), {r}
    if kind in {"voucher", "forged"}:
        executor = world.executors[action[2]]
        cumulative = (
            world.vouchers.get((r, executor), 0) + (action[3] if kind == "voucher" else 5) * TOKEN
        )
        signer = r if kind == "voucher" else executor
        signature = sign_voucher(chain.keys[signer], chain.market_domain, r, executor, cumulative)
        receipt = attempt(chain, fn.redeemBatch([(r, executor, cumulative)], [signature]), executor)
        if receipt is not None:
            assert kind == "voucher", "a forged voucher was redeemed"
            world.vouchers[(r, executor)] = cumulative
        return receipt, {r} if kind == "voucher" else set()
    if kind in {"submit1", "submit3"}:
        if kind == "submit1":
            assigned = [] if action[2] is None else [world.executors[action[2]]]
            redundancy = 1
        else:
            assigned = [world.executors[i] for i in action[2][:3]]
            redundancy = 3
        spec = (
            SPEC_HASH,
            1,
            redundancy,
            10 * TOKEN,
            COLLATERAL,
            chain.now() + 3_000,
            600,
            assigned,
        )
        receipt = attempt(chain, fn.submitTask(spec), r)
        if receipt is not None:
            world.tasks.append(int(fn.taskCount().call()))
        return receipt, set()
    if kind == "dispute":
        order = TaskOrder(
            world.requesters[0],
            SPEC_HASH,
            1,
            3,
            TOKEN,
            COLLATERAL,
            chain.now() + 99,
            60,
            tuple(world.executors[:3]),
            world.nonce,
        )
        world.nonce += 1
        receipts, sigs = [], []
        for executor, answer in zip(world.executors[:3], action[1], strict=True):
            receipt, sig = sign_receipt(
                chain.keys[executor], chain.market_domain, order, executor, result_hash(answer)
            )
            receipts.append(receipt)
            sigs.append(sig)
        order_sig = sign_order(chain.keys[order.requester], chain.market_domain, order)
        return attempt(
            chain,
            fn.disputeReceipts(order.as_tuple(), order_sig, receipts, sigs),
            world.executors[3],
        ), set()
    if kind == "wait":
        chain.advance(action[1])
        return None, set()
    if task is None:
        return None, set()
    if kind == "claim":
        return attempt(chain, fn.claimTask(task), world.executors[action[2]]), set()
    if kind == "work":  # R = 1: claim + result by one executor; R > 1: every slot commits
        info = fn.getTask(task).call()
        if info[2] == 1:
            executor = world.executors[action[2]]
            claimed = attempt(chain, fn.claimTask(task), executor)
            result = fn.submitResult(task, result_hash(action[3][0]), "cid")
            return attempt(chain, result, executor) or claimed, set()
        last = None
        for slot, answer in zip(range(info[2]), action[3] * 3, strict=False):
            executor = fn.getClaim(task, slot).call()[0]
            salt = os.urandom(32)
            digest = commitment(result_hash(answer), "cid", salt, executor)
            receipt = attempt(chain, fn.commitResult(task, digest), executor)
            if receipt is not None:
                world.secrets[(task, executor)] = (result_hash(answer), "cid", salt)
                account(world, receipt)
                last = receipt
        return last, set()
    if kind == "reveal_all":
        last = None
        for (task_id, executor), secret in list(world.secrets.items()):
            if task_id == task:
                receipt = attempt(chain, fn.revealResult(task, *secret), executor)
                last = receipt or last
        return last, set()
    if kind == "result":
        return attempt(
            chain, fn.submitResult(task, result_hash(action[3]), "cid"), world.executors[action[2]]
        ), set()
    if kind == "commit":
        executor, salt = world.executors[action[2]], os.urandom(32)
        digest = commitment(result_hash(action[3]), "cid", salt, executor)
        receipt = attempt(chain, fn.commitResult(task, digest), executor)
        if receipt is not None:
            world.secrets[(task, executor)] = (result_hash(action[3]), "cid", salt)
        return receipt, set()
    if kind == "reveal":
        executor = world.executors[action[2]]
        secret = world.secrets.get((task, executor))
        return (attempt(chain, fn.revealResult(task, *secret), executor) if secret else None), set()
    if kind == "escalate":
        requester = fn.getTask(task).call()[0]
        extra = [world.executors[i] for i in action[2][:2]]
        return attempt(chain, fn.escalate(task, extra), requester), set()
    if kind == "finalize":
        return attempt(chain, fn.finalize(task), world.executors[0]), set()
    requester = fn.getTask(task).call()[0]
    return attempt(chain, fn.cancelTask(task), requester), set()


def account(world: World, receipt: Any) -> None:
    """Add the COMP minted and burned that a receipt's events announce."""
    chain, market = world.chain, world.chain.v2["market"]
    fee_bps = int(market.functions.params().call()[2])
    for paid in chain.events(market, "ExecutorPaid", receipt):
        world.burned += int(paid["fee"])
    for voucher in chain.events(market, "VoucherRedeemed", receipt):
        world.burned += int(voucher["paid"]) * fee_bps // 10_000
    for minted in chain.events(chain.v2["comp"], "EmissionMinted", receipt):
        world.minted += int(minted["amount"])


def check(world: World, start: dict[str, int]) -> None:
    chain, market = world.chain, world.chain.v2["market"]
    fn = market.functions
    escrow = 0
    for task_id in range(1, int(fn.taskCount().call()) + 1):
        task = fn.getTask(task_id).call()
        if task[1] in (1, 2):  # Open, Escalating
            escrow += int(task[17]) * int(task[2])  # reward × slots
    deposits = sum(int(fn.depositOf(r).call()) for r in world.requesters)
    assert chain.comp(market.address) == deposits + escrow
    supply = int(chain.v2["comp"].functions.totalSupply().call())
    assert supply == start["supply"] + world.minted - world.burned
    tracked = [chain.deployer, market.address, *world.requesters, *world.executors]
    assert sum(chain.comp(a) for a in tracked) == supply
    stakes = sum(chain.stake_of(e) for e in world.executors)
    assert chain.gov(market.address) == stakes
    treasury = chain.v2["timelock"].address
    gov_total = sum(chain.gov(a) for a in [*world.executors, market.address, treasury])
    assert gov_total == start["gov"]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    first=st.lists(SUBMIT, min_size=1, max_size=2),
    actions=st.lists(ACTION, min_size=6, max_size=16),
)
def test_v2_conserves_comp_and_gov_and_deposits_need_signatures(
    chain_module: Chain, first: list[tuple[Any, ...]], actions: list[tuple[Any, ...]]
) -> None:
    chain = chain_module
    snapshot = chain.tester.take_snapshot()
    try:
        world = World(chain, [chain.accounts[1], chain.accounts[8]], chain.accounts[2:6])
        chain.tx(
            chain.v2["comp"].functions.transfer(world.requesters[1], 1_000 * TOKEN), chain.deployer
        )
        for executor in world.executors:
            chain.tx(chain.v2["market"].functions.stake(200 * TOKEN), executor)
        for requester in world.requesters:  # so vouchers and orders have something to draw on
            chain.tx(chain.v2["market"].functions.deposit(200 * TOKEN), requester)
        treasury = chain.v2["timelock"].address
        start = {
            "supply": int(chain.v2["comp"].functions.totalSupply().call()),
            "gov": sum(
                chain.gov(a) for a in [*world.executors, chain.v2["market"].address, treasury]
            ),
        }
        for action in [*first, *actions]:
            before = {
                r: int(chain.v2["market"].functions.depositOf(r).call()) for r in world.requesters
            }
            receipt, authorised = step(world, action)
            if receipt is not None:
                note(f"accepted {action[0]}")
                account(world, receipt)
            for r in world.requesters:
                if int(chain.v2["market"].functions.depositOf(r).call()) < before[r]:
                    assert r in authorised, f"{action[0]} took {r}'s deposit without its signature"
            check(world, start)
    finally:
        chain.tester.revert_to_snapshot(snapshot)
