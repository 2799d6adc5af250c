"""`config.toml`: loading, profiles, `OARN_*` overrides, validation and editing.

Layers, lowest first: schema defaults < profile preset < the home's `config.toml` < `OARN_*`
environment variables. Validation names the key, the line and the fix in one line. Secrets are
never accepted in the file (seed 001 §9 "What is NEVER in config"); features that do not exist yet
are refused as "not supported yet" instead of being silently ignored. The schema itself (typed
sections, defaults, help, profiles) is `oarn_tui.config_schema`; its names are re-exported here,
so `from oarn_tui.config import NodeConfig` stays the one import front ends and services use.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oarn_tui.amounts import AmountError, parse_amount
from oarn_tui.config_schema import (
    NOT_YET,
    PROFILE_PRESETS,
    PROFILES,
    SCHEMA,
    SECTIONS,
    BlockchainSection,
    ComputeSection,
    DiscoverySection,
    KeySpec,
    MetricsSection,
    NetworkSection,
    NodeConfig,
    NodeSection,
    PrivacySection,
    StorageSection,
    UiSection,
    build,
    key,
)
from oarn_tui.fsutil import atomic_write_text
from oarn_tui.secretscan import looks_secret_name, secret_kind

__all__ = [
    "CONFIG_FILE", "NOT_CONFIG_ENV", "NOT_YET", "PROFILES", "PROFILE_PRESETS", "SCHEMA",
    "SECTIONS", "BlockchainSection", "ComputeSection", "ConfigError", "DiscoverySection",
    "KeySpec", "MetricsSection", "NetworkSection", "NodeConfig", "NodeSection", "PrivacySection",
    "StorageSection", "UiSection", "build", "check_value", "diff_live", "env_overrides",
    "find_line", "key", "load_config", "load_config_from_text", "parse_toml",
    "render_default_config", "set_in_document", "set_key", "validate_text",
]

CONFIG_FILE = "config.toml"
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
    live: list[str] = []
    restart: list[str] = []
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
