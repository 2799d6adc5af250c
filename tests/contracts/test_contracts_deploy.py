"""deploy_system and fund_account through a Signer; the same artifacts also run on py-evm."""

from __future__ import annotations

import pytest
from contracts_support import DEPLOYER_KEY, TOKEN, Oarn
from web3 import EthereumTesterProvider, Web3

from oarn_tui.chain.contracts import abi
from oarn_tui.chain.deploy import DeploymentError, deploy_system, fund_account
from oarn_tui.wallet.signer import LocalSigner

SINK = "0x000000000000000000000000000000000000dEaD"


def test_fund_account_sends_eth_gov_and_comp(oarn: Oarn) -> None:
    before = oarn.w3.eth.get_balance(SINK)
    signer = LocalSigner.from_key(DEPLOYER_KEY)
    fund_account(
        oarn.w3, signer, oarn.addresses, SINK, eth=3 * TOKEN, gov=5 * TOKEN, comp=7 * TOKEN
    )
    assert oarn.w3.eth.get_balance(SINK) == before + 3 * TOKEN
    assert oarn.gov_balance(SINK) == 5 * TOKEN
    assert oarn.comp_balance(SINK) == 7 * TOKEN


def test_deployment_refuses_a_bad_ens_name_before_sending_anything(w3: Web3) -> None:
    signer = LocalSigner.from_key(DEPLOYER_KEY)
    nonce = w3.eth.get_transaction_count(signer.address)
    with pytest.raises(DeploymentError, match="lower-case ASCII"):
        deploy_system(w3, signer, with_ens=True, ens_name="OARN..eth")
    assert w3.eth.get_transaction_count(signer.address) == nonce


def test_pinned_evm_version_runs_on_py_evm() -> None:
    """The in-process fallback chain (py-evm) deploys and settles a task with the same bytecode."""
    provider = EthereumTesterProvider()
    chain = Web3(provider)
    key = provider.ethereum_tester.backend.account_keys[0].to_bytes()
    addresses = deploy_system(chain, LocalSigner.from_key(key))
    deployer, requester, executor = chain.eth.accounts[:3]
    tasks = chain.eth.contract(address=addresses["task_registry"], abi=abi("TaskRegistry"))
    comp = chain.eth.contract(address=addresses["comp_token"], abi=abi("COMPToken"))
    gov = chain.eth.contract(address=addresses["gov_token"], abi=abi("GOVToken"))
    calls = [
        (comp.functions.transfer(requester, 100 * TOKEN), deployer),
        (comp.functions.approve(tasks.address, 100 * TOKEN), requester),
        (gov.functions.transfer(executor, 100 * TOKEN), deployer),
        (gov.functions.approve(tasks.address, 100 * TOKEN), executor),
        (tasks.functions.stake(100 * TOKEN), executor),
    ]
    now = int(chain.eth.get_block("latest")["timestamp"])
    spec = ("model", "input", "onnx", 0, 0, 60, 0, 10 * TOKEN, 1, now + 3_600, 600)
    calls += [
        (tasks.functions.submitTask(spec), requester),
        (tasks.functions.claimTask(1), executor),
        (tasks.functions.submitResult(1, b"\x11" * 32, "bafkresult"), executor),
        (tasks.functions.finalize(1), deployer),
    ]
    for function, sender in calls:
        receipt = chain.eth.wait_for_transaction_receipt(function.transact({"from": sender}))
        assert receipt["status"] == 1
    assert comp.functions.balanceOf(executor).call() == 11 * TOKEN  # reward + 1 COMP bonus
