"""`oarn wallet ...` through click's CliRunner, on real files in a temporary home."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from eth_account import Account
from wallet_helpers import ABANDON_MNEMONIC, FAST_KDF_ARGS, PASSPHRASE, MemoryKeyring, write_secret

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.wallet import wallet
from oarn_tui.wallet.vault import read_vault

KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
ADDRESS = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # hardhat account 3
ABANDON_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def run(home: Path, *args: str, input: str | None = None) -> Result:
    root = click.Group()
    root.add_command(wallet)
    return CliRunner().invoke(root, ["wallet", *args], obj=AppContext(home=home), input=input)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def secrets_absent(text: str, *secrets: str) -> None:
    lowered = text.lower()
    for secret in secrets:
        assert secret.lower() not in lowered
        assert secret.lower().removeprefix("0x") not in lowered


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def import_key(home: Path, password_file: Path) -> None:
    key_file = write_secret(home.parent / "key.txt", KEY)
    ok(run(home, "import", "--private-key-file", str(key_file), "--password-file",
           str(password_file), *FAST_KDF_ARGS))


def test_create_json_writes_mnemonic_file_only(home: Path, password_file: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mnemonic_file = home.parent / "phrase.txt"
    result = ok(run(home, "create", "--json", "--mnemonic-file", str(mnemonic_file),
                    "--password-file", str(password_file), *FAST_KDF_ARGS))
    doc = json.loads(result.output)
    assert set(doc) == {"address", "peer_id", "vault", "mnemonic_file"}
    assert mnemonic_file.stat().st_mode & 0o777 == 0o600
    words = mnemonic_file.read_text().strip()
    assert len(words.split()) == 24
    secrets_absent(result.output + caplog.text, words, PASSPHRASE)
    for word in set(words.split()):  # not even single words of the phrase leak
        assert f" {word} " not in f" {result.output} "
    # restoring the phrase elsewhere gives the same account *and* the same peer ID
    other = home.parent / "other"
    other.mkdir()
    restored = json.loads(ok(run(other, "import", "--mnemonic-file", str(mnemonic_file),
                                 "--password-file", str(password_file), "--json",
                                 *FAST_KDF_ARGS)).output)
    assert (restored["address"], restored["peer_id"]) == (doc["address"], doc["peer_id"])


def test_create_shows_mnemonic_once_and_refuses_to_overwrite(home: Path,
                                                             password_file: Path) -> None:
    result = ok(run(home, "create", "--words", "12", "--password-file", str(password_file),
                    *FAST_KDF_ARGS))
    assert "Recovery phrase" in result.output
    assert "address: 0x" in result.output
    vault = home / "wallet.vault"
    before = vault.read_bytes()
    again = run(home, "create", "--password-file", str(password_file), *FAST_KDF_ARGS)
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert vault.read_bytes() == before


def test_create_json_without_mnemonic_file_is_refused(home: Path, password_file: Path) -> None:
    result = run(home, "create", "--json", "--password-file", str(password_file))
    assert result.exit_code == 1 and "--mnemonic-file" in result.output
    assert not (home / "wallet.vault").exists()


def test_import_mnemonic_known_vector_and_path(home: Path, password_file: Path) -> None:
    phrase = write_secret(home.parent / "phrase", ABANDON_MNEMONIC)
    doc = json.loads(ok(run(home, "import", "--mnemonic-file", str(phrase), "--json",
                            "--password-file", str(password_file), *FAST_KDF_ARGS)).output)
    assert doc["address"] == ABANDON_ADDRESS
    assert doc["peer_id"] == "12D3KooWLqthFdZ64S2zrhFkiA9ErDwz97dqP987W5bTPbbNH6Wr"
    second = home.parent / "second"
    second.mkdir()
    doc = json.loads(ok(run(second, "import", "--mnemonic-file", str(phrase), "--path",
                            "m/44'/60'/0'/0/1", "--json", "--password-file", str(password_file),
                            *FAST_KDF_ARGS)).output)
    assert doc["address"] == "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"


def test_import_private_key_from_stdin_and_exactly_one_source(home: Path,
                                                              password_file: Path) -> None:
    result = ok(run(home, "import", "--private-key-file", "-", "--password-file",
                    str(password_file), "--json", *FAST_KDF_ARGS, input=KEY + "\n"))
    assert json.loads(result.output)["address"] == ADDRESS
    secrets_absent(result.output, KEY)
    both = run(home.parent, "import", "--private-key-file", "-", "--mnemonic-file", "x")
    assert both.exit_code == 1 and "exactly one" in both.output
    none = run(home.parent, "import")
    assert none.exit_code == 1 and "exactly one" in none.output


def test_bad_private_key_is_not_echoed(home: Path, password_file: Path) -> None:
    bad = KEY[:-1] + "g"
    result = run(home, "import", "--private-key-file", "-", "--password-file",
                 str(password_file), input=bad)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error:")
    secrets_absent(result.output, KEY[:-1])


def test_keystore_import_export_round_trip(home: Path, password_file: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keystore_password = "keystore pass 1"
    foreign = Account.encrypt(KEY, keystore_password, kdf="pbkdf2", iterations=2048)
    keystore_file = home.parent / "UTC--foreign.json"
    keystore_file.write_text(json.dumps(foreign))
    ks_pass = write_secret(home.parent / "ks-pass", keystore_password)
    wrong_pass = write_secret(home.parent / "ks-wrong", "wrong keystore pass")
    bad = run(home, "import", "--keystore", str(keystore_file), "--keystore-password-file",
              str(wrong_pass), "--password-file", str(password_file), *FAST_KDF_ARGS)
    assert bad.exit_code == 1 and "wrong password for the keystore" in bad.output
    assert not (home / "wallet.vault").exists()
    doc = json.loads(ok(run(home, "import", "--keystore", str(keystore_file),
                            "--keystore-password-file", str(ks_pass), "--password-file",
                            str(password_file), "--json", *FAST_KDF_ARGS)).output)
    assert doc["address"] == ADDRESS and doc["origin"] == "keystore"

    out = home.parent / "exported.json"
    export_pass = write_secret(home.parent / "export-pass", "export pass 2")
    result = ok(run(home, "export", "--out", str(out), "--export-password-file",
                    str(export_pass), "--keystore-kdf", "pbkdf2", "--password-file",
                    str(password_file), "--json"))
    assert out.stat().st_mode & 0o777 == 0o600
    exported = json.loads(out.read_text())
    assert exported["version"] == 3
    assert Account.decrypt(exported, "export pass 2").hex() == KEY.removeprefix("0x")
    assert json.loads(result.output)["address"].lower() == ADDRESS.lower()
    secrets_absent(result.output + caplog.text, KEY, PASSPHRASE, keystore_password,
                   "export pass 2")
    again = run(home, "export", "--out", str(out), "--export-password-file", str(export_pass),
                "--password-file", str(password_file))
    assert again.exit_code == 1 and "already exists" in again.output


def test_wrong_passphrase_is_one_line_and_nonzero(home: Path, password_file: Path) -> None:
    import_key(home, password_file)
    wrong = write_secret(home.parent / "wrong", "definitely wrong")
    result = run(home, "change-passphrase", "--password-file", str(wrong),
                 "--new-password-file", str(password_file))
    assert result.exit_code == 1
    assert result.output == "error: wrong passphrase for the wallet vault\n"
    result = run(home, "export", "--out", str(home.parent / "x.json"), "--password-file",
                 str(wrong), "--export-password-file", str(password_file))
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert not (home.parent / "x.json").exists()
    secrets_absent(result.output, "definitely wrong", PASSPHRASE)


def test_tampered_vault_is_refused_and_not_overwritten(home: Path, password_file: Path) -> None:
    import_key(home, password_file)
    vault = home / "wallet.vault"
    data = bytearray(vault.read_bytes())
    for offset in (len(data) // 3, len(data) // 2, len(data) - 40):
        tampered = bytearray(data)
        tampered[offset] ^= 0x80
        vault.write_bytes(bytes(tampered))
        new_pass = write_secret(home.parent / "new", "new passphrase 3")
        for args in (["change-passphrase", "--password-file", str(password_file),
                      "--new-password-file", str(new_pass)],
                     ["address"],
                     ["backup", "--out", str(home.parent / f"b{offset}")],
                     ["export", "--out", str(home.parent / f"k{offset}"), "--password-file",
                      str(password_file), "--export-password-file", str(new_pass)],
                     ["address", "--json"]):
            result = run(home, *args)
            assert result.exit_code == 1, args
            assert "damaged or was modified" in result.output
            assert result.output.count("\n") == 1
        assert vault.read_bytes() == bytes(tampered)
        assert not (home.parent / f"b{offset}").exists()
        assert not (home.parent / f"k{offset}").exists()
        info = json.loads(ok(run(home, "info", "--json")).output)
        assert info["state"] == "damaged"


def test_backup_address_info_change_passphrase(home: Path, password_file: Path) -> None:
    missing = json.loads(ok(run(home, "info", "--json")).output)
    assert missing["state"] == "missing" and missing["keyring"]["usable"] is False
    import_key(home, password_file)
    plain = ok(run(home, "address"))
    assert plain.stdout.strip() == ADDRESS and "unverified until" in plain.stderr
    address_doc = json.loads(ok(run(home, "address", "--json")).output)
    assert address_doc["address"] == ADDRESS and address_doc["peer_id"].startswith("12D3KooW")
    assert address_doc["verified"] is False

    out = home.parent / "backup.vault"
    backup_doc = json.loads(ok(run(home, "backup", "--out", str(out), "--json")).output)
    assert out.read_bytes() == (home / "wallet.vault").read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600 and backup_doc["address"] == ADDRESS

    info = json.loads(ok(run(home, "info", "--json")).output)
    assert info["state"] == "ok" and info["address"] == ADDRESS
    assert info["kdf"]["time_cost"] == 2 and info["kdf"]["memory_kib"] == 19 * 1024
    assert info["unlock"] == {"headless": "none", "interactive": "prompt"}
    assert info["node_key_derivation"] == "random, kept in the vault"
    human = ok(run(home, "info")).output
    assert "Argon2id t=2" in human and "keyring:" in human

    new_pass = write_secret(home.parent / "new-pass", "new passphrase 4")
    ok(run(home, "change-passphrase", "--password-file", str(password_file),
           "--new-password-file", str(new_pass), "--json"))
    assert read_vault(home / "wallet.vault").kdf.time_cost == 2  # kept unless asked
    old = run(home, "export", "--out", str(home.parent / "k.json"), "--password-file",
              str(password_file), "--export-password-file", str(new_pass))
    assert old.exit_code == 1 and "wrong passphrase" in old.output
    # the backup still opens with the old passphrase
    assert read_vault(out).public["address"] == ADDRESS


def test_env_password_file_and_weak_kdf_option(home: Path, password_file: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OARN_PASSWORD_FILE", str(password_file))
    weak = run(home, "import", "--private-key-file", "-", "--kdf-time", "1", input=KEY)
    assert weak.exit_code == 1 and "below the minimum" in weak.output
    ok(run(home, "import", "--private-key-file", "-", *FAST_KDF_ARGS, input=KEY))
    info = json.loads(ok(run(home, "info", "--json")).output)
    assert info["unlock"]["headless"] == "password-file"


def test_no_passphrase_source_headless_is_a_clear_error(home: Path) -> None:
    result = run(home, "import", "--private-key-file", "-", *FAST_KDF_ARGS, input=KEY)
    assert result.exit_code == 1 and "--password-file" in result.output
    assert not (home / "wallet.vault").exists()


def test_keyring_enable_disable(home: Path, password_file: Path,
                                caplog: pytest.LogCaptureFixture) -> None:
    import_key(home, password_file)
    absent = run(home, "keyring", "enable", "--password-file", str(password_file))
    assert absent.exit_code == 1 and "no usable OS keyring" in absent.output
    import keyring

    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    caplog.set_level(logging.DEBUG)
    result = ok(run(home, "keyring", "enable", "--password-file", str(password_file), "--json"))
    assert json.loads(result.output)["stored"] is True
    assert list(backend.entries.values()) == [PASSPHRASE]
    info = json.loads(ok(run(home, "info", "--json")).output)
    assert info["keyring"]["stored"] is True and info["unlock"]["headless"] == "keyring"
    # change-passphrase through the keyring keeps the entry in step
    new_pass = write_secret(home.parent / "new-pass", "rotated passphrase 5")
    ok(run(home, "change-passphrase", "--new-password-file", str(new_pass)))
    assert list(backend.entries.values()) == ["rotated passphrase 5"]
    secrets_absent(result.output + caplog.text + json.dumps(info), PASSPHRASE,
                   "rotated passphrase 5")
    assert json.loads(ok(run(home, "keyring", "disable", "--json")).output)["removed"] is True
    assert backend.entries == {}


def test_env_password_is_never_taken_as_a_new_or_export_password(
        home: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_key(home, password_file)
    monkeypatch.setenv("OARN_PASSWORD_FILE", str(password_file))
    before = (home / "wallet.vault").read_bytes()
    result = run(home, "change-passphrase")
    assert result.exit_code == 1 and "--new-password-file" in result.output
    assert (home / "wallet.vault").read_bytes() == before
    result = run(home, "export", "--out", str(home.parent / "k.json"))
    assert result.exit_code == 1 and "--export-password-file" in result.output
    assert not (home.parent / "k.json").exists()


def test_interactive_prompts_on_a_terminal(home: Path, password_file: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With a terminal (CliRunner feeds the keystrokes) passphrases are prompted, hidden."""
    import oarn_tui.wallet.unlock as unlock_module

    monkeypatch.setattr(unlock_module, "stdin_is_tty", lambda: True)
    mismatch = run(home, "import", "--mnemonic-file",
                   str(write_secret(home.parent / "phrase", ABANDON_MNEMONIC)), *FAST_KDF_ARGS,
                   input=f"{PASSPHRASE}\nsomething else\n{PASSPHRASE}\n{PASSPHRASE}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output.lower()
    assert PASSPHRASE not in mismatch.output  # hidden input is not echoed
    out = home.parent / "prompted.json"
    result = run(home, "export", "--out", str(out), "--keystore-kdf", "pbkdf2",
                 input=f"{PASSPHRASE}\nexport pass 6\nexport pass 6\n")
    assert result.exit_code == 0, result.output
    assert Account.decrypt(json.loads(out.read_text()), "export pass 6").hex() != ""
    wrong = run(home, "export", "--out", str(home.parent / "w.json"), input="nope nope\n")
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output


def test_root_password_file_option_is_honoured(home: Path, password_file: Path) -> None:
    """`oarn --password-file F wallet ...`: the root group's option reaches the subcommand."""

    @click.group()
    @click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path))
    def root(password_file: Path | None) -> None:
        """A root group shaped like `oarn`'s."""

    root.add_command(wallet)
    result = CliRunner().invoke(root, ["--password-file", str(password_file), "wallet",
                                       "import", "--private-key-file", "-", "--json",
                                       *FAST_KDF_ARGS],
                                obj=AppContext(home=home), input=KEY)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["address"] == ADDRESS
