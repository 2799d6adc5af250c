"""Support for the v2 contract tests: py-evm in process (eth-tester), v1 and v2 side by side.

One chain per module holds both systems: v1 (`oarn_tui.chain.contracts` artifacts, governance =
the deployer account) and v2 (`oarn_tui.chain.v2` artifacts, governance = a TimelockController
driven by an OpenZeppelin Governor). Accounts have known keys, so tests sign EIP-712 vouchers,
orders, receipts and peer bindings. Each test runs between `take_snapshot` and
`revert_to_snapshot`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import encode
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.providers.eth_tester import EthereumTesterProvider

from oarn_tui.chain import contracts as v1_artifacts
from oarn_tui.chain.v2 import artifacts as v2_artifacts
from oarn_tui.chain.v2.typed_data import Domain, market_domain, registry_domain

TOKEN = 10**18
COLLATERAL = 100 * TOKEN
SLASH_BPS = 2_500
FEE_BPS = 500
EMISSION_PER_FEE_BPS = 5_000
REVEAL_WINDOW = 300
CHALLENGE_WINDOW = 600
WITHDRAWAL_DELAY = 3_600
UNBONDING_DELAY = 3_600
EPOCH = 86_400
EPOCH_EMISSION = 1_000 * TOKEN
MAX_DISPUTE_SLASH = 100 * TOKEN
TIMELOCK_DELAY = 3_600
VOTING_DELAY = 60
VOTING_PERIOD = 3_600
V1_MIN_STAKE = 100 * TOKEN
N_ACCOUNTS = 12
GAS = 8_000_000


def params(**overrides: int) -> tuple[int, ...]:
    """TaskMarket.Params in ABI order (defaults above)."""
    values = {
        "collateral": COLLATERAL,
        "slashBps": SLASH_BPS,
        "feeBps": FEE_BPS,
        "emissionPerFeeBps": EMISSION_PER_FEE_BPS,
        "revealWindow": REVEAL_WINDOW,
        "challengeWindow": CHALLENGE_WINDOW,
        "withdrawalDelay": WITHDRAWAL_DELAY,
        "unbondingDelay": UNBONDING_DELAY,
        "epochEmission": EPOCH_EMISSION,
        "maxDisputeSlash": MAX_DISPUTE_SLASH,
    } | overrides
    return tuple(values.values())


def key_of(index: int) -> bytes:
    return keccak(text=f"oarn-v2-test-account-{index}")


def result_hash(text: str) -> bytes:
    return keccak(text=text)


def commitment(result: bytes, cid: str, salt: bytes, executor: str) -> bytes:
    return keccak(
        encode(["bytes32", "string", "bytes32", "address"], [result, cid, salt, executor])
    )


@dataclass
class Chain:
    """py-evm chain with both systems deployed and helpers to send, expect reverts, move time."""

    w3: Web3
    tester: EthereumTester
    accounts: list[str]
    keys: dict[str, bytes]
    v1: dict[str, Any] = field(default_factory=dict)
    v2: dict[str, Any] = field(default_factory=dict)

    # -- transactions
    def tx(self, function: Any, sender: str) -> Any:
        tx_hash = function.transact({"from": sender, "gas": GAS})
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"{function.fn_name} reverted"
        return receipt

    def reverts(self, function: Any, sender: str, error: str) -> None:
        """Assert that calling `function` from `sender` reverts with custom error `error`."""
        with pytest.raises((ContractCustomError, ContractLogicError, TransactionFailed)) as caught:
            function.call({"from": sender, "gas": GAS})
        assert revert_data(caught.value)[:10] in selectors(error), (
            f"expected {error}, got {caught.value!r}"
        )

    def deploy(self, artifacts: Any, name: str, *args: Any) -> Any:
        factory = self.w3.eth.contract(abi=artifacts.abi(name), bytecode=artifacts.bytecode(name))
        tx_hash = factory.constructor(*args).transact({"from": self.deployer, "gas": 29_000_000})
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"deploying {name} failed"
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifacts.abi(name))

    def events(self, contract: Any, event: str, receipt: Any) -> list[dict[str, Any]]:
        logs = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    # -- time
    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        self.tester.time_travel(self.now() + seconds)

    # -- accounts
    @property
    def deployer(self) -> str:
        return self.accounts[0]

    def comp_v1(self, who: str) -> int:
        return int(self.v1["comp"].functions.balanceOf(who).call())

    def gov_v1(self, who: str) -> int:
        return int(self.v1["gov"].functions.balanceOf(who).call())

    def comp(self, who: str) -> int:
        return int(self.v2["comp"].functions.balanceOf(who).call())

    def gov(self, who: str) -> int:
        return int(self.v2["gov"].functions.balanceOf(who).call())

    def stake_of(self, who: str) -> int:
        return int(self.v2["market"].functions.stakes(who).call()[0])

    @property
    def market_domain(self) -> Domain:
        return market_domain(int(self.w3.eth.chain_id), self.v2["market"].address)

    @property
    def registry_domain(self) -> Domain:
        return registry_domain(int(self.w3.eth.chain_id), self.v2["registry"].address)

    def new_account(self, index: int, eth: int = 10**18) -> str:
        """A fresh funded account with a known key (index ≥ N_ACCOUNTS)."""
        key = key_of(index)
        address = to_checksum_address(self.tester.add_account("0x" + key.hex()))
        self.keys[address] = key
        self.w3.eth.send_transaction({"from": self.deployer, "to": address, "value": eth})
        return address

    # -- governance (v2): propose → vote → queue → execute through Governor + Timelock
    def govern(self, target: Any, function: str, args: list[Any], description: str) -> None:
        governor, timelock = self.v2["governor"], self.v2["timelock"]
        data = target.encode_abi(function, args=args)
        proposal = ([target.address], [0], [bytes.fromhex(data[2:])], description)
        self.tx(governor.functions.propose(*proposal), self.deployer)
        proposal_id = governor.functions.hashProposal(
            proposal[0], proposal[1], proposal[2], keccak(text=description)
        ).call()
        self.advance(VOTING_DELAY + 1)
        self.tx(governor.functions.castVote(proposal_id, 1), self.deployer)
        self.advance(VOTING_PERIOD + 1)
        queue_args = (proposal[0], proposal[1], proposal[2], keccak(text=description))
        self.tx(governor.functions.queue(*queue_args), self.deployer)
        self.advance(TIMELOCK_DELAY + 1)
        self.tx(governor.functions.execute(*queue_args), self.deployer)
        assert timelock.address == self.v2["market"].functions.governance().call()


def revert_data(error: Exception) -> str:
    """0x-hex revert data of a web3 or eth-tester revert (eth-tester reprs the bytes)."""
    if isinstance(error, TransactionFailed):
        text = str(error.args[0]).removeprefix("execution reverted: ")
        raw = ast.literal_eval(text) if text.startswith(("b'", 'b"')) else b""
        return "0x" + bytes(raw).hex()
    data = getattr(error, "data", None)
    return data if isinstance(data, str) else "0x" + bytes(data or b"").hex()


def selectors(error: str) -> set[str]:
    """4-byte selectors of the custom errors named `error` in any v1 or v2 contract."""
    found = set()
    for module in (v1_artifacts, v2_artifacts):
        names = (
            module.contract_names()
            if module is v1_artifacts
            else module.build_metadata()["contracts"]
        )
        for name in names:
            for entry in module.abi(name):
                if entry["type"] == "error" and entry["name"] == error:
                    types = ",".join(item["type"] for item in entry["inputs"])
                    found.add("0x" + keccak(text=f"{error}({types})")[:4].hex())
    if not found:
        raise KeyError(error)
    return found


def deploy_v1(chain: Chain) -> None:
    """v1 exactly as shipped: governance is the deployer's plain account."""
    deployer = chain.deployer
    gov = chain.deploy(v1_artifacts, "GOVToken", deployer)
    comp = chain.deploy(v1_artifacts, "COMPToken", deployer, 10_000_000 * TOKEN, TOKEN)
    tasks = chain.deploy(
        v1_artifacts,
        "TaskRegistry",
        comp.address,
        gov.address,
        deployer,
        V1_MIN_STAKE,
        REVEAL_WINDOW,
    )
    registry = chain.deploy(
        v1_artifacts,
        "OARNRegistry",
        tasks.address,
        gov.address,
        comp.address,
        deployer,
        "0x" + "00" * 20,
        1_000 * TOKEN,
    )
    chain.tx(comp.functions.setMinter(tasks.address), deployer)
    chain.v1.update(gov=gov, comp=comp, tasks=tasks, registry=registry)


def deploy_v2(chain: Chain) -> None:
    """v2 with everything handed to the timelock; the deployer keeps no power."""
    deployer = chain.deployer
    gov = chain.deploy(v2_artifacts, "GOVTokenV2", deployer)
    comp = chain.deploy(v2_artifacts, "COMPTokenV2", deployer, 10_000_000 * TOKEN, deployer)
    timelock = chain.deploy(
        v2_artifacts, "OARNTimelock", TIMELOCK_DELAY, [], ["0x" + "00" * 20], deployer
    )
    governor = chain.deploy(
        v2_artifacts,
        "OARNGovernor",
        gov.address,
        timelock.address,
        VOTING_DELAY,
        VOTING_PERIOD,
        0,
        4,
    )
    market = chain.deploy(
        v2_artifacts, "TaskMarket", comp.address, gov.address, deployer, deployer, EPOCH, params()
    )
    models = chain.deploy(v2_artifacts, "ModelRegistry")
    registry = chain.deploy(
        v2_artifacts,
        "OARNRegistryV2",
        gov.address,
        deployer,
        1_000 * TOKEN,
        1_000,
        2 * TIMELOCK_DELAY,
    )
    chain.tx(
        registry.functions.setCore((market.address, gov.address, comp.address, models.address)),
        deployer,
    )
    chain.tx(comp.functions.setMinter(market.address), deployer)
    proposer = keccak(text="PROPOSER_ROLE")
    canceller = keccak(text="CANCELLER_ROLE")
    admin = timelock.functions.DEFAULT_ADMIN_ROLE().call()
    chain.tx(timelock.functions.grantRole(proposer, governor.address), deployer)
    chain.tx(timelock.functions.grantRole(canceller, governor.address), deployer)
    chain.tx(comp.functions.setGovernance(timelock.address), deployer)
    chain.tx(market.functions.setGovernance(timelock.address, timelock.address), deployer)
    chain.tx(registry.functions.setGovernance(timelock.address), deployer)
    chain.tx(timelock.functions.renounceRole(admin, deployer), deployer)
    chain.tx(gov.functions.delegate(deployer), deployer)  # the deployer votes with its GOV
    # ETH for eth_calls "from" the timelock (py-evm checks the sender can afford the gas)
    chain.w3.eth.send_transaction({"from": deployer, "to": timelock.address, "value": 10**18})
    chain.v2.update(
        gov=gov,
        comp=comp,
        market=market,
        registry=registry,
        models=models,
        timelock=timelock,
        governor=governor,
    )


def fund(chain: Chain) -> None:
    """Requester (1) and executors (2..7) get COMP / GOV on both systems and approve them."""
    deployer = chain.deployer
    requester = chain.accounts[1]
    for system, spender in ((chain.v1, "tasks"), (chain.v2, "market")):
        chain.tx(system["comp"].functions.transfer(requester, 100_000 * TOKEN), deployer)
        for account in chain.accounts[1:N_ACCOUNTS]:
            chain.tx(system["gov"].functions.transfer(account, 1_000 * TOKEN), deployer)
            chain.tx(system["gov"].functions.approve(system[spender].address, 2**256 - 1), account)
            chain.tx(system["comp"].functions.approve(system[spender].address, 2**256 - 1), account)


def make_chain() -> Chain:
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    funder = w3.eth.accounts[0]
    accounts, keys = [], {}
    for index in range(N_ACCOUNTS):
        key = key_of(index)
        address = to_checksum_address(tester.add_account("0x" + key.hex()))
        w3.eth.send_transaction({"from": funder, "to": address, "value": 1_000 * 10**18})
        accounts.append(address)
        keys[address] = key
    chain = Chain(w3=w3, tester=tester, accounts=accounts, keys=keys)
    deploy_v1(chain)
    deploy_v2(chain)
    fund(chain)
    return chain


@pytest.fixture(scope="module")
def chain_module() -> Chain:
    return make_chain()


@pytest.fixture
def chain(chain_module: Chain) -> Iterator[Chain]:
    snapshot = chain_module.tester.take_snapshot()
    try:
        yield chain_module
    finally:
        chain_module.tester.revert_to_snapshot(snapshot)
