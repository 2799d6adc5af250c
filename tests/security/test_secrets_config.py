"""config.toml (and `OARN_*` overrides) refuse secrets in every shape a person pastes them.

Each refusal is a one-line `ConfigError` that never repeats the secret; ordinary values that
merely look long (peer IDs, CIDs, addresses, plain URLs) stay accepted.
"""

from __future__ import annotations

import pytest

from oarn_tui.config import ConfigError, env_overrides, validate_text

MNEMONIC = ("abandon ability able about above absent absorb abstract absurd abuse access "
            "accident")
HEX_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
OPENAI_KEY = "sk-" + "proj-Q9x8W7v6U5t4S3r2P1o0N9m8L7k6"
RANDOM_TOKEN = "q8Zr2LwX0vB7nT4kP1sY6dJ3hF9cM5aE"

SECRET_FILES = {
    "title-case mnemonic": f"[node]\nname = '{MNEMONIC.title()}'\n",
    "comma-separated mnemonic": f"[node]\nname = '{', '.join(MNEMONIC.split())}'\n",
    "upper-case mnemonic in a list": f"[compute]\naccepted_models = ['{MNEMONIC.upper()}']\n",
    "key: hex in a value": f"[node]\nname = 'key: {HEX_KEY}'\n",
    "0x hex key": f"[network.discovery]\nens_name = '0x{HEX_KEY}'\n",
    "hex key under an unknown key": f"[wallet]\nkey = '{HEX_KEY}'\n",
    "github token": f"[node]\nname = '{GH_TOKEN}'\n",
    "openai-style key": f"[storage]\nkubo_api_url = '{OPENAI_KEY}'\n",
    "token under a secret name": f"[storage]\ntoken = '{RANDOM_TOKEN}'\n",
    "apikey name": f"[compute]\napikey = '{RANDOM_TOKEN}'\n",
    "api_key name": f"[compute]\nollama_api_key = '{RANDOM_TOKEN}'\n",
    "secret name": f"[blockchain]\nclient_secret = '{RANDOM_TOKEN}'\n",
    "bearer name": f"[compute]\nbearer = '{RANDOM_TOKEN}'\n",
    "bearer header in a value": f"[node]\nname = 'Bearer {RANDOM_TOKEN}'\n",
    "token= in a value": f"[node]\nname = 'token={RANDOM_TOKEN}'\n",
    "user:pass@ in an RPC URL":
        "[blockchain]\nmanual_rpc_urls = ['https://alice:hunter22@rpc.example.org/v1']\n",
    "user:pass@ in the kubo URL": "[storage]\nkubo_api_url = 'http://admin:pw1234@127.0.0.1:5001'\n",
    "apikey in a URL query":
        f"[compute]\nollama_url = 'http://127.0.0.1:11434/?apikey={RANDOM_TOKEN}'\n",
    "secret in an inline table": f"[node]\nname = {{ token = '{RANDOM_TOKEN}' }}\n",
}


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
def test_secret_is_refused_in_one_line_without_echoing_it(name: str) -> None:
    text = SECRET_FILES[name]
    with pytest.raises(ConfigError, match=r"secrets are never kept in config\.toml") as refused:
        validate_text(text)
    message = str(refused.value)
    assert "\n" not in message
    for secret in (HEX_KEY, GH_TOKEN, OPENAI_KEY, RANDOM_TOKEN, "hunter22", "pw1234",
                   "abandon", "Abandon", "ABANDON"):
        assert secret not in message


@pytest.mark.parametrize("variable, value", [
    ("OARN_NODE_NAME", f"'{MNEMONIC.title()}'"),
    ("OARN_NODE_NAME", GH_TOKEN),
    ("OARN_BLOCKCHAIN_MANUAL_RPC_URLS", '["https://bob:s3cretpass@rpc.example.org"]'),
])
def test_secret_in_an_environment_override_is_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match="secrets are never kept"):
        env_overrides({variable: value})


BENIGN = [
    "[node]\nname = 'worker-7 in rack 3'\n",
    "[network.discovery]\nmanual_nodes = ['/ip4/10.0.0.5/tcp/4001/p2p/"
    "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo']\n",
    "[compute]\naccepted_models = ['bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',"
    " 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', 'resnet-*']\n",
    "[compute]\naccepted_models = ['f01551220" + "ab" * 32 + "']\n",  # a base16 CID
    "[blockchain]\nregistry_address = '0x5FbDB2315678afecb367f032d93F642f64180aa3'\n",
    "[blockchain]\nmanual_rpc_urls = ['https://arb1.arbitrum.io/rpc', 'http://127.0.0.1:8545']\n",
    "[storage]\nkubo_api_url = 'http://127.0.0.1:5001'\nbackend = 'kubo'\n",
    "[compute]\nollama_url = 'http://127.0.0.1:11434/?model=llama3'\n",
    "[blockchain]\nens_name = 'registry.oarn.eth'\n",
]


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_values_are_not_mistaken_for_secrets(text: str) -> None:
    validate_text(text)
