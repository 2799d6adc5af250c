"""Every runtime command: its keyword arguments and its result, as dataclasses.

The entries stay in one module (~400 lines) because `COMMANDS` is the one table to read.

The names, argument names and result keys are the public control API (`POST
/v1/commands/{name}` with a JSON object of arguments; `oarn` and the dashboard call the same
commands in process): they are added, never renamed. `CommandRegistry.call` checks a call's
arguments against the entry before the handler runs; `CommandRegistry.register` refuses a
command that has no entry here, or a handler whose parameters do not fit it.

To add a command: an argument dataclass (`NoArgs` when it takes none), a result dataclass (the
keys its result object always has) or a `returns` sentence, and a `CommandSpec` in `COMMANDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oarn_tui.core.catalog.schema import CommandSpec

# -- arguments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    """The command takes no arguments."""


@dataclass(frozen=True)
class StatusArgs:
    task_limit: int = 200
    peer_limit: int = 1000


@dataclass(frozen=True)
class LogsArgs:
    lines: int = 50


@dataclass(frozen=True)
class TaskGetArgs:
    task_id: str


@dataclass(frozen=True)
class TaskSubmitArgs:
    model: str
    input_path: str
    reward_wei: int
    redundancy: int = 1
    deadline_s: int = 600
    min_vram_mb: int = 0
    min_ram_mb: int = 0
    max_runtime_s: int = 120
    determinism: int = 0
    claim_timeout_s: int = 300
    framework: str = ""


@dataclass(frozen=True)
class TaskWaitArgs:
    task_id: int
    timeout_s: float = 600


@dataclass(frozen=True)
class TaskResultArgs:
    task_id: int
    out: str


@dataclass(frozen=True)
class TaskIdArgs:
    task_id: int


@dataclass(frozen=True)
class TaskClaimArgs:
    task_id: int
    force: bool = False


@dataclass(frozen=True)
class WalletUnlockArgs:
    passphrase: str


@dataclass(frozen=True)
class WalletCreateArgs:
    passphrase: str
    words: int = 24


@dataclass(frozen=True)
class WalletImportArgs:
    passphrase: str
    secret: str
    eth_path: str = ""
    keystore_password: str = ""


@dataclass(frozen=True)
class ConfigSetArgs:
    key: str
    value: str


@dataclass(frozen=True)
class StakeArgs:
    amount: str


@dataclass(frozen=True)
class WalletSendArgs:
    to: str
    amount: str
    token: str = "ETH"


@dataclass(frozen=True)
class ModelRefArgs:
    model: str


@dataclass(frozen=True)
class ModelAddArgs:
    path: str
    model_name: str | None = None


@dataclass(frozen=True)
class ModelPullArgs:
    cid: str
    model_name: str | None = None


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusDocument:
    """The status document (`oarn status --json`); these keys at least."""

    version: str
    profile: str
    home: str
    uptime_s: float
    peer_id: str | None
    listen_addrs: list[str]
    topics: list[str]
    peers: int
    wallet: dict[str, Any]
    chain: dict[str, Any]
    network: dict[str, Any]
    tasks: dict[str, Any]
    services: dict[str, Any]
    accepting: bool


@dataclass(frozen=True)
class StopResult:
    stopping: bool


@dataclass(frozen=True)
class AcceptingResult:
    accepting: bool


@dataclass(frozen=True)
class LogsResult:
    lines: list[dict[str, Any]]


@dataclass(frozen=True)
class ConfigReloadResult:
    applied: list[str]
    restart_needed: list[str]


@dataclass(frozen=True)
class ConfigSetResult:
    key: str
    value: Any
    applied: list[str]
    restart_needed: list[str]


@dataclass(frozen=True)
class WalletCreateResult:
    address: str
    peer_id: str
    vault: str
    mnemonic: str
    state: str


@dataclass(frozen=True)
class WalletImportResult:
    address: str
    peer_id: str
    origin: str
    vault: str
    state: str


@dataclass(frozen=True)
class StakeResult:
    address: str
    action: str
    amount: dict[str, Any]
    staked_gov: dict[str, Any]
    min_stake: dict[str, Any]
    tx_hash: str
    block: int
    gas_used: int


@dataclass(frozen=True)
class TaskRecordResult:
    """A task in the node's ledger (`TaskRecord.to_dict`)."""

    task_id: str
    stage: str
    role: str
    model: str
    model_cid: str
    input_cid: str
    result_cid: str
    result_hash: str
    progress: float
    reward: dict[str, Any]
    failure_reason: str
    created_at: float
    updated_at: float
    details: dict[str, Any]


@dataclass(frozen=True)
class TaskDetailResult(TaskRecordResult):
    """A ledger record with its stage timeline (`stage`, `ts`, `note`, `tx_hash` each)."""

    timeline: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TaskSubmitResult:
    task_id: int
    model_cid: str
    input_cid: str
    deadline: int
    redundancy: int
    framework: str


@dataclass(frozen=True)
class TaskFetchResult:
    task_id: int
    result_cid: str
    result_hash: str
    out: str
    bytes: int


@dataclass(frozen=True)
class TaskCancelResult:
    task_id: int
    cancelled: bool


@dataclass(frozen=True)
class WalletStatusResult:
    state: str
    service_state: str
    reason: str
    address: str | None
    peer_id: str | None
    unlock: str


@dataclass(frozen=True)
class WalletSendResult:
    tx_hash: str
    amount: dict[str, Any]
    token: str


@dataclass(frozen=True)
class ChainStatusResult:
    state: str
    reason: str
    chain_id: int | None
    block: int | None
    rpc_url: str | None
    endpoints: list[Any]
    address: str | None
    registry: str | None
    registered: bool
    bootstrap_registered: bool


@dataclass(frozen=True)
class StorageStatResult:
    backend: str
    blocks: int


@dataclass(frozen=True)
class GcResult:
    removed_blocks: int
    freed_bytes: int
    expired_pins: int


@dataclass(frozen=True)
class ModelManifest:
    """A stored model's manifest (plus `path`, `origin` and executor fields where known)."""

    name: str
    cid: str
    size: int
    sha256: str
    format: str
    added_at: float
    file: str


@dataclass(frozen=True)
class ModelRemoveResult:
    name: str
    cid: str
    removed_blocks: int
    freed_bytes: int


@dataclass(frozen=True)
class PeersResult:
    peers: list[dict[str, Any]]
    known: list[dict[str, Any]]


def _spec(name: str, args: type, summary: str, result: type | None = None,
          returns: str = "") -> tuple[str, CommandSpec]:
    return name, CommandSpec(name, args, summary, result, returns)


COMMANDS: dict[str, CommandSpec] = dict([
    _spec("status", StatusArgs, "The status document, with at most `task_limit` tasks and "
          "`peer_limit` peers listed.", StatusDocument),
    _spec("stop", NoArgs, "Stop the node (it answers first).", StopResult),
    _spec("pause", NoArgs, "Stop taking new network tasks; running ones finish.",
          AcceptingResult),
    _spec("resume", NoArgs, "Take network tasks again.", AcceptingResult),
    _spec("logs", LogsArgs, "The last `lines` log records (JSON objects).", LogsResult),
    _spec("config.reload", NoArgs, "Re-read config.toml; apply the live keys, list the ones "
          "that need a restart.", ConfigReloadResult),
    _spec("task.get", TaskGetArgs, "A task of this node's ledger with its stage timeline.",
          TaskDetailResult),
    _spec("task.submit", TaskSubmitArgs, "Store the model (a path or a CID) and the input, "
          "escrow the reward and submit the task on chain.", TaskSubmitResult),
    _spec("task.wait", TaskWaitArgs, "Wait (at most `timeout_s`) until a submitted task is "
          "finalized, expired or cancelled.",
          returns="the task's chain record: `task_id`, `status` and the chain's fields"),
    _spec("task.result", TaskResultArgs, "Fetch a finalized task's agreed result into `out`, "
          "verified against the hash on chain.", TaskFetchResult),
    _spec("task.cancel", TaskIdArgs, "Cancel an unclaimed task and refund its escrow.",
          TaskCancelResult),
    _spec("task.claim", TaskClaimArgs, "Work on a task now (`force`: even if the acceptance "
          "policy would decline it).", TaskRecordResult),
    _spec("wallet.status", NoArgs, "The wallet's state, address and unlock method.",
          WalletStatusResult),
    _spec("wallet.lock", NoArgs, "Drop the keys from memory (the vault stays on disk).",
          WalletStatusResult),
    _spec("wallet.unlock", WalletUnlockArgs, "Unlock the vault and restart the services "
          "that sign.", WalletStatusResult),
    _spec("wallet.send", WalletSendArgs, "Transfer ETH, GOV or COMP (`amount` in decimal "
          "units) from the node's account.", WalletSendResult),
    _spec("wallet.create", WalletCreateArgs, "Create the home's vault from a fresh recovery "
          "phrase (returned once, to show the user) and unlock it.", WalletCreateResult),
    _spec("wallet.import", WalletImportArgs, "Create the home's vault from a recovery phrase "
          "(12+ words, at `eth_path`), hex key or v3 keystore and unlock it.", WalletImportResult),
    _spec("chain.stake", StakeArgs, "Approve and stake `amount` GOV (decimal units) in the "
          "TaskRegistry.", StakeResult),
    _spec("chain.unstake", StakeArgs, "Withdraw `amount` of staked GOV.", StakeResult),
    _spec("config.set", ConfigSetArgs, "Set one config key (`value` as TOML text), validated "
          "and written atomically, then reload: the live keys apply at once.",
          ConfigSetResult),
    _spec("chain.status", NoArgs, "The chain client's state, RPC endpoints and "
          "registration.", ChainStatusResult),
    _spec("storage.stat", NoArgs, "Block store usage.", StorageStatResult),
    _spec("storage.gc", NoArgs, "Remove every unpinned block.", GcResult),
    _spec("model.list", NoArgs, "The stored models.",
          returns="a list of model manifests (`name`, `cid`, `size`, `sha256`, `format`, ...)"),
    _spec("model.info", ModelRefArgs, "A stored model by name or CID.", ModelManifest),
    _spec("model.add", ModelAddArgs, "Import a local model file.", ModelManifest),
    _spec("model.remove", ModelRefArgs, "Unpin and delete a stored model.", ModelRemoveResult),
    _spec("model.pull", ModelPullArgs, "Fetch a model by CID over bitswap (publishes "
          "`model.progress`).", ModelManifest),
    _spec("hardware.report", NoArgs, "The capability report that drives task acceptance.",
          returns="an object: the system report, `gpu` and `runtimes`"),
    _spec("p2p.peers", NoArgs, "Connected and known peers.", PeersResult),
])
