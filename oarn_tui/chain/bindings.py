"""Typed Python methods over the OARN contracts (TaskRegistry, OARNRegistry, GOV and COMP).

Reads go through the client's `RpcPool` (so they fail over); writes go through
`ChainClient.send` (nonces, fees, bumping, signing by the wallet) and return a `TxReceipt`. A
revert is reported by the contract's custom error name (`TaskRegistry.AlreadyClaimed`) instead of
a selector. What the pipeline needs of the contracts is a method here (`reveal_open`,
`payments_to`, `block_number`), never a raw web3 contract.

The contract methods stay in one module (~420 lines) because they are one typed face of the same
contracts (`OarnContracts`) sharing its revert decoding; reads and writes apart would split
each contract across two files.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from oarn_tui.chain.client import ChainClient, ChainError
from oarn_tui.chain.contracts import abi
from oarn_tui.chain.events import ChainEvent, query_events
from oarn_tui.chain.receipts import TxReceipt

ZERO_ADDRESS = "0x" + "00" * 20
CONTRACT_OF_ROLE = {"registry": "OARNRegistry", "task_registry": "TaskRegistry",
                    "gov_token": "GOVToken", "comp_token": "COMPToken"}
TOKEN_ROLES = {"gov": "gov_token", "comp": "comp_token"}


class TaskStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    FINALIZED = 2
    CANCELLED = 3


class ClaimState(enum.IntEnum):
    NONE = 0
    CLAIMED = 1
    COMMITTED = 2
    REVEALED = 3
    TIMED_OUT = 4


class ContractRevert(ChainError):
    """A call or transaction reverted; `error` is e.g. `TaskRegistry.AlreadyClaimed`."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}{f' ({detail})' if detail else ''}")
        self.error = error


@dataclass(frozen=True)
class TaskSpec:
    """What a requester submits (amounts in wei, times in seconds; deadline is absolute)."""

    model_cid: str
    input_cid: str
    reward_per_executor: int
    deadline: int
    framework: str = "onnx"
    min_vram_mb: int = 0
    min_ram_mb: int = 0
    max_runtime_s: int = 300
    determinism: int = 0
    redundancy: int = 1
    claim_timeout_s: int = 600

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.model_cid, self.input_cid, self.framework, self.min_vram_mb, self.min_ram_mb,
                self.max_runtime_s, self.determinism, self.reward_per_executor, self.redundancy,
                self.deadline, self.claim_timeout_s)


@dataclass(frozen=True)
class TaskView:
    """A task as the TaskRegistry stores it."""

    task_id: int
    requester: str
    status: str
    redundancy: int
    determinism: int
    active_claims: int
    commitments: int
    results: int
    deadline: int
    claim_timeout_s: int
    max_runtime_s: int
    min_vram_mb: int
    min_ram_mb: int
    submitted_at: int
    reward_per_executor: int
    escrow: int
    result_hash: str
    model_cid: str
    input_cid: str
    framework: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClaimView:
    state: str
    expires_at: int
    commitment: str
    result_hash: str
    result_cid: str


def _hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _task_view(task_id: int, raw: Any) -> TaskView:
    (requester, status, redundancy, determinism, active_claims, commitments, results, deadline,
     claim_timeout, max_runtime, min_vram, min_ram, submitted_at, reward, escrow, result_hash,
     model_cid, input_cid, framework) = raw
    return TaskView(task_id, str(requester), TaskStatus(status).name.lower(), int(redundancy),
                    int(determinism), int(active_claims), int(commitments), int(results),
                    int(deadline), int(claim_timeout), int(max_runtime), int(min_vram),
                    int(min_ram), int(submitted_at), int(reward), int(escrow),
                    _hex32(result_hash), str(model_cid), str(input_cid), str(framework))


def error_selectors() -> dict[bytes, str]:
    """4-byte selector → `Contract.ErrorName` for every custom error of the OARN contracts."""
    from eth_utils.abi import function_signature_to_4byte_selector

    found: dict[bytes, str] = {}
    for contract in CONTRACT_OF_ROLE.values():
        for entry in abi(contract):
            if entry.get("type") != "error":
                continue
            types = ",".join(_abi_type(i) for i in entry.get("inputs", []))
            selector = function_signature_to_4byte_selector(f"{entry['name']}({types})")
            found.setdefault(selector, f"{contract}.{entry['name']}")
    return found


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def explain_revert(exc: BaseException) -> ContractRevert | None:
    """Turn web3's revert exceptions into a `ContractRevert` naming the custom error."""
    from web3.exceptions import ContractCustomError, ContractLogicError

    if not isinstance(exc, ContractCustomError | ContractLogicError):
        return None
    data = getattr(exc, "data", None) or (exc.args[1] if len(exc.args) > 1 else None)
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        raw = bytes.fromhex(data[2:])
        name = error_selectors().get(raw[:4])
        if name is not None:
            detail = ""
            if raw[:4] == bytes.fromhex("08c379a0") or name.endswith("InvalidSpec"):
                from eth_abi.abi import decode

                detail = str(decode(["string"], raw[4:])[0])
            return ContractRevert(name, detail)
    message = str(exc.args[0]) if exc.args else str(exc)
    return ContractRevert("revert", message.removeprefix("execution reverted: "))


class OarnContracts:
    """The OARN contracts at known addresses, used through one `ChainClient`."""

    def __init__(self, client: ChainClient, addresses: dict[str, str]) -> None:
        from eth_utils.address import to_checksum_address

        missing = [role for role in CONTRACT_OF_ROLE if role not in addresses]
        if missing:
            raise ChainError(f"contract addresses missing: {', '.join(missing)}")
        self.client = client
        self.addresses = {role: to_checksum_address(addresses[role]) for role in CONTRACT_OF_ROLE}

    # -- plumbing --------------------------------------------------------------------------

    def _contract(self, w3: Any, role: str) -> Any:
        return w3.eth.contract(address=self.addresses[role], abi=abi(CONTRACT_OF_ROLE[role]))

    async def _read(self, role: str, function: str, *args: Any) -> Any:
        async def run(w3: Any) -> Any:
            return await getattr(self._contract(w3, role).functions, function)(*args).call()

        try:
            return await self.client.pool.call(run)
        except Exception as exc:
            revert = explain_revert(exc)
            if revert is None:
                raise
            raise revert from None

    async def _write(self, role: str, function: str, *args: Any, label: str = "") -> TxReceipt:
        return TxReceipt.from_web3(await self._send(role, function, *args, label=label))

    async def _send(self, role: str, function: str, *args: Any, label: str = "") -> Any:
        """Send a contract call and return web3's raw receipt (for its logs)."""
        data = self._contract(self.client.pool.w3, role).encode_abi(function, args=list(args))
        tx = {"to": self.addresses[role], "data": data}
        try:
            return await self.client.send(tx, label=label or f"{CONTRACT_OF_ROLE[role]}."
                                          f"{function}")
        except Exception as exc:
            revert = explain_revert(exc)
            if revert is None:
                raise
            raise revert from None

    def decode_events(self, role: str, event: str, receipt: Any) -> list[Any]:
        from web3.logs import DISCARD

        contract = self._contract(self.client.pool.w3, role)
        return list(getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD))

    @property
    def address(self) -> str:
        """The account these bindings read for and sign with."""
        return self.client.address

    async def block_number(self) -> int:
        return await self.client.block_number()

    async def chain_time(self) -> int:
        block = await self.client.pool.call(lambda w3: w3.eth.get_block("latest"))
        return int(block["timestamp"])

    # -- tokens ----------------------------------------------------------------------------

    async def token_balance(self, token: str, address: str | None = None) -> int:
        return int(await self._read(TOKEN_ROLES[token], "balanceOf",
                                    address or self.client.address))

    async def balances(self, address: str | None = None) -> dict[str, int]:
        """ETH, GOV and COMP of `address` (default: the client's account), in wei."""
        who = address or self.client.address
        return {"eth": await self.client.balance(who),
                "gov": await self.token_balance("gov", who),
                "comp": await self.token_balance("comp", who)}

    async def transfer(self, token: str, to: str, amount: int) -> TxReceipt:
        if token == "eth":
            return TxReceipt.from_web3(await self.client.transfer_eth(to, amount))
        return await self._write(TOKEN_ROLES[token], "transfer", to, amount,
                                 label=f"{token}-transfer")

    async def ensure_allowance(self, token: str, spender_role: str, amount: int) -> None:
        spender = self.addresses[spender_role]
        current = int(await self._read(TOKEN_ROLES[token], "allowance", self.client.address,
                                       spender))
        if current < amount:
            await self._write(TOKEN_ROLES[token], "approve", spender, amount,
                              label=f"{token}-approve")

    # -- staking ---------------------------------------------------------------------------

    async def stake_of(self, address: str | None = None) -> int:
        return int(await self._read("task_registry", "stakeOf", address or self.client.address))

    async def min_stake(self) -> int:
        return int(await self._read("task_registry", "minStake"))

    async def stake(self, amount: int) -> TxReceipt:
        """Approve and stake `amount` GOV in the TaskRegistry (what claiming needs)."""
        await self.ensure_allowance("gov", "task_registry", amount)
        return await self._write("task_registry", "stake", amount)

    async def unstake(self, amount: int) -> TxReceipt:
        return await self._write("task_registry", "unstake", amount)

    # -- task lifecycle --------------------------------------------------------------------

    async def submit_task(self, spec: TaskSpec) -> int:
        """Escrow R × reward COMP and submit; returns the new task id."""
        await self.ensure_allowance("comp", "task_registry",
                                    spec.reward_per_executor * spec.redundancy)
        receipt = await self._send("task_registry", "submitTask", spec.as_tuple())
        events = self.decode_events("task_registry", "TaskSubmitted", receipt)
        if not events:
            raise ChainError("submitTask succeeded but emitted no TaskSubmitted event")
        return int(events[0]["args"]["taskId"])

    async def claim(self, task_id: int) -> TxReceipt:
        return await self._write("task_registry", "claimTask", task_id)

    async def submit_result(self, task_id: int, result_hash: bytes, result_cid: str
                            ) -> TxReceipt:
        """R = 1: submit the result hash and CID directly."""
        return await self._write("task_registry", "submitResult", task_id, result_hash,
                                 result_cid)

    def commitment_for(self, result_hash: bytes, result_cid: str, salt: bytes,
                       executor: str | None = None) -> bytes:
        """keccak256(abi.encode(resultHash, resultCid, salt, executor)), computed locally."""
        from eth_abi.abi import encode
        from eth_utils.crypto import keccak

        who = executor or self.client.address
        return keccak(encode(["bytes32", "string", "bytes32", "address"],
                             [result_hash, result_cid, salt, who]))

    async def commit_result(self, task_id: int, result_hash: bytes, result_cid: str,
                            salt: bytes | None = None) -> bytes:
        """R > 1: send the commitment; returns the salt needed to reveal (keep it)."""
        salt = salt or secrets.token_bytes(32)
        await self._write("task_registry", "commitResult", task_id,
                          self.commitment_for(result_hash, result_cid, salt))
        return salt

    async def reveal_result(self, task_id: int, result_hash: bytes, result_cid: str,
                            salt: bytes) -> TxReceipt:
        return await self._write("task_registry", "revealResult", task_id, result_hash,
                                 result_cid, salt)

    async def finalize(self, task_id: int) -> TxReceipt:
        return await self._write("task_registry", "finalize", task_id)

    async def cancel(self, task_id: int) -> TxReceipt:
        return await self._write("task_registry", "cancelTask", task_id)

    async def refund(self, task_id: int) -> TxReceipt:
        return await self._write("task_registry", "refund", task_id)

    async def task_count(self) -> int:
        return int(await self._read("task_registry", "taskCount"))

    async def get_task(self, task_id: int) -> TaskView:
        view = _task_view(task_id, await self._read("task_registry", "getTask", task_id))
        if view.status == "none":
            raise ContractRevert("TaskRegistry.UnknownTask", f"no task {task_id}")
        return view

    async def get_claim(self, task_id: int, executor: str | None = None) -> ClaimView:
        state, expires, commitment, result_hash, cid = await self._read(
            "task_registry", "getClaim", task_id, executor or self.client.address)
        return ClaimView(ClaimState(state).name.lower(), int(expires), _hex32(commitment),
                         _hex32(result_hash), str(cid))

    async def claimants(self, task_id: int) -> list[str]:
        return [str(a) for a in await self._read("task_registry", "getClaimants", task_id)]

    async def open_slots(self, task_id: int) -> int:
        return int(await self._read("task_registry", "openSlots", task_id))

    async def reveal_open(self, task_id: int) -> bool:
        """Whether the reveal phase of a redundant task has opened (all committed or late)."""
        return bool(await self._read("task_registry", "revealOpen", task_id))

    async def payments_to(self, task_id: int, executor: str | None = None) -> list[ChainEvent]:
        """The `ExecutorPaid` events of `task_id` that paid `executor` (default: this account)."""
        who = executor or self.client.address
        events = await query_events(self.client.pool, self.addresses["task_registry"],
                                    abi("TaskRegistry"), "ExecutorPaid", indexed={2: who})
        return [event for event in events if int(event.args["taskId"]) == task_id]

    async def executor_stats(self, executor: str | None = None) -> dict[str, int]:
        completed, disagreed, timed_out = await self._read(
            "task_registry", "getExecutorStats", executor or self.client.address)
        return {"completed": int(completed), "disagreed": int(disagreed),
                "timed_out": int(timed_out)}

    async def open_tasks(self, limit: int = 50) -> list[TaskView]:
        """Open tasks with a free slot and a deadline ahead, newest first (scans back)."""
        now = await self.chain_time()
        found: list[TaskView] = []
        task_id = await self.task_count()
        scanned = 0
        while task_id > 0 and len(found) < limit and scanned < limit * 10:
            view = await self.get_task(task_id)
            if view.status == "open" and view.deadline > now and \
                    await self.open_slots(task_id) > 0:
                found.append(view)
            task_id -= 1
            scanned += 1
        return found

    # -- node registry ---------------------------------------------------------------------

    async def is_node_registered(self, address: str | None = None) -> bool:
        return bool(await self._read("registry", "isNodeRegistered",
                                     address or self.client.address))

    async def get_node(self, address: str | None = None) -> dict[str, Any]:
        peer_id, capabilities, registered_at, updated_at = await self._read(
            "registry", "getNode", address or self.client.address)
        return {"peer_id": str(peer_id), "capabilities": str(capabilities),
                "registered_at": int(registered_at), "updated_at": int(updated_at)}

    async def register_node(self, peer_id: str, capabilities: str) -> TxReceipt:
        return await self._write("registry", "registerNode", peer_id, capabilities)

    async def provider_of(self, kind: int, operator: str | None = None) -> dict[str, Any] | None:
        """This account's provider entry of `kind` (0 RPC, 1 bootstrap), or None."""
        provider_id = int(await self._read("registry", "providerIdOf",
                                           operator or self.client.address, kind))
        if provider_id == 0:
            return None
        operator_, kind_, active, registered_at, stake, endpoint = await self._read(
            "registry", "getProvider", provider_id)
        return {"provider_id": provider_id, "operator": str(operator_), "kind": int(kind_),
                "active": bool(active), "registered_at": int(registered_at),
                "stake": int(stake), "endpoint": str(endpoint)}

    async def min_provider_stake(self) -> int:
        return int(await self._read("registry", "minProviderStake"))

    async def update_provider_endpoint(self, kind: int, endpoint: str) -> TxReceipt:
        return await self._write("registry", "updateProviderEndpoint", kind, endpoint)

    async def register_provider(self, kind: int, endpoint: str, stake: int) -> TxReceipt:
        """Register an RPC (kind 0) or bootstrap (kind 1) endpoint, locking `stake` GOV."""
        await self.ensure_allowance("gov", "registry", stake)
        return await self._write("registry", "registerProvider", kind, endpoint, stake)
