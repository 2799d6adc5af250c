"""The `config.toml` schema: every key's type, default, help text and checks, and the profiles.

The typed sections (`NodeConfig` and its parts) are the shape every layer reads; `key()` attaches
the metadata validation and the generated docs use; `SCHEMA` is the flat dotted view of it.
Loading, validation and editing live in `oarn_tui.config`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from oarn_tui.amounts import parse_amount

PROFILES = ("local", "devnet", "arbitrum-sepolia", "arbitrum-one")


def key(default: Any, help: str, *, live: bool = False, choices: tuple[str, ...] = (),
        minimum: float | None = None, maximum: float | None = None,
        unsupported: Mapping[Any, str] | None = None, kind: str = "") -> Any:
    """Declare a config key: its default, help text and the checks validation applies."""
    meta = {"help": help, "live": live, "choices": choices, "minimum": minimum,
            "maximum": maximum, "unsupported": dict(unsupported or {}), "kind": kind}
    if isinstance(default, list | dict):
        frozen_copy = json.dumps(default)  # each config gets its own copy of a mutable default

        def fresh() -> Any:
            return json.loads(frozen_copy)

        return field(default_factory=fresh, metadata=meta)
    return field(default=default, metadata=meta)


NOT_YET = "not supported yet"


@dataclass(frozen=True)
class NodeSection:
    name: str = key("oarn-node", "Name shown to peers and in the dashboard.", live=True)
    profile: str = key("local", "Network profile: local, devnet, arbitrum-sepolia, arbitrum-one.",
                       choices=PROFILES)
    wallet_path: str = key("wallet.vault", "Encrypted key vault (relative to the home).",
                           kind="path")
    state_path: str = key("state/node.db", "SQLite state database.", kind="path")
    log_path: str = key("logs/node.log", "JSON-lines log file, rotated.", kind="path")
    log_level: str = key("info", "Log level.", live=True,
                         choices=("debug", "info", "warning", "error"))
    log_max_mb: int = key(10, "Rotate the log file at this size.", minimum=1, maximum=1024)
    log_backups: int = key(5, "Rotated log files to keep.", minimum=0, maximum=100)


@dataclass(frozen=True)
class DiscoverySection:
    method: str = key("auto", "How peers are found: auto, registry, dht, manual.",
                      choices=("auto", "registry", "dht", "ens", "manual"))
    ens_name: str = key("", "ENS name that resolves to the OARN registry (mainnet profiles).")
    manual_nodes: list[str] = key([], "Bootstrap multiaddrs, used when method = manual or auto.")
    mdns: bool = key(False, "Find peers on the local network with mDNS.")
    dht: bool = key(True, "Run the Kademlia DHT (server mode).")


@dataclass(frozen=True)
class NetworkSection:
    mode: str = key("standard", "local (no network) or standard (full P2P).",
                    choices=("local", "standard", "validator_routed", "tor", "i2p"),
                    unsupported={"validator_routed": NOT_YET, "tor": NOT_YET, "i2p": NOT_YET})
    listen_host: str = key("0.0.0.0", "Address the libp2p host listens on.")
    listen_port: int = key(0, "TCP port for libp2p; 0 picks a free one.", minimum=0,
                           maximum=65535)
    enable_quic: bool = key(False, "Also listen on QUIC (UDP, same port number).")
    max_peers: int = key(50, "Connection limit.", minimum=1, maximum=10000)
    discovery: DiscoverySection = field(default_factory=DiscoverySection)


@dataclass(frozen=True)
class PrivacySection:
    tor_enabled: bool = key(False, "Route traffic through Tor.", unsupported={True: NOT_YET})
    i2p_enabled: bool = key(False, "Route traffic through I2P.", unsupported={True: NOT_YET})
    padding_enabled: bool = key(True, "Pad gossip messages to fixed sizes.")
    padding_bucket_bytes: int = key(1024, "Messages are padded to a multiple of this size.",
                                    minimum=64, maximum=65536)
    decoy_traffic: bool = key(False, "Generate fake traffic.", unsupported={True: NOT_YET})
    rotate_peers: bool = key(True, "Rotate non-bootstrap peer connections periodically.")
    rotate_interval_s: int = key(600, "Seconds between peer rotations.", minimum=30)
    min_delay_ms: int = key(0, "Random send delay, lower bound (0 with max = 0 disables).",
                            live=True, minimum=0, maximum=60000)
    max_delay_ms: int = key(0, "Random send delay, upper bound.", live=True, minimum=0,
                            maximum=60000)


@dataclass(frozen=True)
class ComputeSection:
    accepting: bool = key(True, "Accept new tasks (the dashboard's pause/resume).", live=True)
    max_concurrent_tasks: int = key(2, "Tasks run at once.", live=True, minimum=1, maximum=256)
    accepted_models: list[str] = key(
        ["*"], "Globs or CIDs matched against the task's on-chain model CID or a name your own "
        "model store binds to that CID (`oarn model add/pull`); an announced name never counts.",
        live=True)
    frameworks: list[str] = key(["onnx", "gguf", "torchscript", "ollama"],
                                "Runtimes this node offers.", live=True)
    min_reward: str = key("0", "Smallest reward per task accepted, in COMP.", live=True,
                          kind="amount")
    vram_headroom_mb: int = key(512, "VRAM kept free beyond a task's need.", live=True,
                                minimum=0)
    ram_headroom_mb: int = key(1024, "RAM kept free beyond a task's need.", live=True,
                               minimum=0)
    max_temperature_c: int = key(85, "Refuse work while any GPU is hotter.", live=True,
                                 minimum=30, maximum=120)
    only_when_idle: bool = key(False, "Accept work only while the machine is otherwise idle.",
                               live=True)
    idle_cpu_percent: int = key(30, "CPU use under which the machine counts as idle.",
                                live=True, minimum=1, maximum=100)
    task_timeout_s: int = key(300, "Wall-clock limit per inference.", live=True, minimum=1)
    worker_memory_mb: int = key(4096, "Address-space limit of an inference worker.",
                                minimum=64)
    onnx_threads: int = key(1, "Intra-op threads per ONNX Runtime session.", minimum=1,
                            maximum=256)
    onnx_optimization: str = key("basic", "ONNX Runtime graph optimisation level.",
                                 choices=("disabled", "basic", "extended", "all"))
    ollama_url: str = key("http://127.0.0.1:11434", "Local Ollama server, if any.")
    telemetry_interval_s: float = key(1.0, "Hardware telemetry sampling interval.", live=True,
                                      minimum=0.1, maximum=3600)


@dataclass(frozen=True)
class StorageSection:
    backend: str = key("local", "Block storage: local (built in) or kubo (an IPFS daemon).",
                       choices=("local", "kubo"))
    kubo_api_url: str = key("", "Kubo RPC URL when backend = kubo.")
    model_cache_path: str = key("models", "Model store.", kind="path")
    blocks_path: str = key("blocks", "Content-addressed block store.", kind="path")
    max_cache_size_gb: float = key(100.0, "Unpinned blocks are collected above this size.",
                                   live=True, minimum=0.001)
    result_retention_h: float = key(24.0, "Hours an executor keeps a result pinned.", live=True,
                                    minimum=0)
    max_fetch_bytes: int = key(64 * 2**30, "Largest file fetched by CID (model, input or "
                               "result), checked against its declared size before its blocks.",
                               minimum=1)
    max_task_bytes: int = key(80 * 2**30, "Disk quota per task: model and input together.",
                              minimum=1)
    max_dag_links: int = key(1024, "Most links one node of a fetched file may have.",
                             minimum=2)
    max_dag_depth: int = key(32, "Most levels below the root of a fetched file.", minimum=1,
                             maximum=1024)
    max_dag_repeats: int = key(32, "Most times one block may occur in a fetched file (a DAG "
                               "bomb repeats one block to declare a huge file).", minimum=1)
    max_dag_blocks: int = key(1 << 20, "Most blocks in a fetched file.", minimum=1)


@dataclass(frozen=True)
class BlockchainSection:
    discovery_method: str = key("auto", "How the registry and RPCs are found.",
                                choices=("auto", "ens", "registry", "dht", "manual"))
    chain_id: int = key(42161, "Expected chain id; the node refuses an RPC on another chain.",
                        minimum=1)
    registry_address: str = key("", "OARNRegistry address (written by the devnet profile).")
    ens_name: str = key("", "ENS name of the registry (mainnet profiles).")
    manual_rpc_urls: list[str] = key([], "RPC URLs; several give failover.")
    confirmations: int = key(1, "Blocks to wait before acting on an event.", minimum=0,
                             maximum=64)
    tx_timeout_s: int = key(120, "Seconds to wait for a receipt before bumping the fee.",
                            minimum=1)
    gas_bump_percent: int = key(20, "Fee increase when replacing a stuck transaction.",
                                minimum=10, maximum=500)


@dataclass(frozen=True)
class MetricsSection:
    enabled: bool = key(True, "Serve Prometheus metrics.")
    listen_host: str = key("127.0.0.1", "Metrics address (keep it local unless firewalled).")
    port: int = key(0, "Metrics port; 0 picks a free one (see status --json).", minimum=0,
                    maximum=65535)


@dataclass(frozen=True)
class UiSection:
    theme: str = key("dark", "Dashboard theme.", live=True, choices=("dark", "light"))
    refresh_hz: float = key(1.0, "Dashboard refresh rate.", live=True, minimum=0.1, maximum=10)


@dataclass(frozen=True)
class NodeConfig:
    """The validated, effective configuration of one home."""

    node: NodeSection = field(default_factory=NodeSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    compute: ComputeSection = field(default_factory=ComputeSection)
    storage: StorageSection = field(default_factory=StorageSection)
    blockchain: BlockchainSection = field(default_factory=BlockchainSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    ui: UiSection = field(default_factory=UiSection)
    home: Path = field(default=Path("."), compare=False)

    def path(self, value: str) -> Path:
        """Resolve a path key: absolute as given, `~` expanded, else relative to the home."""
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.home / path

    def get(self, dotted: str) -> Any:
        value: Any = self
        for part in dotted.split("."):
            value = getattr(value, part)
        return value

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("home")
        return data

    @property
    def min_reward_wei(self) -> int:
        return parse_amount(self.compute.min_reward)


# -- schema introspection ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    dotted: str
    type: Any
    default: Any
    meta: Mapping[str, Any]


def _is_section(ftype: Any) -> TypeGuard[type[Any]]:
    """Whether a field's type is a nested section (a dataclass type), not a value."""
    return isinstance(ftype, type) and dataclasses.is_dataclass(ftype)


def _walk(cls: type[Any], prefix: str = "") -> list[KeySpec]:
    specs: list[KeySpec] = []
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in hints.items():
        if name == "home":
            continue
        ftype = _resolve_type(cls, name)
        dotted = f"{prefix}{name}"
        if _is_section(ftype):
            specs.extend(_walk(ftype, dotted + "."))
        else:
            factory = f.default_factory
            default = f.default if factory is dataclasses.MISSING else factory()
            specs.append(KeySpec(dotted, ftype, default, f.metadata))
    return specs


def _resolve_type(cls: type[Any], name: str) -> Any:
    import typing

    return typing.get_type_hints(cls)[name]


SCHEMA: dict[str, KeySpec] = {spec.dotted: spec for spec in _walk(NodeConfig)}
SECTIONS = sorted({d.rsplit(".", 1)[0] for d in SCHEMA})

PROFILE_PRESETS: dict[str, dict[str, Any]] = {
    "local": {"network.mode": "local", "blockchain.chain_id": 31337,
              "blockchain.discovery_method": "manual", "network.discovery.method": "manual",
              "network.listen_host": "127.0.0.1"},
    "devnet": {"blockchain.chain_id": 31337, "blockchain.discovery_method": "registry",
               "blockchain.confirmations": 0,
               "network.discovery.method": "registry", "network.listen_host": "127.0.0.1"},
    "arbitrum-sepolia": {"blockchain.chain_id": 421614, "blockchain.discovery_method": "auto",
                         "network.discovery.method": "auto"},
    "arbitrum-one": {"blockchain.chain_id": 42161, "blockchain.discovery_method": "ens",
                     "network.discovery.method": "auto"},
}


def build(values: Mapping[str, Any], home: Path) -> NodeConfig:
    """Assemble a `NodeConfig` from a complete flat mapping of dotted keys."""

    def make(cls: type[Any], prefix: str) -> Any:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "home":
                continue
            ftype = _resolve_type(cls, f.name)
            dotted = f"{prefix}{f.name}"
            kwargs[f.name] = make(ftype, dotted + ".") if _is_section(ftype) else values[dotted]
        return cls(**kwargs)

    config: NodeConfig = make(NodeConfig, "")
    return dataclasses.replace(config, home=home)
