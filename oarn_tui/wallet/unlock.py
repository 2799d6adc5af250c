"""Unlock the vault headless or interactively, and hand out the unlocked identities.

Entry point for other layers (chain client, p2p, runtime)::

    unlock_signer(home: Path, config: NodeConfig, password_file: Path | None = None, *,
                  interactive: bool = True) -> UnlockedWallet

`UnlockedWallet` has `.signer` (a `LocalSigner`), `.address`, `.peer_id`, `.key_pair` (the libp2p
Ed25519 `KeyPair` for `libp2p.new_host(key_pair=...)`), `.node_private_key_bytes()` (32-byte
Ed25519 seed), `.binding_signature` (65-byte EIP-191 signature of the account↔peer binding,
check it with `identity.verify_binding`), `.unlock_method` and `close()`, which drops and
overwrites the key material (afterwards `.signer`, `.key_pair` and `node_private_key_bytes()`
raise `PassphraseUnavailable`). It is also a context manager. Errors are `WalletError`
subclasses (`oarn_tui.wallet.errors`) whose `str()` is a one-line message without secrets:
`VaultMissing`, `VaultCorrupt`, `WrongPassphrase`, `PassphraseUnavailable`.

Passphrase sources, first match wins:
  1. `password_file` (the `--password-file PATH` option)            → unlock "password-file"
  2. the `OARN_PASSWORD_FILE` environment variable (a path)          → "password-file"
  3. systemd credentials: `$CREDENTIALS_DIRECTORY/oarn-wallet-password`
     (`LoadCredential=oarn-wallet-password:/etc/oarn/pass` in the unit) → "credentials"
  4. the OS keyring entry (service "oarn", username = vault path)    → "keyring"
  5. an interactive prompt, if `interactive` and stdin is a TTY       → "prompt"
otherwise `PassphraseUnavailable`, a one-line error that lists these options. A password file
holds the passphrase on its first line (one trailing newline is ignored). A wrong passphrase
from an explicit source is an error; a stale keyring entry falls through to the prompt.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oarn_tui.wallet import identity, keyring_store
from oarn_tui.wallet.errors import (
    PassphraseUnavailable,
    VaultCorrupt,
    WalletError,
    WrongPassphrase,
)
from oarn_tui.wallet.signer import LocalSigner
from oarn_tui.wallet.vault import Secret, VaultPayload, open_sealed, read_vault

if TYPE_CHECKING:
    from libp2p.crypto.keys import KeyPair

    from oarn_tui.config import NodeConfig

CREDENTIAL_NAME = "oarn-wallet-password"
PASSWORD_FILE_ENV = "OARN_PASSWORD_FILE"
UNLOCK_METHODS = ("password-file", "credentials", "keyring", "prompt", "none")
MAX_PASSWORD_FILE_BYTES = 4096

log = logging.getLogger(__name__)
T = TypeVar("T")
UnlockError = WalletError  # what callers catch: every unlock failure, one line, no secrets


class UnlockedWallet:
    """Both identities in memory after unlock; `close()` drops them."""

    def __init__(self, payload: VaultPayload, unlock_method: str, vault_path: Path) -> None:
        self.vault_path = vault_path
        self.unlock_method = unlock_method
        self.from_mnemonic = payload.from_mnemonic
        self._signer: LocalSigner | None = LocalSigner.from_key(bytes(payload.eth_private_key))
        self._node_seed = bytearray(payload.node_seed)
        self._key_pair: KeyPair | None = identity.node_key_pair(self._node_seed)
        self.address = self._signer.address
        self.peer_id = identity.peer_id_of(self._node_seed)
        self.binding_signature = identity.sign_binding(self._signer, self.peer_id)

    @property
    def closed(self) -> bool:
        return self._signer is None

    def _check_open(self) -> None:
        if self._signer is None:
            raise PassphraseUnavailable("the wallet was closed; unlock it again")

    @property
    def signer(self) -> LocalSigner:
        """The account's signer (raises `PassphraseUnavailable` after `close()`)."""
        self._check_open()
        assert self._signer is not None
        return self._signer

    @property
    def key_pair(self) -> KeyPair:
        """The libp2p Ed25519 KeyPair (raises `PassphraseUnavailable` after `close()`)."""
        self._check_open()
        assert self._key_pair is not None
        return self._key_pair

    def node_private_key_bytes(self) -> bytes:
        """The 32-byte Ed25519 seed of the libp2p identity (for the p2p layer only)."""
        self._check_open()
        return bytes(self._node_seed)

    def close(self) -> None:
        self._node_seed[:] = bytes(len(self._node_seed))
        self._signer = None
        self._key_pair = None

    def __enter__(self) -> UnlockedWallet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UnlockedWallet({self.address}, peer={self.peer_id}, closed={self.closed})"


def open_wallet(vault_path: Path, passphrase: Secret, unlock_method: str) -> UnlockedWallet:
    """Decrypt the vault with `passphrase` and build an `UnlockedWallet` (a `bytearray`
    passphrase is read in place, never copied into an immutable object: the caller zeroes it)."""
    vault = read_vault(vault_path)
    try:
        payload = open_sealed(vault, passphrase)  # also checks the header against the keys
    except VaultCorrupt as exc:
        raise type(exc)(f"{vault_path}: {exc}") from None
    try:
        return UnlockedWallet(payload, unlock_method, Path(vault_path))
    finally:
        payload.wipe()


def read_password_file(path: Path) -> str:
    """The passphrase in `path` (first line). Refuses a file other users can read or write
    (`chmod 600 FILE`), warns when only its group can; the mode is checked on the open file,
    so it cannot be swapped between the check and the read. Every passphrase file goes through
    here: --password-file, OARN_PASSWORD_FILE, $CREDENTIALS_DIRECTORY and the new-, export- and
    keystore-password files."""
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PassphraseUnavailable(f"password file {path} does not exist") from None
    except PermissionError:
        raise PassphraseUnavailable(f"password file {path} is not readable") from None
    except OSError as exc:
        raise PassphraseUnavailable(f"password file {path} cannot be opened: "
                                    f"{exc.strerror}") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise PassphraseUnavailable(f"password file {path} is a directory")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o007:
            raise PassphraseUnavailable(
                f"password file {path} is open to other users (mode {mode:04o}); refusing to "
                f"use it — run `chmod 600 {path}` (and choose a new passphrase if others may "
                "have read it)")
        if mode & 0o070:
            log.warning("password file %s is readable by its group; chmod 600 it", path)
        if info.st_size > MAX_PASSWORD_FILE_BYTES:
            raise PassphraseUnavailable(f"password file {path} is too large to be a passphrase")
        data = handle.read(MAX_PASSWORD_FILE_BYTES + 1)
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise PassphraseUnavailable(f"password file {path} is too large to be a passphrase")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PassphraseUnavailable(f"password file {path} is not UTF-8 text") from None
    passphrase = text.split("\n", 1)[0].removesuffix("\r")
    if not passphrase:
        raise PassphraseUnavailable(f"password file {path} is empty")
    return passphrase


def credentials_file(env: Mapping[str, str]) -> Path | None:
    """systemd's `$CREDENTIALS_DIRECTORY/oarn-wallet-password`, when it exists."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    candidate = Path(directory) / CREDENTIAL_NAME
    return candidate if candidate.is_file() else None


def file_source(password_file: Path | None, env: Mapping[str, str]) -> tuple[Path, str] | None:
    """The first file-based passphrase source that is configured, with its unlock label."""
    if password_file is not None:
        return Path(password_file), "password-file"
    if env.get(PASSWORD_FILE_ENV):
        return Path(env[PASSWORD_FILE_ENV]), "password-file"
    found = credentials_file(env)
    return (found, "credentials") if found else None


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def prompt_passphrase(label: str = "Wallet passphrase", *, confirm: bool = False) -> str:
    import click

    return str(click.prompt(label, hide_input=True, confirmation_prompt=confirm))


def with_passphrase(vault_path: Path, action: Callable[[str, str], T],
                    password_file: Path | None = None, *, interactive: bool = True,
                    use_keyring: bool = True, env: Mapping[str, str] | None = None,
                    prompt: Callable[[], str] | None = None,
                    is_tty: Callable[[], bool] | None = None) -> T:
    """Run `action(passphrase, unlock_method)` with the first available passphrase source.

    A stale keyring entry (`WrongPassphrase`) falls through to the prompt; a wrong passphrase
    from a file or the prompt propagates.
    """
    env = os.environ if env is None else env
    read_vault(vault_path)  # missing or damaged: say so before asking for anything
    source = file_source(password_file, env)
    if source is not None:
        path, method = source
        return action(read_password_file(path), method)
    if use_keyring:
        secret = keyring_store.load_secret(vault_path)
        if secret is not None:
            try:
                return action(secret, "keyring")
            except WrongPassphrase:
                log.warning("the keyring entry for %s no longer opens the vault; run "
                            "`oarn wallet keyring enable` again", vault_path)
    if interactive and (is_tty or stdin_is_tty)():
        return action((prompt or prompt_passphrase)(), "prompt")
    raise PassphraseUnavailable(
        "the wallet is locked and no passphrase source is available: use --password-file, "
        f"{PASSWORD_FILE_ENV}, systemd credential {CREDENTIAL_NAME}, `oarn wallet keyring "
        "enable`, or run interactively")


def unlock_vault_path(vault_path: Path, password_file: Path | None = None, *,
                      interactive: bool = True, use_keyring: bool = True,
                      env: Mapping[str, str] | None = None,
                      prompt: Callable[[], str] | None = None,
                      is_tty: Callable[[], bool] | None = None) -> UnlockedWallet:
    """Unlock the vault at `vault_path` from the first available passphrase source."""
    return with_passphrase(vault_path, lambda secret, method: open_wallet(vault_path, secret,
                                                                          method),
                           password_file, interactive=interactive, use_keyring=use_keyring,
                           env=env, prompt=prompt, is_tty=is_tty)


def resolve_passphrase(vault_path: Path, password_file: Path | None = None, *,
                       interactive: bool = True, use_keyring: bool = True,
                       env: Mapping[str, str] | None = None,
                       prompt: Callable[[], str] | None = None,
                       is_tty: Callable[[], bool] | None = None) -> tuple[bytearray, str]:
    """The verified passphrase (UTF-8 in a bytearray the caller zeroes) and its source label.

    For `oarn start`, which unlocks before forking: the passphrase is checked against the vault
    here, so a wrong one fails at once with a one-line `UnlockError` instead of a locked daemon.
    """

    def verify(secret: str, method: str) -> tuple[bytearray, str]:
        open_wallet(vault_path, secret, method).close()
        return bytearray(secret.encode("utf-8")), method

    return with_passphrase(vault_path, verify, password_file, interactive=interactive,
                           use_keyring=use_keyring, env=env, prompt=prompt, is_tty=is_tty)


def vault_path_of(config: NodeConfig) -> Path:
    return config.path(config.node.wallet_path)


def unlock_signer(home: Path, config: NodeConfig, password_file: Path | None = None, *,
                  interactive: bool = True) -> UnlockedWallet:
    """Unlock the wallet of `home` (see the module docstring for the passphrase order)."""
    del home  # the vault path comes from the config, which already knows its home
    return unlock_vault_path(vault_path_of(config), password_file, interactive=interactive)


def headless_unlock_method(vault_path: Path, password_file: Path | None = None,
                           env: Mapping[str, str] | None = None) -> str:
    """How a daemon would unlock right now without a prompt (`"none"` if it cannot)."""
    env = os.environ if env is None else env
    source = file_source(password_file, env)
    if source is not None:
        return source[1]
    if keyring_store.has_secret(vault_path):
        return "keyring"
    return "none"


def describe(vault_path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Where the unlock secret would come from, for `wallet info` and `status`."""
    method = headless_unlock_method(vault_path, None, env)
    return {"headless": method, "interactive": method if method != "none" else "prompt"}
