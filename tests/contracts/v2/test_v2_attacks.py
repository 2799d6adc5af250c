"""Issue 16 findings: each attack succeeds on v1 and fails on v2; attacker balances asserted.

Both systems run side by side on one py-evm chain (v2_support). Accounts: 1 = requester,
2.. = executors / attackers; 0 = the deployer (v1's governance; in v2 it holds no power).
"""

from __future__ import annotations

from v2_flows import (
    REWARD,
    net,
    v1_commit,
    v1_reveal,
    v1_stake,
    v1_submit,
    v2_commit,
    v2_reveal,
    v2_spec,
    v2_stake,
    v2_submit,
)
from v2_support import (
    CHALLENGE_WINDOW,
    COLLATERAL,
    EPOCH,
    SLASH_BPS,
    TOKEN,
    Chain,
    params,
    result_hash,
)

SLASH = COLLATERAL * SLASH_BPS // 10_000  # 25 GOV
BONUS = TOKEN


def test_sybil_majority_v1_pays_garbage_v2_refuses_unassigned(chain: Chain) -> None:
    requester, honest, sybil_a, sybil_b, h2, h3 = chain.accounts[1:7]
    # v1: two Sybils take 2 of 3 slots first, outvote the honest worker and get it slashed.
    for executor in (honest, sybil_a, sybil_b):
        v1_stake(chain, executor)
    task = v1_submit(chain, requester, redundancy=3)
    sybil_before = chain.comp_v1(sybil_a)
    salts = v1_commit(chain, task, [sybil_a, sybil_b, honest], ["garbage", "garbage", "good"])
    for executor, answer, salt in zip(
        [sybil_a, sybil_b, honest], ["garbage", "garbage", "good"], salts, strict=True
    ):
        v1_reveal(chain, task, executor, answer, salt)
    chain.tx(chain.v1["tasks"].functions.finalize(task), requester)
    assert chain.comp_v1(sybil_a) - sybil_before == REWARD + BONUS
    assert chain.v1["tasks"].functions.stakeOf(honest).call() == 175 * TOKEN
    assert chain.v1["tasks"].functions.getTask(task).call()[15] == result_hash("garbage")

    # v2: a redundant task needs the requester's assignment; Sybils cannot take a slot.
    market = chain.v2["market"]
    for executor in (honest, sybil_a, sybil_b, h2, h3):
        v2_stake(chain, executor)
    chain.reverts(
        market.functions.submitTask(v2_spec(chain, redundancy=3)), requester, "InvalidSpec"
    )
    task = v2_submit(chain, requester, redundancy=3, executors=[honest, h2, h3])
    for sybil in (sybil_a, sybil_b):
        chain.reverts(market.functions.claimTask(task), sybil, "NotAssigned")
        chain.reverts(market.functions.commitResult(task, b"\x01" * 32), sybil, "NotAssigned")
    salts = v2_commit(chain, task, [honest, h2, h3], ["good"] * 3)
    for executor, salt in zip([honest, h2, h3], salts, strict=True):
        v2_reveal(chain, task, executor, "good", salt)
    sybil_before = chain.comp(sybil_a)
    chain.tx(market.functions.finalize(task), requester)
    assert chain.comp(sybil_a) == sybil_before == 0
    assert chain.stake_of(honest) == 200 * TOKEN
    assert chain.comp(honest) == net(REWARD)


def test_one_stake_backs_many_claims_v1_only(chain: Chain) -> None:
    requester, executor = chain.accounts[1], chain.accounts[2]
    v1_stake(chain, executor, 100 * TOKEN)
    v1_tasks = [v1_submit(chain, requester) for _ in range(3)]
    for task in v1_tasks:  # one minimum stake backs every concurrent claim
        chain.tx(chain.v1["tasks"].functions.claimTask(task), executor)
    assert chain.v1["tasks"].functions.activeClaimsOf(executor).call() == 3

    v2_stake(chain, executor, 100 * TOKEN)  # = one task's collateral
    first, second = v2_submit(chain, requester), v2_submit(chain, requester)
    chain.tx(chain.v2["market"].functions.claimTask(first), executor)
    chain.reverts(chain.v2["market"].functions.claimTask(second), executor, "InsufficientStake")
    assert chain.v2["market"].functions.stakes(executor).call() == [100 * TOKEN, 100 * TOKEN]


def test_emission_farming_v1_mints_v2_self_dealing_pair_ends_poorer(chain: Chain) -> None:
    farmer, accomplice = chain.accounts[1], chain.accounts[5]
    tasks = chain.v1["tasks"]
    # v1: the requester executes its own 1-wei tasks; each mints the flat 1 COMP bonus.
    v1_stake(chain, farmer)
    before = chain.comp_v1(farmer)
    for _ in range(20):
        task = v1_submit(chain, farmer, reward=1)
        chain.tx(tasks.functions.claimTask(task), farmer)
        chain.tx(tasks.functions.submitResult(task, result_hash("x"), "c"), farmer)
        chain.tx(tasks.functions.finalize(task), farmer)
    assert chain.comp_v1(farmer) - before == 20 * TOKEN

    # v2: no self-execution, and a colluding pair pays more fee than emission returns.
    market = chain.v2["market"]
    v2_stake(chain, farmer)
    v2_stake(chain, accomplice)
    own = v2_submit(chain, farmer)
    chain.reverts(market.functions.claimTask(own), farmer, "InvalidSpec")
    chain.tx(market.functions.cancelTask(own), farmer)
    pair_before = chain.comp(farmer) + chain.comp(accomplice)
    for _ in range(20):  # 20 self-dealt on-chain tasks of 1 COMP each
        task = v2_submit(chain, farmer, reward=TOKEN, executors=[accomplice])
        chain.tx(market.functions.claimTask(task), accomplice)
        chain.tx(market.functions.submitResult(task, result_hash("x"), "c"), accomplice)
        chain.advance(CHALLENGE_WINDOW + 1)
        chain.tx(market.functions.finalize(task), accomplice)
    epoch = market.functions.epochOf(chain.now()).call()
    chain.advance(EPOCH)
    chain.tx(market.functions.claimEmission(epoch), accomplice)
    fees = 20 * TOKEN * 500 // 10_000
    pair_after = chain.comp(farmer) + chain.comp(accomplice)
    assert pair_after - pair_before == -fees + fees // 2  # burned 1 COMP, got 0.5 back
    assert pair_after < pair_before
    # 1-wei tasks burn a zero fee and so earn zero emission
    tiny = v2_submit(chain, farmer, reward=1, executors=[accomplice])
    chain.tx(market.functions.claimTask(tiny), accomplice)
    chain.tx(market.functions.submitResult(tiny, result_hash("x"), "c"), accomplice)
    chain.advance(CHALLENGE_WINDOW + 1)
    chain.tx(market.functions.finalize(tiny), accomplice)
    assert (
        market.functions.feesOf(market.functions.epochOf(chain.now()).call(), accomplice).call()
        == 0
    )


def test_withholding_r2_v1_free_refund_v2_slashes_and_pays_honest(chain: Chain) -> None:
    requester, honest, sybil = chain.accounts[1], chain.accounts[2], chain.accounts[3]
    # v1: the requester's Sybil commits and never reveals: full refund, the honest CID is public.
    for executor in (honest, sybil):
        v1_stake(chain, executor)
    before = chain.comp_v1(requester)
    task = v1_submit(chain, requester, redundancy=2, deadline_in=3_600)
    salts = v1_commit(chain, task, [honest, sybil], ["good", "good"])
    chain.advance(3_600 - 300)
    v1_reveal(chain, task, honest, "good", salts[0])  # result CID now public
    chain.advance(400)
    chain.tx(chain.v1["tasks"].functions.finalize(task), requester)
    assert chain.comp_v1(requester) == before  # got the result for free
    assert chain.comp_v1(honest) == 0
    assert chain.v1["tasks"].functions.stakeOf(sybil).call() == 200 * TOKEN

    # v2: the withholder loses the minority slash, the escalation offer lapses, honest is paid.
    market = chain.v2["market"]
    for executor in (honest, sybil):
        v2_stake(chain, executor)
    before = chain.comp(requester)
    task = v2_submit(chain, requester, redundancy=2, executors=[honest, sybil], deadline_in=3_600)
    salts = v2_commit(chain, task, [honest, sybil], ["good", "good"])
    v2_reveal(chain, task, honest, "good", salts[0])
    chain.advance(3_601)
    chain.tx(market.functions.finalize(task), requester)  # no majority of 2: escalation offered
    chain.reverts(market.functions.finalize(task), requester, "NotFinalizable")
    chain.advance(CHALLENGE_WINDOW + 1)
    chain.tx(market.functions.finalize(task), requester)
    assert chain.stake_of(sybil) == 200 * TOKEN - SLASH
    assert chain.comp(honest) == net(REWARD)
    assert chain.comp(requester) == before - REWARD  # paid for the revealed result


def test_r2_disagreement_escalates_to_a_third_executor(chain: Chain) -> None:
    requester, first, liar, third = (
        chain.accounts[1],
        chain.accounts[2],
        chain.accounts[3],
        chain.accounts[4],
    )
    market = chain.v2["market"]
    for executor in (first, liar, third):
        v2_stake(chain, executor)
    task = v2_submit(chain, requester, redundancy=2, executors=[first, liar])
    salts = v2_commit(chain, task, [first, liar], ["good", "bad"])
    v2_reveal(chain, task, first, "good", salts[0])
    v2_reveal(chain, task, liar, "bad", salts[1])
    receipt = chain.tx(market.functions.finalize(task), requester)
    assert chain.events(market, "Escalation", receipt)
    chain.reverts(market.functions.escalate(task, [third]), first, "NotRequester")
    chain.tx(market.functions.escalate(task, [third]), requester)
    (salt,) = v2_commit(chain, task, [third], ["good"])
    v2_reveal(chain, task, third, "good", salt)
    chain.tx(market.functions.finalize(task), requester)
    assert chain.stake_of(liar) == 200 * TOKEN - SLASH
    assert chain.comp(liar) == 0
    assert chain.comp(first) == chain.comp(third) == net(REWARD)


def test_silent_minority_r3_v1_keeps_stake_v2_slashed(chain: Chain) -> None:
    requester, a, b, silent = chain.accounts[1:5]
    for executor in (a, b, silent):
        v1_stake(chain, executor)
    task = v1_submit(chain, requester, redundancy=3)
    salts = v1_commit(chain, task, [a, b, silent], ["good", "good", "bad"])
    v1_reveal(chain, task, a, "good", salts[0])
    v1_reveal(chain, task, b, "good", salts[1])  # silent sees it would lose and stays silent
    chain.advance(3_601)
    chain.tx(chain.v1["tasks"].functions.finalize(task), requester)
    assert chain.v1["tasks"].functions.stakeOf(silent).call() == 200 * TOKEN

    for executor in (a, b, silent):
        v2_stake(chain, executor)
    task = v2_submit(chain, requester, redundancy=3, executors=[a, b, silent])
    salts = v2_commit(chain, task, [a, b, silent], ["good", "good", "bad"])
    v2_reveal(chain, task, a, "good", salts[0])
    v2_reveal(chain, task, b, "good", salts[1])
    chain.advance(3_601)
    chain.tx(chain.v2["market"].functions.finalize(task), requester)
    assert chain.stake_of(silent) == 200 * TOKEN - SLASH  # same as revealing the minority
    assert chain.comp(a) == chain.comp(b) == net(REWARD)


def test_claim_griefing_v1_blocks_task_v2_costs_collateral_and_cancels(chain: Chain) -> None:
    requester = chain.accounts[1]
    tasks = chain.v1["tasks"]
    gov = chain.v1["gov"]
    # v1: 64 throwaway accounts pass one 100 GOV stake along; each claim times out for free.
    task = v1_submit(chain, requester, deadline_in=30 * 86_400, claim_timeout=600)
    griefers = [chain.new_account(100 + i) for i in range(64)]
    holder = chain.accounts[2]
    chain.tx(gov.functions.transfer(griefers[0], 100 * TOKEN), holder)
    for index, griefer in enumerate(griefers):
        chain.tx(gov.functions.approve(tasks.address, 2**256 - 1), griefer)
        chain.tx(tasks.functions.stake(100 * TOKEN), griefer)
        chain.tx(tasks.functions.claimTask(task), griefer)
        chain.advance(601)
        chain.tx(tasks.functions.expireClaims(task), griefer)
        chain.tx(tasks.functions.unstake(100 * TOKEN), griefer)
        if index + 1 < len(griefers):
            chain.tx(gov.functions.transfer(griefers[index + 1], 100 * TOKEN), griefer)
    assert chain.gov_v1(griefers[-1]) == 100 * TOKEN  # the attack cost nothing
    v1_stake(chain, chain.accounts[3])
    chain.reverts(tasks.functions.claimTask(task), chain.accounts[3], "TooManyClaimants")
    chain.reverts(tasks.functions.cancelTask(task), requester, "HasClaims")

    # v2: every timed-out claim loses 25 % of its collateral; the requester cancels in between.
    market = chain.v2["market"]
    griefer, second = chain.accounts[6], chain.accounts[7]
    v2_stake(chain, griefer, 100 * TOKEN)
    v2_stake(chain, second, 100 * TOKEN)
    before = chain.comp(requester)
    task = v2_submit(chain, requester, deadline_in=30 * 86_400, claim_timeout=600)
    chain.tx(market.functions.claimTask(task), griefer)
    chain.reverts(market.functions.cancelTask(task), requester, "HasLiveClaims")
    chain.advance(601)
    chain.tx(market.functions.claimTask(task), second)  # the slot reopens; griefer slashed
    assert chain.stake_of(griefer) == 100 * TOKEN - SLASH
    chain.advance(601)
    chain.tx(market.functions.cancelTask(task), requester)
    assert chain.stake_of(second) == 100 * TOKEN - SLASH
    assert chain.comp(requester) == before
    assert chain.v2["market"].functions.stakes(griefer).call()[1] == 0  # nothing left locked


def test_owner_slashes_whole_provider_stake_v1_only(chain: Chain) -> None:
    provider, deployer = chain.accounts[2], chain.deployer
    v1_registry = chain.v1["registry"]
    chain.tx(chain.v1["gov"].functions.transfer(provider, 5_000 * TOKEN), deployer)
    chain.tx(chain.v1["gov"].functions.approve(v1_registry.address, 2**256 - 1), provider)
    chain.tx(v1_registry.functions.registerProvider(0, "http://rpc", 5_000 * TOKEN), provider)
    chain.tx(v1_registry.functions.slashProvider(1, 5_000 * TOKEN, "because"), deployer)
    assert v1_registry.functions.getProvider(1).call()[4] == 0  # one key took all 5,000 GOV

    registry, timelock = chain.v2["registry"], chain.v2["timelock"]
    chain.tx(chain.v2["gov"].functions.transfer(provider, 5_000 * TOKEN), deployer)
    chain.tx(chain.v2["gov"].functions.approve(registry.address, 2**256 - 1), provider)
    chain.tx(registry.functions.registerProvider(0, "http://rpc", 5_000 * TOKEN), provider)
    evidence = result_hash("signed-bad-response")
    slash_all = registry.functions.slashProvider(1, 5_000 * TOKEN, evidence, "ipfs://evidence")
    chain.reverts(slash_all, deployer, "NotGovernance")
    chain.reverts(slash_all, timelock.address, "SlashTooLarge")  # even governance is capped
    no_evidence = registry.functions.slashProvider(1, 100 * TOKEN, b"\x00" * 32, "")
    chain.reverts(no_evidence, timelock.address, "NoEvidence")
    chain.govern(
        registry, "slashProvider", [1, 500 * TOKEN, evidence, "ipfs://evidence"], "slash provider 1"
    )
    assert registry.functions.getProvider(1).call()[4] == 4_500 * TOKEN


def test_param_change_before_settlement_v1_inflates_slash_v2_uses_task_copy(chain: Chain) -> None:
    requester, a, b, liar = chain.accounts[1:5]
    tasks = chain.v1["tasks"]
    for executor in (a, b, liar):
        v1_stake(chain, executor, 1_000 * TOKEN)
    task = v1_submit(chain, requester, redundancy=3)
    salts = v1_commit(chain, task, [a, b, liar], ["good", "good", "bad"])
    for executor, answer, salt in zip([a, b, liar], ["good", "good", "bad"], salts, strict=True):
        v1_reveal(chain, task, executor, answer, salt)
    chain.tx(tasks.functions.setMinStake(1_000 * TOKEN), chain.deployer)  # after the reveals
    chain.tx(tasks.functions.setSlashBps(10_000), chain.deployer)
    chain.tx(tasks.functions.finalize(task), requester)
    assert tasks.functions.stakeOf(liar).call() == 0  # 1,000 GOV instead of 25

    market = chain.v2["market"]
    for executor in (a, b, liar):
        v2_stake(chain, executor, 1_000 * TOKEN)
    task = v2_submit(chain, requester, redundancy=3, executors=[a, b, liar], deadline_in=30_000)
    salts = v2_commit(chain, task, [a, b, liar], ["good", "good", "bad"])
    for executor, answer, salt in zip([a, b, liar], ["good", "good", "bad"], salts, strict=True):
        v2_reveal(chain, task, executor, answer, salt)
    chain.reverts(
        market.functions.setParams(params(slashBps=10_000)), chain.deployer, "NotGovernance"
    )
    chain.govern(
        market, "setParams", [params(collateral=1_000 * TOKEN, slashBps=10_000)], "raise slash"
    )
    assert market.functions.params().call()[1] == 10_000
    chain.tx(market.functions.finalize(task), requester)
    assert chain.stake_of(liar) == 1_000 * TOKEN - SLASH  # the task's own copy: 25 GOV


def test_reveal_window_change_v1_breaks_live_task_v2_does_not(chain: Chain) -> None:
    requester, a, b, c = chain.accounts[1:5]
    tasks = chain.v1["tasks"]
    for executor in (a, b, c):
        v1_stake(chain, executor)
    task = v1_submit(chain, requester, redundancy=3, deadline_in=20_000)
    v1_commit(chain, task, [a, b], ["good", "good"])
    chain.tx(tasks.functions.setRevealWindow(20_000), chain.deployer)
    chain.reverts(tasks.functions.claimTask(task), c, "WrongPhase")  # the third slot is gone

    market = chain.v2["market"]
    for executor in (a, b, c):
        v2_stake(chain, executor)
    task = v2_submit(chain, requester, redundancy=3, executors=[a, b, c], deadline_in=30_000)
    v2_commit(chain, task, [a, b], ["good", "good"])
    chain.govern(market, "setParams", [params(revealWindow=30_000)], "longer reveal window")
    assert not market.functions.revealOpen(task).call()
    v2_commit(chain, task, [c], ["good"])  # the live task keeps its own window
    assert market.functions.revealOpen(task).call()


def test_minter_set_once_v1_strands_new_registry_v2_rotates(chain: Chain) -> None:
    from oarn_tui.chain import contracts as v1_artifacts
    from oarn_tui.chain.v2 import artifacts as v2_artifacts

    requester, executor = chain.accounts[1], chain.accounts[2]
    comp_v1, gov_v1 = chain.v1["comp"], chain.v1["gov"]
    replacement = chain.deploy(
        v1_artifacts,
        "TaskRegistry",
        comp_v1.address,
        gov_v1.address,
        chain.deployer,
        100 * TOKEN,
        300,
    )
    chain.reverts(
        comp_v1.functions.setMinter(replacement.address), chain.deployer, "MinterAlreadySet"
    )
    chain.tx(comp_v1.functions.approve(replacement.address, 2**256 - 1), requester)
    chain.tx(gov_v1.functions.approve(replacement.address, 2**256 - 1), executor)
    chain.tx(replacement.functions.stake(200 * TOKEN), executor)
    spec = ("m", "i", "onnx", 0, 0, 60, 1, REWARD, 1, chain.now() + 3_600, 600)
    chain.tx(replacement.functions.submitTask(spec), requester)
    chain.tx(replacement.functions.claimTask(1), executor)
    chain.tx(replacement.functions.submitResult(1, result_hash("x"), "c"), executor)
    chain.reverts(replacement.functions.finalize(1), executor, "NotMinter")  # can never settle
    assert chain.comp_v1(executor) == 0

    comp, gov = chain.v2["comp"], chain.v2["gov"]
    new_market = chain.deploy(
        v2_artifacts,
        "TaskMarket",
        comp.address,
        gov.address,
        chain.v2["timelock"].address,
        chain.v2["timelock"].address,
        86_400,
        params(),
    )
    chain.reverts(comp.functions.setMinter(new_market.address), chain.deployer, "NotGovernance")
    chain.govern(comp, "setMinter", [new_market.address], "rotate the minter")
    assert comp.functions.minter().call() == new_market.address
    chain.tx(comp.functions.approve(new_market.address, 2**256 - 1), requester)
    chain.tx(gov.functions.approve(new_market.address, 2**256 - 1), executor)
    chain.tx(new_market.functions.stake(200 * TOKEN), executor)
    spec = (result_hash("spec"), 1, 1, REWARD, COLLATERAL, chain.now() + 3_600, 600, [])
    chain.tx(new_market.functions.submitTask(spec), requester)
    chain.tx(new_market.functions.claimTask(1), executor)
    chain.tx(new_market.functions.submitResult(1, result_hash("x"), "c"), executor)
    chain.advance(CHALLENGE_WINDOW + 1)
    chain.tx(new_market.functions.finalize(1), executor)
    epoch = new_market.functions.epochOf(chain.now()).call()
    chain.advance(86_400)
    chain.tx(new_market.functions.claimEmission(epoch), executor)
    fee = REWARD * 500 // 10_000
    assert chain.comp(executor) == REWARD - fee + fee // 2  # paid and emission minted


def test_no_single_key_holds_v2_powers(chain: Chain) -> None:
    deployer = chain.deployer
    market, registry, comp, timelock = (
        chain.v2[k] for k in ("market", "registry", "comp", "timelock")
    )
    chain.reverts(market.functions.setParams(params()), deployer, "NotGovernance")
    chain.reverts(market.functions.setGovernance(deployer, deployer), deployer, "NotGovernance")
    chain.reverts(registry.functions.setCore((deployer,) * 4), deployer, "NotGovernance")
    chain.reverts(comp.functions.setGovernance(deployer), deployer, "NotGovernance")
    admin = timelock.functions.DEFAULT_ADMIN_ROLE().call()
    assert not timelock.functions.hasRole(admin, deployer).call()
    assert market.functions.governance().call() == timelock.address
    assert registry.functions.governance().call() == timelock.address
    assert comp.functions.governance().call() == timelock.address


def test_determinism_class_0_v1_slashes_v2_does_not_compare(chain: Chain) -> None:
    requester, a, b, c = chain.accounts[1:5]
    for executor in (a, b, c):
        v1_stake(chain, executor)
    task = v1_submit(chain, requester, redundancy=3, determinism=0)  # sampled: not bit-exact
    answers = ["sample-1", "sample-1", "sample-2"]
    salts = v1_commit(chain, task, [a, b, c], answers)
    for executor, answer, salt in zip([a, b, c], answers, salts, strict=True):
        v1_reveal(chain, task, executor, answer, salt)
    chain.tx(chain.v1["tasks"].functions.finalize(task), requester)
    assert chain.v1["tasks"].functions.stakeOf(c).call() == 175 * TOKEN

    for executor in (a, b, c):
        v2_stake(chain, executor)
    task = v2_submit(chain, requester, redundancy=3, determinism=0, executors=[a, b, c])
    salts = v2_commit(chain, task, [a, b, c], answers)
    for executor, answer, salt in zip([a, b, c], answers, salts, strict=True):
        v2_reveal(chain, task, executor, answer, salt)
    chain.tx(chain.v2["market"].functions.finalize(task), requester)
    assert chain.stake_of(c) == 200 * TOKEN
    assert chain.comp(a) == chain.comp(b) == chain.comp(c) == net(REWARD)


def test_r1_any_hash_v1_pays_v2_challenge_rejects(chain: Chain) -> None:
    requester, cheat, v1, v2 = chain.accounts[1:5]
    tasks = chain.v1["tasks"]
    v1_stake(chain, cheat)
    task = v1_submit(chain, requester)
    chain.tx(tasks.functions.claimTask(task), cheat)
    chain.tx(tasks.functions.submitResult(task, result_hash("garbage"), "c"), cheat)
    chain.tx(tasks.functions.finalize(task), requester)
    assert chain.comp_v1(cheat) == REWARD + BONUS

    market = chain.v2["market"]
    for executor in (cheat, v1, v2):
        v2_stake(chain, executor)
    task = v2_submit(chain, requester)
    chain.tx(market.functions.claimTask(task), cheat)
    chain.tx(market.functions.submitResult(task, result_hash("garbage"), "c"), cheat)
    chain.reverts(market.functions.finalize(task), cheat, "NotFinalizable")  # challenge window
    chain.tx(market.functions.escalate(task, [v1, v2]), requester)
    salts = v2_commit(chain, task, [v1, v2], ["good", "good"])
    for executor, salt in zip([v1, v2], salts, strict=True):
        v2_reveal(chain, task, executor, "good", salt)
    chain.tx(market.functions.finalize(task), requester)
    assert chain.comp(cheat) == 0
    assert chain.stake_of(cheat) == 200 * TOKEN - SLASH
    assert chain.comp(v1) == chain.comp(v2) == net(REWARD)
