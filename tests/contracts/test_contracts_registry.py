"""OARNRegistry discovery, provider staking and slashing, node records, roles, GOV and ENS."""

from __future__ import annotations

from contracts_support import MIN_STAKE, TOKEN, Oarn
from ens import ENS
from web3.logs import DISCARD

from oarn_tui.chain.contracts import abi
from oarn_tui.chain.deploy import namehash

RPC, BOOTSTRAP = 0, 1
PROVIDER_STAKE = 1_000 * TOKEN  # DeployParameters.min_provider_stake
PEER_ID = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"


def fund_provider(oarn: Oarn, account: str, amount: int = 5_000 * TOKEN) -> None:
    oarn.tx(oarn.gov.functions.transfer(account, amount), oarn.governance)
    oarn.tx(oarn.gov.functions.approve(oarn.registry.address, 2**256 - 1), account)


def test_core_addresses_and_minimum_stakes(oarn: Oarn) -> None:
    core = oarn.registry.functions.coreAddresses().call()
    expected = [oarn.addresses[key] for key in ("task_registry", "gov_token", "comp_token")]
    assert list(core[:3]) == expected
    assert core[3] == oarn.governance
    assert oarn.registry.functions.minExecutorStake().call() == MIN_STAKE
    assert oarn.registry.functions.minProviderStake().call() == PROVIDER_STAKE
    assert oarn.comp.functions.minter().call() == oarn.tasks.address


def test_providers_register_list_slash_and_leave(oarn: Oarn) -> None:
    operator, other = oarn.accounts[7], oarn.outsider
    fund_provider(oarn, operator)
    fund_provider(oarn, other)
    low = oarn.registry.functions.registerProvider(RPC, "http://127.0.0.1:8545", PROVIDER_STAKE - 1)
    oarn.reverts(low, operator, "InsufficientStake")

    rpc = oarn.registry.functions.registerProvider(RPC, "http://127.0.0.1:8545", PROVIDER_STAKE)
    oarn.tx(rpc, operator)
    oarn.reverts(rpc, operator, "AlreadyRegistered")
    boot = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER_ID}"
    oarn.tx(oarn.registry.functions.registerProvider(BOOTSTRAP, boot, 2 * PROVIDER_STAKE), operator)
    second = oarn.registry.functions.registerProvider(RPC, "http://127.0.0.1:9545", PROVIDER_STAKE)
    oarn.tx(second, other)
    assert oarn.registry.functions.getRpcProviders().call() == [
        "http://127.0.0.1:8545",
        "http://127.0.0.1:9545",
    ]
    assert oarn.registry.functions.getBootstrapNodes().call() == [boot]

    rpc_id = oarn.registry.functions.providerIdOf(operator, RPC).call()
    slash = oarn.registry.functions.slashProvider(rpc_id, 10 * TOKEN, "served stale blocks")
    oarn.reverts(slash, oarn.outsider, "NotGovernance")
    oarn.reverts(slash, operator, "NotGovernance")
    governance_before = oarn.gov_balance(oarn.governance)
    oarn.tx(slash, oarn.governance)
    assert oarn.gov_balance(oarn.governance) == governance_before + 10 * TOKEN
    provider = oarn.registry.functions.getProvider(rpc_id).call()
    assert provider[0] == operator and provider[2] is False  # below the minimum: inactive
    assert oarn.registry.functions.getRpcProviders().call() == ["http://127.0.0.1:9545"]

    before = oarn.gov_balance(operator)
    oarn.tx(oarn.registry.functions.deregisterProvider(RPC), operator)
    assert oarn.gov_balance(operator) == before + PROVIDER_STAKE - 10 * TOKEN
    assert oarn.registry.functions.providerIdOf(operator, RPC).call() == 0


def test_node_registration_links_account_to_peer_id(oarn: Oarn) -> None:
    node, other = oarn.executors[0], oarn.executors[1]
    assert oarn.registry.functions.isNodeRegistered(node).call() is False
    oarn.tx(oarn.registry.functions.registerNode(PEER_ID, '{"cpu":8,"vram_mb":0}'), node)
    peer_id, capabilities, registered_at, _ = oarn.registry.functions.getNode(node).call()
    assert (peer_id, capabilities) == (PEER_ID, '{"cpu":8,"vram_mb":0}')
    assert registered_at > 0
    assert oarn.registry.functions.accountOfPeer(PEER_ID).call() == node
    taken = oarn.registry.functions.registerNode(PEER_ID, "{}")
    oarn.reverts(taken, other, "PeerIdTaken")
    oarn.reverts(oarn.registry.functions.registerNode("", "{}"), other, "EmptyValue")

    receipt = oarn.tx(oarn.registry.functions.registerNode("12D3KooWnew", '{"cpu":4}'), node)
    assert len(oarn.registry.events.NodeUpdated().process_receipt(receipt, errors=DISCARD)) == 1
    assert oarn.registry.functions.accountOfPeer(PEER_ID).call() == "0x" + "00" * 20
    assert oarn.registry.functions.nodeCount().call() == 1
    assert oarn.registry.functions.nodeAccounts(0, 10).call() == [node]


def test_only_roles_may_slash_mint_or_tune(oarn: Oarn) -> None:
    functions = oarn.tasks.functions
    for call in (functions.setMinStake(1), functions.setSlashBps(1), functions.setRevealWindow(1)):
        oarn.reverts(call, oarn.outsider, "NotGovernance")
    oarn.tx(functions.setMinStake(5 * TOKEN), oarn.governance)
    assert functions.minStake().call() == 5 * TOKEN

    mint = oarn.comp.functions.mintRewardBonus(oarn.outsider)
    for account in (oarn.outsider, oarn.governance, oarn.requester):
        oarn.reverts(mint, account, "NotMinter")
    oarn.reverts(oarn.comp.functions.setMinter(oarn.outsider), oarn.governance, "MinterAlreadySet")
    oarn.reverts(oarn.comp.functions.setMinter(oarn.outsider), oarn.outsider, "NotDeployer")
    oarn.reverts(oarn.registry.functions.setMinProviderStake(1), oarn.outsider, "NotGovernance")


def test_gov_token_has_fixed_supply_votes_and_permit(oarn: Oarn) -> None:
    assert oarn.gov.functions.totalSupply().call() == 100_000_000 * TOKEN
    voter = oarn.executors[0]
    oarn.tx(oarn.gov.functions.delegate(voter), voter)
    assert oarn.gov.functions.getVotes(voter).call() == oarn.gov_balance(voter)
    assert oarn.gov.functions.nonces(voter).call() == 0
    assert not any(entry.get("name") == "mint" for entry in oarn.gov.abi)


def test_ens_name_resolves_to_the_registry(oarn: Oarn) -> None:
    ns = ENS.from_web3(oarn.w3, addr=oarn.addresses["ens_registry"])
    assert ns.address("oarn-registry.eth") == oarn.addresses["registry"]
    assert ns.address("unknown-name.eth") is None
    resolver_address = oarn.addresses["ens_resolver"]
    resolver = oarn.w3.eth.contract(address=resolver_address, abi=abi("PublicResolver"))
    hijack = resolver.functions.setAddr(namehash("oarn-registry.eth"), oarn.outsider)
    oarn.reverts(hijack, oarn.outsider, "NotNodeOwner")
