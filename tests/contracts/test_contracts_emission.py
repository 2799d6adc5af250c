"""COMPToken emission schedule: exact yearly caps, clamped bonuses, and a single fixed minter."""

from __future__ import annotations

from typing import Any

import pytest
from contracts_support import TOKEN, Chain
from web3 import Web3
from web3.logs import DISCARD

from oarn_tui.chain.contracts import abi, bytecode

MILLION = 1_000_000 * TOKEN
YEAR = 365 * 24 * 3600
BIG_BONUS = 30 * MILLION  # large enough to reach a yearly cap in a few mints


@pytest.fixture(scope="module")
def emission(w3: Web3) -> tuple[Chain, Any]:
    """A standalone COMPToken (30M bonus) whose minter is a plain devnet account."""
    deployer, minter = w3.eth.accounts[0], w3.eth.accounts[9]
    factory = w3.eth.contract(abi=abi("COMPToken"), bytecode=bytecode("COMPToken"))
    tx_hash = factory.constructor(deployer, 5 * MILLION, BIG_BONUS).transact({"from": deployer})
    address = w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"]
    token = w3.eth.contract(address=address, abi=abi("COMPToken"))
    helper = Chain(w3)
    helper.tx(token.functions.setMinter(minter), deployer)
    return helper, token


def test_yearly_caps_are_exact(emission: tuple[Chain, Any]) -> None:
    _, token = emission
    cap = token.functions.yearCap
    assert cap(0).call() == 0
    assert cap(1).call() == 100 * MILLION
    assert cap(2).call() == 80 * MILLION
    assert cap(3).call() == 64 * MILLION
    assert cap(4).call() == 51_200_000 * TOKEN
    assert cap(5).call() == 40_960_000 * TOKEN
    assert cap(10).call() == 100 * MILLION * 4**9 // 5**9
    assert cap(400).call() == 0  # the loop is bounded: the cap decays to nothing


def test_bonuses_are_clamped_to_each_years_cap(emission: tuple[Chain, Any]) -> None:
    helper, token = emission
    w3 = helper.w3
    minter, executor = w3.eth.accounts[9], w3.eth.accounts[5]
    genesis = token.functions.totalSupply().call()
    assert genesis == 5 * MILLION  # the genesis allocation lies outside the schedule
    assert token.functions.currentYear().call() == 1

    def mint() -> int:
        receipt = helper.tx(token.functions.mintRewardBonus(executor), minter)
        events = token.events.BonusMinted().process_receipt(receipt, errors=DISCARD)
        return int(events[0]["args"]["amount"]) if events else 0

    assert [mint() for _ in range(5)] == [BIG_BONUS] * 3 + [10 * MILLION, 0]
    assert token.functions.mintedInYear(1).call() == 100 * MILLION
    assert token.functions.remainingEmission().call() == 0

    helper.advance(YEAR)
    assert token.functions.currentYear().call() == 2
    assert [mint() for _ in range(4)] == [BIG_BONUS, BIG_BONUS, 20 * MILLION, 0]
    assert token.functions.mintedInYear(2).call() == 80 * MILLION

    helper.advance(YEAR)
    assert token.functions.currentYear().call() == 3
    assert token.functions.remainingEmission().call() == 64 * MILLION
    assert token.functions.totalSupply().call() == genesis + 180 * MILLION
    assert token.functions.balanceOf(executor).call() == 180 * MILLION


def test_nobody_but_the_minter_mints(emission: tuple[Chain, Any]) -> None:
    helper, token = emission
    w3 = helper.w3
    for account in (w3.eth.accounts[0], w3.eth.accounts[5]):
        helper.reverts(token.functions.mintRewardBonus(account), account, "NotMinter")
    again = token.functions.setMinter(w3.eth.accounts[5])
    helper.reverts(again, w3.eth.accounts[0], "MinterAlreadySet")
