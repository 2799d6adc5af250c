"""A vault file or password file prepared by an attacker: every trick is refused, clearly.

The attacker can write the vault file (a shared backup, a swapped disk) but does not know the
passphrase. Their gains would be: the user sending funds to an address the attacker put in the
header, the node spending minutes of CPU and gigabytes on planted KDF parameters, or a
passphrase read from a file everyone can read. Each is asserted to be zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import click
import keyring
import pytest
from click.testing import CliRunner
from keyring.backends import fail

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.wallet import wallet
from oarn_tui.wallet import operations
from oarn_tui.wallet.errors import PassphraseUnavailable, VaultCorrupt, WrongPassphrase
from oarn_tui.wallet.unlock import open_wallet, with_passphrase
from oarn_tui.wallet.vault import (
    CHECKSUM_LEN,
    MAGIC,
    KdfParams,
    VaultPayload,
    VaultTampered,
    read_vault,
    seal,
    write_vault,
)

PASSPHRASE = "correct horse battery staple 7"
FAST_KDF = KdfParams.minimum()
VICTIM_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
VICTIM_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ATTACKER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OARN_PASSWORD_FILE", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def victim_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    operations.import_private_key(home / "wallet.vault", PASSPHRASE, VICTIM_KEY, FAST_KDF)
    return home


def rewrite_header(vault: Path, change: dict[str, object]) -> None:
    """Edit the header JSON, fix its length and recompute the SHA-256 trailer (what an
    attacker without the passphrase can do)."""
    data = vault.read_bytes()[:-CHECKSUM_LEN]
    start = len(MAGIC) + 6
    header_len = struct.unpack_from(">I", data, len(MAGIC) + 2)[0]
    header = json.loads(data[start:start + header_len])
    for dotted, value in change.items():
        node = header
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = data[:len(MAGIC)] + struct.pack(">HI", 1, len(raw)) + raw + data[start + header_len:]
    vault.write_bytes(body + hashlib.sha256(body).digest())


def wallet_cli(home: Path, *args: str) -> click.testing.Result:
    root = click.Group()
    root.add_command(wallet)
    return CliRunner().invoke(root, ["wallet", *args], obj=AppContext(home=home))


def test_tampered_header_reads_as_tampered_not_as_a_wrong_passphrase(tmp_path: Path) -> None:
    home = victim_home(tmp_path)
    vault = home / "wallet.vault"
    rewrite_header(vault, {"public.address": ATTACKER_ADDRESS})
    forged = vault.read_bytes()
    assert read_vault(vault).public["address"] == ATTACKER_ADDRESS  # the checksum is valid
    # `wallet address` cannot verify without the passphrase, and says so
    shown = wallet_cli(home, "address")
    assert shown.exit_code == 0 and "unverified until the wallet is unlocked" in shown.stderr
    assert json.loads(wallet_cli(home, "address", "--json").stdout)["verified"] is False
    # the right passphrase: the tampering is named, distinct from a wrong passphrase
    with pytest.raises(VaultTampered, match="modified after it was written"):
        open_wallet(vault, PASSPHRASE, "prompt")
    with pytest.raises(WrongPassphrase):
        open_wallet(vault, PASSPHRASE + "!", "prompt")
    password = secret_file(tmp_path / "pass", PASSPHRASE)
    export_password = secret_file(tmp_path / "export-pass", "another passphrase 9")
    refused = wallet_cli(home, "export", "--out", str(tmp_path / "k.json"), "--password-file",
                         str(password), "--export-password-file", str(export_password))
    assert refused.exit_code == 1
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "modified" in lines[0] and "wrong passphrase" not in lines[0]
    assert not (tmp_path / "k.json").exists() and vault.read_bytes() == forged


def test_header_address_not_matching_the_key_is_refused_on_every_unlock(tmp_path: Path) -> None:
    """A vault sealed with a lying header (e.g. by a tool that knew the passphrase): no
    operation that decrypts it proceeds, so nothing is signed or exported for the wrong
    address."""
    vault = tmp_path / "wallet.vault"
    payload = VaultPayload(bytearray.fromhex(VICTIM_KEY), bytearray(os.urandom(32)), False)
    write_vault(vault, seal(payload, PASSPHRASE, {"address": ATTACKER_ADDRESS}, FAST_KDF))
    original = vault.read_bytes()
    with pytest.raises(VaultTampered, match="address does not match"):
        open_wallet(vault, PASSPHRASE, "prompt")
    with pytest.raises(VaultCorrupt, match="address does not match"):
        operations.export_keystore(vault, PASSPHRASE, "another passphrase 9")
    with pytest.raises(VaultCorrupt):
        operations.change_passphrase(vault, PASSPHRASE, "another passphrase 9")
    assert vault.read_bytes() == original


@pytest.mark.parametrize("field, value", [
    ("time_cost", 64), ("time_cost", 11),
    ("memory_kib", 4 * 1024 * 1024), ("memory_kib", 1024 * 1024 + 1),
    ("parallelism", 64), ("parallelism", 17),
])
def test_planted_kdf_cost_is_refused_before_any_work(tmp_path: Path, field: str,
                                                     value: int) -> None:
    vault = victim_home(tmp_path) / "wallet.vault"
    rewrite_header(vault, {f"kdf.{field}": value})
    started = time.monotonic()
    with pytest.raises(VaultCorrupt, match="above the accepted maximum") as refused:
        open_wallet(vault, PASSPHRASE, "prompt")
    assert time.monotonic() - started < 1.0  # refused on read, Argon2id never ran
    assert "at most t=10, m=1 GiB, p=16" in str(refused.value)


def test_kdf_maxima_themselves_are_accepted() -> None:
    assert KdfParams(10, 1024 * 1024, 16).check()


@pytest.mark.parametrize("source", ["--password-file", "OARN_PASSWORD_FILE",
                                    "CREDENTIALS_DIRECTORY"])
@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666])
def test_password_file_others_can_read_is_refused_from_every_source(
        tmp_path: Path, source: str, mode: int) -> None:
    vault = victim_home(tmp_path) / "wallet.vault"
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    name = "oarn-wallet-password" if source == "CREDENTIALS_DIRECTORY" else "pass"
    folder = credentials if source == "CREDENTIALS_DIRECTORY" else tmp_path
    password = secret_file(folder / name, PASSPHRASE, mode)
    env = {"OARN_PASSWORD_FILE": str(password)} if source == "OARN_PASSWORD_FILE" else (
        {"CREDENTIALS_DIRECTORY": str(credentials)} if source == "CREDENTIALS_DIRECTORY"
        else {})
    used: list[str] = []
    with pytest.raises(PassphraseUnavailable, match=f"chmod 600 {password}") as refused:
        with_passphrase(vault, lambda secret, method: used.append(secret),
                        password if source == "--password-file" else None,
                        interactive=False, use_keyring=False, env=env)
    assert used == [] and PASSPHRASE not in str(refused.value)
    password.chmod(0o600)  # the fix the message names works
    with_passphrase(vault, lambda secret, method: used.append(method),
                    password if source == "--password-file" else None,
                    interactive=False, use_keyring=False, env=env)
    assert used == ["credentials" if source == "CREDENTIALS_DIRECTORY" else "password-file"]


def test_cli_refuses_a_world_readable_password_file_in_one_line(tmp_path: Path) -> None:
    home = victim_home(tmp_path)
    password = secret_file(tmp_path / "pass", PASSPHRASE, 0o644)
    export_password = secret_file(tmp_path / "export-pass", "another passphrase 9")
    result = wallet_cli(home, "export", "--out", str(tmp_path / "k.json"), "--password-file",
                        str(password), "--export-password-file", str(export_password))
    assert result.exit_code == 1 and "chmod 600" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert PASSPHRASE not in result.output and not (tmp_path / "k.json").exists()
