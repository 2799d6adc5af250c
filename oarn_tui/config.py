"""`config.toml`: typed schema, defaults, profiles, `OARN_*` overrides and validation.

Layers, lowest first: schema defaults < profile preset < the home's `config.toml` < `OARN_*`
environment variables. Validation names the key, the line and the fix in one line. Secrets are
never accepted in the file (seed 001 §9 "What is NEVER in config"); features that do not exist yet
are refused as "not supported yet" instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oarn_tui.amounts import AmountError, parse_amount
from oarn_tui.fsutil import atomic_write_text
from oarn_tui.secretscan import looks_secret_name, secret_kind

CONFIG_FILE = "config.toml"
PROFILES = ("local", "devnet", "arbitrum-sepolia", "arbitrum-one")
NOT_CONFIG_ENV = {"OARN_HOME", "OARN_PROFILE", "OARN_PASSWORD_FILE", "OARN_ANVIL", "OARN_LOG"}


class ConfigError(ValueError):
    """A configuration problem a person can fix; `str()` is the one-line message."""

    def __init__(self, key: str, message: str, fix: str = "", *, line: int | None = None,
                 source: str = CONFIG_FILE) -> None:
        self.key, self.message, self.fix, self.line, self.source = key, message, fix, line, source
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        text = f"{where}: {self.key}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


def key(default: Any, help: str, *, live: bool = False, choices: tuple[str, ...] = (),
        minimum: float | None = None, maximum: float | None = None,
        unsupported: Mapping[Any, str] | None = None, kind: str = "") -> Any:
    """Declare a config key: its default, help text and the checks validation applies."""
    meta = {"help": help, "live": live, "choices": choices, "minimum": minimum,
            "maximum": maximum, "unsupported": dict(unsupported or {}), "kind": kind}
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: json.loads(json.dumps(d)), metadata=meta)
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


def _walk(cls: type, prefix: str = "") -> list[KeySpec]:
    specs: list[KeySpec] = []
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in hints.items():
        if name == "home":
            continue
        ftype = _resolve_type(cls, name)
        dotted = f"{prefix}{name}"
        if dataclasses.is_dataclass(ftype):
            specs.extend(_walk(ftype, dotted + "."))
        else:
            has_factory = f.default_factory is not dataclasses.MISSING
            default = f.default_factory() if has_factory else f.default
            specs.append(KeySpec(dotted, ftype, default, f.metadata))
    return specs


def _resolve_type(cls: type, name: str) -> Any:
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



# -- validation -------------------------------------------------------------------------------


def find_line(text: str, dotted: str) -> int | None:
    """Line number of `dotted` in TOML `text` (table headers and `key =` lines), if present."""
    *tables, leaf = dotted.split(".")
    table = ".".join(tables)
    current = ""
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    assign = re.compile(r"^\s*([A-Za-z0-9_.\-\"']+)\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if match := header.match(line):
            current = match.group(1).replace(" ", "")
            continue
        if match := assign.match(line):
            full = ".".join(p for p in (current, match.group(1).strip("\"'")) if p)
            if full == dotted or (current == table and match.group(1) == leaf):
                return number
    return None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, Mapping) and dotted not in SCHEMA:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _type_name(expected: Any) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
            list[str]: "a list of strings"}.get(expected, str(expected))


def check_value(dotted: str, value: Any, *, line: int | None = None,
                source: str = CONFIG_FILE) -> Any:
    """Validate one value against the schema; return it normalised or raise `ConfigError`."""
    kind = "a secret-named key" if looks_secret_name(dotted) else secret_kind(value)
    if kind is not None:
        raise ConfigError(dotted, f"secrets are never kept in config.toml (this looks like "
                          f"{kind})", "remove it; wallet keys go into the encrypted vault "
                          "(`oarn wallet import`), other credentials into the environment of "
                          "the service that needs them", line=line, source=source)
    spec = SCHEMA.get(dotted)
    if spec is None:
        raise ConfigError(dotted, "unknown key", _suggest(dotted), line=line, source=source)
    expected, meta = spec.type, spec.meta
    ok = (
        (expected is bool and isinstance(value, bool))
        or (expected is int and isinstance(value, int) and not isinstance(value, bool))
        or (expected is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (expected is str and isinstance(value, str))
        or (expected == list[str] and isinstance(value, list)
            and all(isinstance(v, str) for v in value))
    )
    if meta["kind"] == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
        value, ok = str(value), True
    if not ok:
        raise ConfigError(dotted, f"expected {_type_name(expected)}, got {value!r}",
                          f"set it to {_type_name(expected)}, e.g. {spec.default!r}", line=line,
                          source=source)
    if expected is float:
        value = float(value)
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(dotted, f"{value!r} is not one of {', '.join(meta['choices'])}",
                          f"use one of: {', '.join(meta['choices'])}", line=line, source=source)
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise ConfigError(dotted, f"{value!r} is below the minimum {meta['minimum']}",
                          f"set it to at least {meta['minimum']}", line=line, source=source)
    if meta["maximum"] is not None and value > meta["maximum"]:
        raise ConfigError(dotted, f"{value!r} is above the maximum {meta['maximum']}",
                          f"set it to at most {meta['maximum']}", line=line, source=source)
    if not isinstance(value, list) and value in meta["unsupported"]:
        raise ConfigError(dotted, f"{value!r} is {meta['unsupported'][value]}",
                          f"use the default {spec.default!r}", line=line, source=source)
    if meta["kind"] == "amount":
        try:
            parse_amount(value)
        except AmountError as exc:
            raise ConfigError(dotted, str(exc), "write a decimal amount like 2.5", line=line,
                              source=source) from None
    return value


def _suggest(dotted: str) -> str:
    import difflib

    close = difflib.get_close_matches(dotted, list(SCHEMA), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}? (`oarn config show` lists every key)"
    return "remove it (`oarn config show` lists every key)"


def _cross_checks(values: Mapping[str, Any]) -> None:
    low, high = values["privacy.min_delay_ms"], values["privacy.max_delay_ms"]
    if low > high:
        raise ConfigError("privacy.min_delay_ms", f"{low} is above max_delay_ms {high}",
                          "make min_delay_ms ≤ max_delay_ms")
    if values["storage.backend"] == "kubo" and not values["storage.kubo_api_url"]:
        raise ConfigError("storage.kubo_api_url", "backend = kubo needs the Kubo RPC URL",
                          "set it, e.g. http://127.0.0.1:5001")


def parse_toml(text: str, source: str = CONFIG_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError("(syntax)", str(exc).split(" (at")[0], "fix the TOML syntax",
                          line=line or (int(match.group(1)) if match else None),
                          source=source) from None


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """`OARN_<SECTION>_<KEY>` values, parsed as TOML values (strings when not valid TOML)."""
    by_env = {"OARN_" + dotted.upper().replace(".", "_"): dotted for dotted in SCHEMA}
    found: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith("OARN_") or name in NOT_CONFIG_ENV:
            continue
        dotted = by_env.get(name)
        if dotted is None:
            section_prefixes = {"OARN_" + s.upper().replace(".", "_") + "_" for s in SECTIONS}
            if any(name.startswith(p) for p in section_prefixes):
                raise ConfigError(name, "unknown configuration override", _suggest(
                    name[5:].lower().replace("_", ".")), source="environment")
            continue
        try:
            found[dotted] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            found[dotted] = raw
        found[dotted] = check_value(dotted, found[dotted], source=f"environment {name}")
    return found


def build(values: Mapping[str, Any], home: Path) -> NodeConfig:
    """Assemble a `NodeConfig` from a complete flat mapping of dotted keys."""

    def make(cls: type, prefix: str) -> Any:
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name == "home":
                continue
            ftype = _resolve_type(cls, f.name)
            dotted = f"{prefix}{f.name}"
            kwargs[f.name] = make(ftype, dotted + ".") if dataclasses.is_dataclass(ftype) \
                else values[dotted]
        return cls(**kwargs)

    config = make(NodeConfig, "")
    return dataclasses.replace(config, home=home)


def validate_text(text: str, source: str = CONFIG_FILE) -> dict[str, Any]:
    """Validate a config file's text; return its flat values. Raises the first `ConfigError`."""
    flat = _flatten(parse_toml(text, source))
    return {dotted: check_value(dotted, value, line=find_line(text, dotted), source=source)
            for dotted, value in flat.items()}


def load_config(home: Path, profile: str | None = None,
                env: Mapping[str, str] | None = None) -> NodeConfig:
    """Load the effective config of `home` (defaults < profile < file < environment)."""
    env = os.environ if env is None else env
    path = home / CONFIG_FILE
    file_values = validate_text(path.read_text(encoding="utf-8")) if path.exists() else {}
    env_values = env_overrides(env)
    chosen = profile or env.get("OARN_PROFILE") or env_values.get("node.profile") \
        or file_values.get("node.profile") or "local"
    if chosen not in PROFILES:
        raise ConfigError("node.profile", f"unknown profile {chosen!r}",
                          f"use one of: {', '.join(PROFILES)}")
    values = {dotted: spec.default for dotted, spec in SCHEMA.items()}
    values.update(PROFILE_PRESETS[chosen])
    values.update(file_values)
    values.update(env_values)
    values["node.profile"] = chosen
    _cross_checks(values)
    return build(values, home)


def diff_live(old: NodeConfig, new: NodeConfig) -> tuple[list[str], list[str]]:
    """Keys that changed, split into (applied live, need a restart)."""
    live, restart = [], []
    for dotted, spec in SCHEMA.items():
        if old.get(dotted) != new.get(dotted):
            (live if spec.meta["live"] else restart).append(dotted)
    return live, restart


# -- editing ----------------------------------------------------------------------------------


def render_default_config(profile: str, extra: Mapping[str, Any] | None = None) -> str:
    """A commented `config.toml` for `oarn init`: the profile plus any explicit values."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("OARN node configuration. `oarn config show` lists every key."))
    doc.add(tomlkit.comment("Keys never live here: use `oarn wallet` for them."))
    node = tomlkit.table()
    node.add("profile", profile)
    doc.add("node", node)
    for dotted, value in (extra or {}).items():
        set_in_document(doc, dotted, value)
    return tomlkit.dumps(doc)


def set_in_document(doc: Any, dotted: str, value: Any) -> None:
    import tomlkit

    *tables, leaf = dotted.split(".")
    container = doc
    for name in tables:
        if name not in container:
            container.add(name, tomlkit.table())
        container = container[name]
    container[leaf] = value


def set_key(home: Path, dotted: str, raw: str) -> Any:
    """`oarn config set`: parse, validate, edit with comments kept, write atomically."""
    import tomlkit

    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    value = check_value(dotted, value, source="command line")
    path = home / CONFIG_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    doc = tomlkit.parse(text)
    set_in_document(doc, dotted, value)
    new_text = tomlkit.dumps(doc)
    validate_text(new_text)
    load_config_from_text(home, new_text)
    atomic_write_text(path, new_text, mode=0o600)
    return value


def load_config_from_text(home: Path, text: str) -> NodeConfig:
    """Cross-check a candidate file before it replaces the current one."""
    values = {dotted: spec.default for dotted, spec in SCHEMA.items()}
    file_values = validate_text(text)
    values.update(PROFILE_PRESETS[file_values.get("node.profile", "local")])
    values.update(file_values)
    _cross_checks(values)
    return build(values, home)
