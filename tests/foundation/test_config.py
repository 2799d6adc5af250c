"""Configuration: schema, validation messages, profiles, overrides, editing."""

from __future__ import annotations

from pathlib import Path

import pytest

from oarn_tui.config import (
    ConfigError,
    diff_live,
    env_overrides,
    load_config,
    render_default_config,
    set_key,
    validate_text,
)


def write(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("[node]\nname = 'a'\n\n[compute]\nmax_concurent_tasks = 3\n",
         "compute.max_concurent_tasks", 5),
        ("[compute]\n# comment\nmax_concurrent_tasks = 'four'\n", "compute.max_concurrent_tasks",
         3),
        ("[node]\nprivate_key = '0x" + "ab" * 32 + "'\n", "node.private_key", 2),
        ("[blockchain]\nmanual_rpc_urls = ['0x" + "cd" * 32 + "']\n",
         "blockchain.manual_rpc_urls", 2),
        ("[wallet]\nmnemonic = 'x'\n", "wallet.mnemonic", 2),
        ("[privacy]\ntor_enabled = true\n", "privacy.tor_enabled", 2),
        ("[network]\nmode = 'validator_routed'\n", "network.mode", 2),
        ("[network.discovery]\nmethod = 'carrier-pigeon'\n", "network.discovery.method", 2),
    ],
)
def test_validation_names_key_and_line(text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_text(text)
    error = caught.value
    assert error.key == key
    assert error.line == line
    message = str(error)
    assert "\n" not in message
    assert f"config.toml:{line}: {key}" in message


def test_unknown_key_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError, match=r"did you mean compute.max_concurrent_tasks"):
        validate_text("[compute]\nmax_concurent_tasks = 3\n")


def test_secret_values_are_refused_even_under_innocent_keys() -> None:
    mnemonic = " ".join(["abandon"] * 11 + ["about"])
    with pytest.raises(ConfigError, match="secrets are never kept"):
        validate_text(f"[node]\nname = '{mnemonic}'\n")


def test_profiles_set_chain_and_discovery(tmp_path: Path) -> None:
    write(tmp_path, render_default_config("arbitrum-sepolia"))
    config = load_config(tmp_path, env={})
    assert config.blockchain.chain_id == 421614
    assert config.network.discovery.method == "auto"
    assert config.blockchain.manual_rpc_urls == []
    local = load_config(tmp_path, "local", env={})
    assert local.network.mode == "local"


def test_no_hard_coded_endpoints_outside_devnet(tmp_path: Path) -> None:
    for profile in ("arbitrum-sepolia", "arbitrum-one", "local"):
        config = load_config(tmp_path, profile, env={})
        assert config.blockchain.manual_rpc_urls == []
        assert config.blockchain.registry_address == ""
        assert config.network.discovery.manual_nodes == []


def test_environment_overrides_win_and_are_validated(tmp_path: Path) -> None:
    write(tmp_path, "[network.discovery]\nmethod = 'dht'\n")
    config = load_config(tmp_path, env={"OARN_NETWORK_DISCOVERY_METHOD": "manual",
                                        "OARN_COMPUTE_ACCEPTED_MODELS": '["mlp-*"]',
                                        "OARN_COMPUTE_MAX_CONCURRENT_TASKS": "7"})
    assert config.network.discovery.method == "manual"
    assert config.compute.accepted_models == ["mlp-*"]
    assert config.compute.max_concurrent_tasks == 7
    with pytest.raises(ConfigError, match="OARN_COMPUTE_MAX_CONCURRENT_TASKS"):
        env_overrides({"OARN_COMPUTE_MAX_CONCURRENT_TASKS": "lots"})
    with pytest.raises(ConfigError, match="unknown configuration override"):
        env_overrides({"OARN_COMPUTE_MAX_CONCURENT": "1"})


def test_paths_are_relative_to_home(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    assert config.path(config.node.wallet_path) == tmp_path / "wallet.vault"
    assert config.path("/abs/file") == Path("/abs/file")


def test_set_key_keeps_comments_and_validates(tmp_path: Path) -> None:
    write(tmp_path, "# my node\n[compute]\n# how many at once\nmax_concurrent_tasks = 2\n")
    set_key(tmp_path, "compute.max_concurrent_tasks", "5")
    set_key(tmp_path, "compute.min_reward", "2.5")
    text = (tmp_path / "config.toml").read_text()
    assert "# how many at once" in text and "# my node" in text
    assert load_config(tmp_path, env={}).compute.max_concurrent_tasks == 5
    assert load_config(tmp_path, env={}).min_reward_wei == 2_500_000_000_000_000_000
    before = (tmp_path / "config.toml").read_bytes()
    with pytest.raises(ConfigError):
        set_key(tmp_path, "privacy.min_delay_ms", "5000")  # above max_delay_ms = 0
    assert (tmp_path / "config.toml").read_bytes() == before
    assert (tmp_path / "config.toml").stat().st_mode & 0o777 == 0o600


def test_diff_live_splits_live_and_restart_keys(tmp_path: Path) -> None:
    old = load_config(tmp_path, env={})
    write(tmp_path, "[compute]\nmax_concurrent_tasks = 9\n[network]\nmax_peers = 7\n")
    live, restart = diff_live(old, load_config(tmp_path, env={}))
    assert live == ["compute.max_concurrent_tasks"]
    assert restart == ["network.max_peers"]
