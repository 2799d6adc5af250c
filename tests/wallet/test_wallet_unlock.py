"""Passphrase sources and their order; the UnlockedWallet handed to the chain and p2p layers."""

from __future__ import annotations

from pathlib import Path

import pytest
from libp2p.peer.id import ID
from wallet_helpers import FAST_KDF, PASSPHRASE, write_secret

from oarn_tui.config import load_config
from oarn_tui.wallet import identity, operations
from oarn_tui.wallet.errors import PassphraseUnavailable, WrongPassphrase
from oarn_tui.wallet.signer import LocalSigner, Signer
from oarn_tui.wallet.unlock import (
    CREDENTIAL_NAME,
    headless_unlock_method,
    read_password_file,
    unlock_signer,
    unlock_vault_path,
)

KEY = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.vault"
    operations.import_private_key(path, PASSPHRASE, KEY, FAST_KDF)
    return path


def no_tty() -> bool:
    return False


def test_password_file_unlocks_and_wallet_exposes_identities(vault: Path,
                                                             password_file: Path) -> None:
    wallet = unlock_vault_path(vault, password_file, interactive=False, env={})
    assert wallet.unlock_method == "password-file"
    assert isinstance(wallet.signer, LocalSigner) and isinstance(wallet.signer, Signer)
    assert wallet.address == ADDRESS
    assert ID.from_pubkey(wallet.key_pair.public_key).to_base58() == wallet.peer_id
    assert len(wallet.node_private_key_bytes()) == 32
    assert identity.verify_binding(wallet.peer_id, wallet.address, wallet.binding_signature)
    assert KEY not in repr(wallet)
    wallet.close()
    assert wallet.closed
    for closed_access in (lambda: wallet.signer, lambda: wallet.key_pair,
                          wallet.node_private_key_bytes):
        with pytest.raises(PassphraseUnavailable, match="closed"):
            closed_access()


def test_env_password_file_and_systemd_credentials(vault: Path, tmp_path: Path) -> None:
    env_file = write_secret(tmp_path / "env-pass", PASSPHRASE)
    wallet = unlock_vault_path(vault, None, interactive=False,
                               env={"OARN_PASSWORD_FILE": str(env_file)})
    assert wallet.unlock_method == "password-file"
    creds = tmp_path / "creds"
    creds.mkdir()
    write_secret(creds / CREDENTIAL_NAME, PASSPHRASE)
    wallet = unlock_vault_path(vault, None, interactive=False,
                               env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert wallet.unlock_method == "credentials"
    assert headless_unlock_method(vault, env={"CREDENTIALS_DIRECTORY": str(creds)}) == \
        "credentials"


def test_explicit_file_wins_over_env_and_wrong_one_is_an_error(vault: Path,
                                                                tmp_path: Path) -> None:
    wrong = write_secret(tmp_path / "wrong", "not the passphrase")
    right = write_secret(tmp_path / "right", PASSPHRASE)
    env = {"OARN_PASSWORD_FILE": str(wrong)}
    assert unlock_vault_path(vault, right, interactive=False, env=env).address == ADDRESS
    with pytest.raises(WrongPassphrase):
        unlock_vault_path(vault, None, interactive=False, env=env)


def test_prompt_only_on_a_tty_else_clear_error(vault: Path) -> None:
    wallet = unlock_vault_path(vault, None, env={}, prompt=lambda: PASSPHRASE,
                               is_tty=lambda: True)
    assert wallet.unlock_method == "prompt"
    with pytest.raises(PassphraseUnavailable, match="--password-file"):
        unlock_vault_path(vault, None, env={}, prompt=lambda: PASSPHRASE, is_tty=no_tty)
    with pytest.raises(PassphraseUnavailable):
        unlock_vault_path(vault, None, interactive=False, env={}, prompt=lambda: PASSPHRASE,
                          is_tty=lambda: True)
    assert headless_unlock_method(vault, env={}) == "none"


def test_password_file_format_and_problems(tmp_path: Path) -> None:
    assert read_password_file(write_secret(tmp_path / "a", "pass word ")) == "pass word "
    (tmp_path / "crlf").write_bytes(b"secret-pass\r\nsecond line\n")
    (tmp_path / "crlf").chmod(0o600)
    assert read_password_file(tmp_path / "crlf") == "secret-pass"
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(PassphraseUnavailable, match="empty"):
        read_password_file(tmp_path / "empty")
    with pytest.raises(PassphraseUnavailable, match="does not exist"):
        read_password_file(tmp_path / "missing")
    with pytest.raises(PassphraseUnavailable, match="directory"):
        read_password_file(tmp_path)


def test_world_readable_password_file_is_refused_without_the_secret(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_secret(tmp_path / "open", PASSPHRASE)
    path.chmod(0o644)
    caplog.set_level("DEBUG")
    with pytest.raises(PassphraseUnavailable, match=r"chmod 600") as refused:
        read_password_file(path)
    assert PASSPHRASE not in str(refused.value) and PASSPHRASE not in caplog.text
    path.chmod(0o640)  # group-readable only: still read, with a warning
    assert read_password_file(path) == PASSPHRASE
    assert "readable by its group" in caplog.text and PASSPHRASE not in caplog.text


def test_unlock_signer_uses_the_configured_vault(tmp_path: Path, password_file: Path) -> None:
    config = load_config(tmp_path, env={})
    vault_path = config.path(config.node.wallet_path)
    operations.import_private_key(vault_path, PASSPHRASE, KEY, FAST_KDF)
    with unlock_signer(tmp_path, config, password_file, interactive=False) as wallet:
        signed = wallet.signer.sign_transaction({
            "to": ADDRESS, "value": 1, "gas": 21000, "gasPrice": 10**9, "nonce": 0,
            "chainId": 31337})
        assert signed.raw_transaction
    assert wallet.closed


def test_no_secret_in_any_formatted_exception(vault: Path, tmp_path: Path) -> None:
    """Tracebacks (with their chained context) of every failure mode carry no secret."""
    import traceback

    from wallet_helpers import ABANDON_MNEMONIC

    from oarn_tui.wallet.errors import WalletError

    # secrets live in variables so the traceback's own source lines cannot contain them
    wrong_text, keystore_secret, export_secret = "wrong pass " * 2, "ks " * 4, "ex " * 4
    wrong = write_secret(tmp_path / "wrong", wrong_text)
    bad_words = ABANDON_MNEMONIC.replace("about", "abandon")
    attempts = [
        lambda: unlock_vault_path(vault, wrong, interactive=False, env={}),
        lambda: operations.import_private_key(tmp_path / "v1", PASSPHRASE, KEY + "zz", FAST_KDF),
        lambda: operations.import_mnemonic(tmp_path / "v2", PASSPHRASE, bad_words, kdf=FAST_KDF),
        lambda: operations.import_keystore(tmp_path / "v3", PASSPHRASE, '{"version": 3}',
                                           keystore_secret, FAST_KDF),
        lambda: operations.export_keystore(vault, wrong_text, export_secret),
    ]
    for attempt in attempts:
        with pytest.raises(WalletError) as caught:
            attempt()
        text = "".join(traceback.format_exception(caught.value))
        for secret in (KEY, PASSPHRASE, wrong_text, bad_words, keystore_secret, export_secret):
            assert secret not in text, (secret, text)


def test_resolve_passphrase_verifies_before_returning(vault: Path, tmp_path: Path) -> None:
    from oarn_tui.wallet.unlock import UnlockError, resolve_passphrase

    secret, source = resolve_passphrase(vault, write_secret(tmp_path / "ok", PASSPHRASE),
                                        interactive=False, env={})
    assert (bytes(secret).decode(), source) == (PASSPHRASE, "password-file")
    with pytest.raises(UnlockError, match="wrong passphrase"):
        resolve_passphrase(vault, write_secret(tmp_path / "bad", "wrong one!"),
                           interactive=False, env={})
    with pytest.raises(UnlockError, match="no wallet vault"):
        resolve_passphrase(tmp_path / "absent.vault", interactive=False, env={})
