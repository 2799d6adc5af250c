"""Support for the contract tests: one real anvil per module, the OARN system deployed on it.

anvil comes from `contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil` or `$OARN_ANVIL`;
the tests skip with that hint when it is missing. Each test runs between `evm_snapshot` and
`evm_revert`, so tests share one deployment but never see each other's state.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from oarn_tui.chain.contracts import abi, contract_names
from oarn_tui.chain.deploy import DeployParameters, deploy_system
from oarn_tui.wallet.signer import LocalSigner

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_ANVIL = PROJECT_ROOT / "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil #0
TOKEN = 10**18
MIN_STAKE = 100 * TOKEN
EXECUTOR_STAKE = 200 * TOKEN
REVEAL_WINDOW = 300
START_TIMEOUT_S = 15.0


def anvil_binary() -> Path | None:
    """The anvil to test against: $OARN_ANVIL, else the one in contracts/node_modules."""
    explicit = os.environ.get("OARN_ANVIL")
    path = Path(explicit) if explicit else PACKAGED_ANVIL
    return path if path.is_file() and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def w3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web3]:
    """A Web3 connected to a fresh anvil on 127.0.0.1 (stopped by PID afterwards)."""
    binary = anvil_binary()
    if binary is None:
        pytest.skip("anvil missing: run `npm ci` in contracts/ or set OARN_ANVIL to its path")
    home = tmp_path_factory.mktemp("anvil-home")
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--prune-history"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        # cache_allowed_requests: web3 would otherwise ask eth_chainId several times per tx
        provider = Web3.HTTPProvider(
            url, request_kwargs={"timeout": 30}, cache_allowed_requests=True
        )
        web3 = Web3(provider)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not web3.is_connected():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"anvil did not start on port {port}")
            time.sleep(0.05)
        yield web3
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Chain:
    """Helpers for sending, expecting reverts and moving time on an anvil chain."""

    w3: Web3

    def tx(self, function: Any, sender: str) -> Any:
        """Send a contract call from an unlocked devnet account; assert it succeeded."""
        tx_hash = function.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert receipt["status"] == 1
        return receipt

    def reverts(self, function: Any, sender: str, error: str) -> None:
        """Assert that the call reverts from `sender` with the custom error named `error`."""
        with pytest.raises((ContractCustomError, ContractLogicError)) as caught:
            function.call({"from": sender})
        data = caught.value.data
        data = data if isinstance(data, str) else "0x" + bytes(data or b"").hex()
        assert data[:10] == self.selector(error), f"expected {error}, got {caught.value!r}"

    def selector(self, error: str) -> str:
        """The 4-byte selector of a custom error declared by any OARN contract."""
        for name in contract_names():
            for entry in abi(name):
                if entry["type"] == "error" and entry["name"] == error:
                    types = ",".join(item["type"] for item in entry["inputs"])
                    return "0x" + keccak(text=f"{error}({types})")[:4].hex()
        raise KeyError(error)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move chain time forward and mine a block (anvil)."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])

    def revert_to(self, snapshot_id: str) -> None:
        assert self.w3.provider.make_request("evm_revert", [snapshot_id])["result"] is True


@dataclass
class Oarn(Chain):
    """The deployed system plus the small helpers every contract test needs."""

    addresses: dict[str, str]
    accounts: list[str]

    def __post_init__(self) -> None:
        def bind(name: str, key: str) -> Any:
            return self.w3.eth.contract(address=self.addresses[key], abi=abi(name))

        self.tasks = bind("TaskRegistry", "task_registry")
        self.registry = bind("OARNRegistry", "registry")
        self.gov = bind("GOVToken", "gov_token")
        self.comp = bind("COMPToken", "comp_token")
        self.governance = self.accounts[0]
        self.requester = self.accounts[1]
        self.executors = self.accounts[2:7]
        self.outsider = self.accounts[8]

    def spec(
        self,
        *,
        reward: int = 10 * TOKEN,
        redundancy: int = 1,
        deadline_in: int = 3_600,
        claim_timeout: int = 600,
    ) -> tuple[Any, ...]:
        """A TaskSpec tuple in ABI order."""
        return (
            "bafkmodelcid",
            "bafkinputcid",
            "onnx",
            0,
            512,
            60,
            1,
            reward,
            redundancy,
            self.now() + deadline_in,
            claim_timeout,
        )

    def submit(self, **spec: Any) -> int:
        """Submit a task as the requester; returns its id."""
        receipt = self.tx(self.tasks.functions.submitTask(self.spec(**spec)), self.requester)
        (event,) = self.tasks.events.TaskSubmitted().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["taskId"])

    def comp_balance(self, account: str) -> int:
        return int(self.comp.functions.balanceOf(account).call())

    def gov_balance(self, account: str) -> int:
        return int(self.gov.functions.balanceOf(account).call())

    def stats(self, executor: str) -> tuple[int, int, int]:
        """(completed, disagreed, timedOut) of an executor."""
        return tuple(self.tasks.functions.getExecutorStats(executor).call())  # type: ignore[return-value]

    def task(self, task_id: int) -> dict[str, Any]:
        names = [item["name"] for item in _output_components(self.tasks, "getTask")]
        return dict(zip(names, self.tasks.functions.getTask(task_id).call(), strict=True))


def result_hash(text: str) -> bytes:
    return keccak(text=text)


def commitment(result: bytes, cid: str, salt: bytes, executor: str) -> bytes:
    """keccak256(abi.encode(resultHash, resultCid, salt, executor)), as TaskRegistry checks."""
    types = ["bytes32", "string", "bytes32", "address"]
    return keccak(encode(types, [result, cid, salt, executor]))


def _output_components(contract: Any, function: str) -> list[dict[str, Any]]:
    (entry,) = [e for e in contract.abi if e.get("type") == "function" and e["name"] == function]
    return list(entry["outputs"][0]["components"])


@pytest.fixture(scope="module")
def oarn_module(w3: Web3) -> Oarn:
    """Deploy everything (with ENS), fund the requester with COMP, stake GOV for five executors."""
    parameters = DeployParameters(min_executor_stake=MIN_STAKE, reveal_window_s=REVEAL_WINDOW)
    addresses = deploy_system(w3, LocalSigner.from_key(DEPLOYER_KEY), parameters, with_ens=True)
    oarn = Oarn(w3=w3, addresses=addresses, accounts=list(w3.eth.accounts))
    oarn.tx(oarn.comp.functions.transfer(oarn.requester, 1_000_000 * TOKEN), oarn.governance)
    oarn.tx(oarn.comp.functions.approve(oarn.tasks.address, 2**256 - 1), oarn.requester)
    for executor in oarn.executors:
        oarn.tx(oarn.gov.functions.transfer(executor, 1_000 * TOKEN), oarn.governance)
        oarn.tx(oarn.gov.functions.approve(oarn.tasks.address, 2**256 - 1), executor)
        oarn.tx(oarn.tasks.functions.stake(EXECUTOR_STAKE), executor)
    return oarn


@pytest.fixture
def oarn(oarn_module: Oarn) -> Iterator[Oarn]:
    """The shared deployment, rolled back after the test."""
    snapshot_id = oarn_module.snapshot()
    try:
        yield oarn_module
    finally:
        oarn_module.revert_to(snapshot_id)
