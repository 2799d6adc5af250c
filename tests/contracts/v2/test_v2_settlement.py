"""v2 fast path: deposits with a withdrawal delay, cumulative EIP-712 vouchers (batched across
requesters), signed task orders brought on chain, and receipt disputes that slash only on
provable fault (a strict majority of the order's executors, same determinism class)."""

from __future__ import annotations

from v2_flows import REWARD, SPEC_HASH, net, v2_stake, v2_submit
from v2_support import EPOCH, MAX_DISPUTE_SLASH, TOKEN, WITHDRAWAL_DELAY, Chain, result_hash

from oarn_tui.chain.v2.typed_data import TaskOrder, sign_order, sign_receipt, sign_voucher


def _voucher(chain: Chain, requester: str, executor: str, cumulative: int) -> tuple[tuple, bytes]:
    signature = sign_voucher(
        chain.keys[requester], chain.market_domain, requester, executor, cumulative
    )
    return (requester, executor, cumulative), signature


def test_vouchers_pay_the_difference_once_and_batch_across_requesters(chain: Chain) -> None:
    market, comp = chain.v2["market"], chain.v2["comp"]
    requesters, executor = chain.accounts[8:11], chain.accounts[2]
    for requester in requesters:
        chain.tx(comp.functions.transfer(requester, 1_000 * TOKEN), chain.deployer)
        chain.tx(market.functions.deposit(500 * TOKEN), requester)
    first = [_voucher(chain, r, executor, 10 * TOKEN) for r in requesters]
    batch = market.functions.redeemBatch([v for v, _ in first], [s for _, s in first])
    chain.tx(batch, chain.accounts[11])  # anyone may bring them; the executor is paid
    assert chain.comp(executor) == net(30 * TOKEN)
    chain.tx(batch, chain.accounts[11])  # replay pays nothing
    assert chain.comp(executor) == net(30 * TOKEN)
    later = [_voucher(chain, r, executor, 25 * TOKEN) for r in requesters]
    chain.tx(market.functions.redeemBatch([v for v, _ in later], [s for _, s in later]), executor)
    assert chain.comp(executor) == net(75 * TOKEN)
    assert market.functions.depositOf(requesters[0]).call() == 475 * TOKEN
    # a voucher not signed by the deposit's owner, or over the deposit, is refused
    forged = sign_voucher(
        chain.keys[executor], chain.market_domain, requesters[0], executor, 99 * TOKEN
    )
    bad = market.functions.redeemBatch([(requesters[0], executor, 99 * TOKEN)], [forged])
    chain.reverts(bad, executor, "BadSignature")
    huge, signature = _voucher(chain, requesters[0], executor, 10_000 * TOKEN)
    chain.reverts(
        market.functions.redeemBatch([huge], [signature]), executor, "InsufficientDeposit"
    )


def test_withdrawal_waits_and_vouchers_still_redeem_meanwhile(chain: Chain) -> None:
    market = chain.v2["market"]
    requester, executor = chain.accounts[1], chain.accounts[2]
    chain.tx(market.functions.deposit(100 * TOKEN), requester)
    chain.tx(market.functions.requestWithdrawal(100 * TOKEN), requester)
    chain.reverts(market.functions.withdraw(), requester, "NotReady")
    voucher, signature = _voucher(chain, requester, executor, 40 * TOKEN)
    chain.tx(market.functions.redeemBatch([voucher], [signature]), executor)  # inside the delay
    chain.advance(WITHDRAWAL_DELAY + 1)
    before = chain.comp(requester)
    chain.tx(market.functions.withdraw(), requester)
    assert chain.comp(requester) - before == 60 * TOKEN  # what the executor did not take
    assert chain.comp(executor) == net(40 * TOKEN)


def _order(chain: Chain, executors: list[str], determinism: int = 1, nonce: int = 1) -> TaskOrder:
    return TaskOrder(
        requester=chain.accounts[1],
        spec_hash=SPEC_HASH,
        determinism=determinism,
        redundancy=len(executors),
        reward=REWARD,
        collateral=100 * TOKEN,
        deadline=chain.now() + 3_600,
        claim_timeout=600,
        executors=tuple(executors),
        nonce=nonce,
    )


def test_signed_order_becomes_a_task_funded_from_the_deposit(chain: Chain) -> None:
    market = chain.v2["market"]
    requester, executors = chain.accounts[1], chain.accounts[2:5]
    chain.tx(market.functions.deposit(100 * TOKEN), requester)
    order = _order(chain, executors)
    signature = sign_order(chain.keys[requester], chain.market_domain, order)
    assert market.functions.orderHash(order.as_tuple()).call() == order.struct_hash()
    forged = sign_order(chain.keys[executors[0]], chain.market_domain, order)
    chain.reverts(
        market.functions.submitOrder(order.as_tuple(), forged), executors[0], "BadSignature"
    )
    chain.tx(market.functions.submitOrder(order.as_tuple(), signature), executors[0])
    assert market.functions.depositOf(requester).call() == 70 * TOKEN
    chain.reverts(
        market.functions.submitOrder(order.as_tuple(), signature), executors[0], "OrderUsed"
    )
    task = market.functions.getTask(1).call()
    assert task[0] == requester and task[2] == 3


def _dispute(chain: Chain, order: TaskOrder, answers: dict[str, str]) -> tuple:
    receipts, signatures = [], []
    for executor, answer in answers.items():
        receipt, signature = sign_receipt(
            chain.keys[executor], chain.market_domain, order, executor, result_hash(answer)
        )
        receipts.append(receipt)
        signatures.append(signature)
    order_signature = sign_order(chain.keys[order.requester], chain.market_domain, order)
    return chain.v2["market"].functions.disputeReceipts(
        order.as_tuple(), order_signature, receipts, signatures
    )


def test_receipt_dispute_slashes_only_on_provable_fault(chain: Chain) -> None:
    liar, a, b, outsider = (
        chain.accounts[2],
        chain.accounts[3],
        chain.accounts[4],
        chain.accounts[5],
    )
    for executor in (liar, a, b, outsider):
        v2_stake(chain, executor)
    order = _order(chain, [liar, a, b])
    # one contradicting receipt out of three executors is no majority
    chain.reverts(_dispute(chain, order, {liar: "bad", a: "good"}), outsider, "NoFault")
    # a receipt from someone the order did not assign does not count
    chain.reverts(
        _dispute(chain, order, {liar: "bad", a: "good", outsider: "good"}), outsider, "NotAssigned"
    )
    # results of a non-comparable class are never compared
    sampled = _order(chain, [liar, a, b], determinism=0, nonce=2)
    chain.reverts(
        _dispute(chain, sampled, {liar: "bad", a: "good", b: "good"}), outsider, "NotComparable"
    )
    treasury_before = chain.gov(chain.v2["timelock"].address)
    chain.tx(_dispute(chain, order, {liar: "bad", a: "good", b: "good"}), outsider)
    assert chain.stake_of(liar) == 200 * TOKEN - MAX_DISPUTE_SLASH
    assert chain.gov(chain.v2["timelock"].address) - treasury_before == MAX_DISPUTE_SLASH
    assert chain.stake_of(a) == chain.stake_of(b) == 200 * TOKEN
    chain.reverts(
        _dispute(chain, order, {liar: "bad", a: "good", b: "good"}), outsider, "AlreadyDisputed"
    )


def test_claims_still_fail_after_a_dispute_slash_clamped_the_locked_stake(chain: Chain) -> None:
    """An executor with two live claims (200 GOV locked) loses 100 GOV to a receipt dispute, so
    `locked` is clamped to the 100 left; both claims then time out. The second failure used to
    underflow `locked` and revert, so the task could never be expired, cancelled or settled."""
    market = chain.v2["market"]
    liar, a, b = chain.accounts[2], chain.accounts[3], chain.accounts[4]
    requester = chain.accounts[1]
    for executor in (liar, a, b):
        v2_stake(chain, executor)
    tasks = [v2_submit(chain, requester) for _ in range(2)]  # open R = 1, 100 GOV collateral
    for task in tasks:
        chain.tx(market.functions.claimTask(task), liar)
    order = _order(chain, [liar, a, b])
    chain.tx(_dispute(chain, order, {liar: "bad", a: "good", b: "good"}), a)
    assert chain.stake_of(liar) == 200 * TOKEN - MAX_DISPUTE_SLASH
    chain.advance(601)  # both claims time out
    for task in tasks:
        chain.tx(market.functions.expireClaims(task), a)
        assert market.functions.getClaim(task, 0).call()[1] == 5  # Failed
    chain.tx(market.functions.cancelTask(tasks[1]), requester)  # the escrow is not stuck
    assert chain.stake_of(liar) == 100 * TOKEN - 2 * 25 * TOKEN
    assert market.functions.stakes(liar).call()[1] == 0  # nothing left locked


def _redeem(chain: Chain, requester: str, executor: str, cumulative: int) -> None:
    voucher, signature = _voucher(chain, requester, executor, cumulative)
    chain.tx(chain.v2["market"].functions.redeemBatch([voucher], [signature]), executor)


def test_fee_shares_of_consecutive_epochs_are_kept_apart(chain: Chain) -> None:
    """The executor's fee share sits in one slot per executor; a payment in a later epoch archives
    the earlier epoch's fees, and emission of each epoch is still its own share (here the cap:
    50 % of the fees burned on the executor's payments in that epoch)."""
    market = chain.v2["market"]
    requester, executor = chain.accounts[1], chain.accounts[2]
    v2_stake(chain, executor)  # creates the fee-share slot
    chain.tx(market.functions.deposit(100 * TOKEN), requester)
    first = market.functions.epochOf(chain.now()).call()
    _redeem(chain, requester, executor, 10 * TOKEN)
    _redeem(chain, requester, executor, 14 * TOKEN)
    assert market.functions.feesOf(first, executor).call() == 7 * TOKEN // 10  # 5 % of 14
    chain.advance(EPOCH)
    second = market.functions.epochOf(chain.now()).call()
    assert second == first + 1
    _redeem(chain, requester, executor, 34 * TOKEN)
    assert market.functions.feesOf(first, executor).call() == 7 * TOKEN // 10  # archived
    assert market.functions.feesOf(second, executor).call() == TOKEN  # 5 % of 20
    chain.advance(EPOCH)
    before = chain.comp(executor)
    chain.tx(market.functions.claimEmission(first), executor)
    assert chain.comp(executor) - before == 7 * TOKEN // 20
    chain.tx(market.functions.claimEmission(second), executor)
    assert chain.comp(executor) - before == 7 * TOKEN // 20 + TOKEN // 2
    chain.reverts(market.functions.claimEmission(first), executor, "AlreadyClaimed")
