"""Deploy the whole OARN contract system to a chain and wire it together.

`deploy_system(w3, signer)` deploys GOVToken, COMPToken, TaskRegistry and OARNRegistry (plus a
minimal ENS registry, public resolver and universal resolver with `with_ens=True`), makes the
TaskRegistry the only COMP minter and returns the addresses. Every transaction is signed by the
given `Signer`; nothing here holds a key. `fund_account` hands devnet ETH, GOV and COMP to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oarn_tui.chain.contracts import abi, bytecode
from oarn_tui.wallet.signer import Signer

TOKEN = 10**18
DEFAULT_ENS_NAME = "oarn-registry.eth"
# web3.py's ENS module sends every lookup to a universal resolver at this fixed address.
WEB3_UNIVERSAL_RESOLVER = "0xeEeEEEeE14D718C2B47D9923Deab1335E144EeEe"
RECEIPT_TIMEOUT_S = 60.0


class DeploymentError(RuntimeError):
    """A deployment or wiring transaction failed or reverted."""


@dataclass(frozen=True)
class DeployParameters:
    """Tunable parameters of a deployment (amounts in wei, times in seconds)."""

    governance: str | None = None  # defaults to the deployer
    validator: str | None = None  # zero address when unset
    initial_comp_supply: int = 10_000_000 * TOKEN  # genesis COMP minted to the deployer
    bonus_per_executor: int = 1 * TOKEN
    min_executor_stake: int = 100 * TOKEN
    min_provider_stake: int = 1_000 * TOKEN
    reveal_window_s: int = 300


class _Sender:
    """Signs and sends transactions from one account with a locally tracked nonce."""

    def __init__(self, w3: Any, signer: Signer) -> None:
        self.w3 = w3
        self.signer = signer
        self.nonce = int(w3.eth.get_transaction_count(signer.address, "pending"))

    def send(self, transaction: dict[str, Any], what: str) -> Any:
        transaction = {**transaction, "from": self.signer.address, "nonce": self.nonce}
        try:
            if "gas" not in transaction:
                transaction["gas"] = int(self.w3.eth.estimate_gas(transaction) * 12 // 10)
            if "maxFeePerGas" not in transaction and "gasPrice" not in transaction:
                base_fee = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
                priority = int(self.w3.eth.max_priority_fee)
                transaction["maxPriorityFeePerGas"] = priority
                transaction["maxFeePerGas"] = 2 * base_fee + priority
            transaction.setdefault("chainId", int(self.w3.eth.chain_id))
            signed = self.signer.sign_transaction(transaction)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as error:  # web3 raises many types; say which step failed
            raise DeploymentError(f"{what} failed: {error}") from error
        self.nonce += 1
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        if int(receipt["status"]) != 1:
            raise DeploymentError(f"{what} reverted (tx {tx_hash.hex()})")
        return receipt

    def deploy(self, name: str, *args: Any) -> str:
        factory = self.w3.eth.contract(abi=abi(name), bytecode=bytecode(name))
        data = factory.constructor(*args).data_in_transaction
        receipt = self.send({"data": data}, f"deploying {name}")
        return str(receipt["contractAddress"])

    def call(self, name: str, address: str, function: str, *args: Any) -> Any:
        contract = self.w3.eth.contract(address=address, abi=abi(name))
        data = contract.encode_abi(function, args=list(args))
        return self.send({"to": address, "data": data}, f"{name}.{function}")


def deploy_system(
    w3: Any,
    deployer: Signer,
    parameters: DeployParameters | None = None,
    *,
    with_ens: bool = False,
    ens_name: str = DEFAULT_ENS_NAME,
) -> dict[str, str]:
    """Deploy and wire every OARN contract; returns checksummed addresses by role.

    Keys: `registry` (OARNRegistry, the discovery entry point), `task_registry`, `gov_token`,
    `comp_token`; with `with_ens` also `ens_registry`, `ens_resolver` and `ens_universal_resolver`
    (copied to web3's fixed universal-resolver address when the chain is anvil), with `ens_name`
    resolving to the registry. The deployer holds all GOV and the genesis COMP.
    """
    if with_ens and not _plain_ens_name(ens_name):
        raise DeploymentError(f"ENS name {ens_name!r} must be lower-case ASCII labels with dots")
    parameters = parameters or DeployParameters()
    sender = _Sender(w3, deployer)
    governance = parameters.governance or deployer.address
    validator = parameters.validator or "0x" + "00" * 20

    gov_token = sender.deploy("GOVToken", deployer.address)
    comp_token = sender.deploy(
        "COMPToken", deployer.address, parameters.initial_comp_supply, parameters.bonus_per_executor
    )
    task_registry = sender.deploy(
        "TaskRegistry",
        comp_token,
        gov_token,
        governance,
        parameters.min_executor_stake,
        parameters.reveal_window_s,
    )
    sender.call("COMPToken", comp_token, "setMinter", task_registry)
    registry = sender.deploy(
        "OARNRegistry",
        task_registry,
        gov_token,
        comp_token,
        governance,
        validator,
        parameters.min_provider_stake,
    )
    addresses = {
        "registry": registry,
        "task_registry": task_registry,
        "gov_token": gov_token,
        "comp_token": comp_token,
    }
    if with_ens:
        addresses.update(_deploy_ens(sender, ens_name, registry))
    return addresses


def _plain_ens_name(name: str) -> bool:
    return name.isascii() and name == name.lower() and "" not in name.split(".")


def namehash(name: str) -> bytes:
    """ENS namehash (EIP-137) of a plain lower-case ASCII name such as `oarn-registry.eth`."""
    from eth_utils import keccak

    node = b"\x00" * 32
    if name:
        for label in reversed(name.split(".")):
            node = keccak(node + keccak(text=label))
    return node


def _deploy_ens(sender: _Sender, ens_name: str, target: str) -> dict[str, str]:
    """Deploy the ENS trio, give the deployer `ens_name` and point it at `target`."""
    from eth_utils import keccak

    ens_registry = sender.deploy("ENSRegistry")
    resolver = sender.deploy("PublicResolver", ens_registry)
    universal = sender.deploy("UniversalResolver", ens_registry)
    labels = ens_name.split(".")
    owner = sender.signer.address
    for depth in range(len(labels) - 1, -1, -1):
        parent = namehash(".".join(labels[depth + 1 :]))
        label_hash = keccak(text=labels[depth])
        sender.call("ENSRegistry", ens_registry, "setSubnodeOwner", parent, label_hash, owner)
    node = namehash(ens_name)
    sender.call("ENSRegistry", ens_registry, "setResolver", node, resolver)
    sender.call("PublicResolver", resolver, "setAddr", node, target)
    return {
        "ens_registry": ens_registry,
        "ens_resolver": resolver,
        "ens_universal_resolver": _install_universal_resolver(sender.w3, universal),
    }


def _install_universal_resolver(w3: Any, deployed: str) -> str:
    """Copy the universal resolver's code to web3's fixed address on anvil; else keep it in place.

    The runtime code is read from the chain because it carries the ENS registry immutable.
    """
    runtime = bytes(w3.eth.get_code(deployed))
    try:
        params = [WEB3_UNIVERSAL_RESOLVER, "0x" + runtime.hex()]
        response = w3.provider.make_request("anvil_setCode", params)
    except Exception:  # not anvil (e.g. py-evm): the method does not exist
        return deployed
    if not isinstance(response, dict) or response.get("error"):
        return deployed
    return str(w3.to_checksum_address(WEB3_UNIVERSAL_RESOLVER))


def fund_account(
    w3: Any,
    funder: Signer,
    addresses: dict[str, str],
    recipient: str,
    *,
    eth: int = 0,
    gov: int = 0,
    comp: int = 0,
) -> None:
    """Send `eth`, `gov` and `comp` wei from `funder` (the deployer on a devnet) to `recipient`."""
    sender = _Sender(w3, funder)
    if eth:
        sender.send({"to": recipient, "value": eth, "gas": 21_000}, "sending ETH")
    if gov:
        sender.call("GOVToken", addresses["gov_token"], "transfer", recipient, gov)
    if comp:
        sender.call("COMPToken", addresses["comp_token"], "transfer", recipient, comp)
