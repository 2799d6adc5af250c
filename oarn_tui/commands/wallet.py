"""`oarn wallet ...`: create, import, export, back up and inspect the node's keys.

The vault passphrase comes from `--password-file`, `OARN_PASSWORD_FILE`, systemd's
`$CREDENTIALS_DIRECTORY/oarn-wallet-password`, the OS keyring (when enabled) or a hidden prompt —
never from argv. Secrets never appear in `--json` output; the mnemonic is shown once on the
terminal or written to `--mnemonic-file` (0600).

The `oarn wallet` commands stay in one module (~490 lines) because they share the passphrase,
KDF-option and error handling (`_wallet_errors`, `kdf_options`, `_new_passphrase`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app

FilePath = click.Path(dir_okay=False, path_type=Path)


def _wallet_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn wallet errors into one-line `UserError`s (the messages carry no secrets)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from oarn_tui.wallet.errors import WalletError

        try:
            return func(*args, **kwargs)
        except WalletError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def _root_password_file(ctx: click.Context, _param: click.Parameter,
                        value: Path | None) -> Path | None:
    """`oarn --password-file F wallet ...` works too: fall back to the root group's option."""
    if value is not None:
        return value
    root_value = ctx.find_root().params.get("password_file")
    return Path(root_value) if root_value else None


password_file_option = click.option(
    "--password-file", type=FilePath, default=None, callback=_root_password_file,
    help="File whose first line is the vault passphrase (else OARN_PASSWORD_FILE, systemd "
         "credential oarn-wallet-password, the keyring, or a prompt).")


def kdf_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Argon2id cost options for commands that write a vault (lower bounds enforced)."""
    func = click.option("--kdf-parallelism", type=int, default=None,
                        help="Argon2id lanes (default 4, minimum 1).")(func)
    func = click.option("--kdf-memory-mib", type=int, default=None,
                        help="Argon2id memory in MiB (default 64, minimum 19).")(func)
    return click.option("--kdf-time", type=int, default=None,
                        help="Argon2id passes (default 3, minimum 2).")(func)


def _kdf(time_cost: int | None, memory_mib: int | None, parallelism: int | None) -> Any:
    from oarn_tui.wallet.vault import KdfParams

    default = KdfParams()
    return KdfParams(time_cost or default.time_cost,
                     memory_mib * 1024 if memory_mib else default.memory_kib,
                     parallelism or default.parallelism).check()


def _vault_path(app: AppContext) -> Path:
    from oarn_tui.wallet.unlock import vault_path_of

    return vault_path_of(app.config())


def _read_secret_file(path: Path) -> str:
    from oarn_tui.wallet.unlock import read_password_file

    return read_password_file(path)


def _new_passphrase(password_file: Path | None, label: str = "New vault passphrase", *,
                    use_env: bool = True, file_option: str = "--password-file") -> str:
    """A new passphrase: the given file, OARN_PASSWORD_FILE (if `use_env`), or a prompt with
    confirmation. `use_env` is off where the variable holds the *current* vault passphrase."""
    from oarn_tui.wallet.errors import PassphraseUnavailable
    from oarn_tui.wallet.operations import check_new_passphrase
    from oarn_tui.wallet.unlock import PASSWORD_FILE_ENV, prompt_passphrase, stdin_is_tty

    if password_file is None and use_env and os.environ.get(PASSWORD_FILE_ENV):
        password_file = Path(os.environ[PASSWORD_FILE_ENV])
    if password_file is not None:
        return check_new_passphrase(_read_secret_file(password_file))
    if stdin_is_tty():
        return check_new_passphrase(prompt_passphrase(label, confirm=True))
    hint = f"{file_option} or {PASSWORD_FILE_ENV}" if use_env else file_option
    raise PassphraseUnavailable(f"no {label.lower()} given: use {hint}, or run in a terminal "
                                "to be prompted")


def _refuse_existing(path: Path, what: str) -> None:
    if path.exists():
        raise UserError(f"{path} already exists; refusing to overwrite the {what} (choose "
                        "another path)")


def _kdf_given(*values: int | None) -> bool:
    return any(value is not None for value in values)


def _through_node(app: AppContext, kdf: Any, kdf_given: bool, name: str,
                  **args: Any) -> dict[str, Any]:
    """`wallet.create|import` run by the home's node: the daemon when one runs (its wallet
    service writes the vault and unlocks it at once), else an embedded runtime holding just the
    wallet service, under the home lock (issue 13). The secrets travel only as arguments."""
    import asyncio

    from oarn_tui.commands.node_access import node_for

    async def call() -> dict[str, Any]:
        async with node_for(app, "wallet", new_vault_kdf=kdf) as node:
            if node.daemon and kdf_given:
                raise UserError("the --kdf-* options do not apply while the home's daemon runs "
                                "(it writes the vault with its own Argon2id costs); drop them "
                                "or stop the daemon")
            return dict(await node.command(name, **args))

    return asyncio.run(call())


@click.group()
def wallet() -> None:
    """Manage the node's keys: Ethereum account and libp2p identity, in an encrypted vault."""


@wallet.command()
@click.option("--mnemonic-file", type=FilePath, default=None,
              help="Write the recovery phrase here (mode 0600) instead of the terminal.")
@click.option("--words", type=click.Choice(["12", "15", "18", "21", "24"]), default="24",
              show_default=True, help="Length of the recovery phrase.")
@password_file_option
@kdf_options
@json_option
@pass_app
@_wallet_errors
def create(app: AppContext, mnemonic_file: Path | None, words: str, password_file: Path | None,
           kdf_time: int | None, kdf_memory_mib: int | None, kdf_parallelism: int | None,
           as_json: bool) -> None:
    """Create a new wallet from a fresh BIP-39 recovery phrase (shown once)."""
    from oarn_tui.fsutil import atomic_write_text

    vault_path = _vault_path(app)
    _refuse_existing(vault_path, "existing wallet vault")
    if as_json and mnemonic_file is None:
        raise UserError("--json never prints the recovery phrase: add --mnemonic-file PATH")
    if mnemonic_file is not None:
        _refuse_existing(mnemonic_file, "mnemonic file")
    kdf = _kdf(kdf_time, kdf_memory_mib, kdf_parallelism)
    passphrase = _new_passphrase(password_file)
    public = _through_node(app, kdf, _kdf_given(kdf_time, kdf_memory_mib, kdf_parallelism),
                           "wallet.create", passphrase=passphrase, words=int(words))
    mnemonic = str(public.pop("mnemonic"))
    if mnemonic_file is not None:
        atomic_write_text(mnemonic_file, mnemonic + "\n", mode=0o600)
    result = {"address": public["address"], "peer_id": public["peer_id"],
              "vault": str(vault_path), "mnemonic_file": str(mnemonic_file) if mnemonic_file
              else None}
    if as_json:
        emit(result, True)
        return
    click.echo(f"address: {public['address']}")
    click.echo(f"peer ID: {public['peer_id']}")
    click.echo(f"vault:   {vault_path}")
    if mnemonic_file is not None:
        click.echo(f"Recovery phrase written to {mnemonic_file} (mode 0600). Store it offline.")
    else:
        click.echo("\nRecovery phrase — write it down now; it is shown only this once and "
                   "restores both the account and the peer ID:\n")
        click.echo("  " + mnemonic)
    del mnemonic


@wallet.command("import")
@click.option("--private-key-file", type=click.Path(dir_okay=False, allow_dash=True),
              default=None, help="File holding a hex private key ('-' reads stdin).")
@click.option("--mnemonic-file", type=FilePath, default=None,
              help="File holding a BIP-39 recovery phrase.")
@click.option("--path", "eth_path", default=None,
              help="Derivation path with --mnemonic-file (default m/44'/60'/0'/0/0).")
@click.option("--keystore", type=FilePath, default=None,
              help="Web3 Secret Storage v3 JSON (geth, MetaMask, eth-account).")
@click.option("--keystore-password-file", type=FilePath, default=None,
              help="File holding the keystore's password (else a prompt).")
@password_file_option
@kdf_options
@json_option
@pass_app
@_wallet_errors
def import_(app: AppContext, private_key_file: str | None, mnemonic_file: Path | None,
            eth_path: str | None, keystore: Path | None, keystore_password_file: Path | None,
            password_file: Path | None, kdf_time: int | None, kdf_memory_mib: int | None,
            kdf_parallelism: int | None, as_json: bool) -> None:
    """Import an existing account: exactly one of a private key, a mnemonic or a keystore."""
    from oarn_tui.wallet.unlock import prompt_passphrase, stdin_is_tty

    chosen = [name for name, value in (("--private-key-file", private_key_file),
                                       ("--mnemonic-file", mnemonic_file),
                                       ("--keystore", keystore)) if value is not None]
    if len(chosen) != 1:
        raise UserError("give exactly one of --private-key-file, --mnemonic-file or --keystore")
    if eth_path is not None and mnemonic_file is None:
        raise UserError("--path applies only to --mnemonic-file")
    if keystore_password_file is not None and keystore is None:
        raise UserError("--keystore-password-file applies only to --keystore")
    vault_path = _vault_path(app)
    _refuse_existing(vault_path, "existing wallet vault")
    kdf = _kdf(kdf_time, kdf_memory_mib, kdf_parallelism)
    if private_key_file is not None:
        key_text = _read_input(private_key_file, "private key file")
        passphrase = _new_passphrase(password_file)
        args = {"secret": key_text}
    elif mnemonic_file is not None:
        words = _read_input(str(mnemonic_file), "mnemonic file")
        passphrase = _new_passphrase(password_file)
        args = {"secret": words, "eth_path": eth_path or ""}
    else:
        assert keystore is not None
        keystore_text = _read_input(str(keystore), "keystore file")
        if keystore_password_file is not None:
            keystore_password = _read_secret_file(keystore_password_file)
        elif stdin_is_tty():
            keystore_password = prompt_passphrase("Keystore password")
        else:
            raise UserError("the keystore password is needed: add --keystore-password-file")
        passphrase = _new_passphrase(password_file)
        args = {"secret": keystore_text, "keystore_password": keystore_password}
    public = _through_node(app, kdf, _kdf_given(kdf_time, kdf_memory_mib, kdf_parallelism),
                           "wallet.import", passphrase=passphrase, **args)
    result = {"address": public["address"], "peer_id": public["peer_id"],
              "origin": public["origin"], "vault": str(vault_path)}
    emit(result, as_json, lambda r: f"imported {r['address']} (peer ID {r['peer_id']}) into "
                                    f"{r['vault']}")


def _read_input(name: str, what: str) -> str:
    if name == "-":
        import sys

        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {name} does not exist") from None
    except (OSError, UnicodeDecodeError):
        raise UserError(f"cannot read the {what} {name}") from None


@wallet.command()
@click.option("--out", type=FilePath, required=True, help="Keystore JSON to write (mode 0600).")
@click.option("--export-password-file", type=FilePath, default=None,
              help="File holding the keystore's new password (else a prompt).")
@click.option("--keystore-kdf", type=click.Choice(["scrypt", "pbkdf2"]), default="scrypt",
              show_default=True, help="KDF of the keystore (geth and MetaMask read both).")
@password_file_option
@json_option
@pass_app
@_wallet_errors
def export(app: AppContext, out: Path, export_password_file: Path | None, keystore_kdf: str,
           password_file: Path | None, as_json: bool) -> None:
    """Export the account as a Web3 Secret Storage v3 keystore for other wallets."""
    import json

    from oarn_tui.fsutil import atomic_write_text
    from oarn_tui.wallet import operations
    from oarn_tui.wallet.unlock import open_wallet, with_passphrase

    vault_path = _vault_path(app)
    _refuse_existing(out, "output file")

    def run(passphrase: str, method: str) -> dict[str, Any]:
        open_wallet(vault_path, passphrase, method).close()  # check it before asking more
        if export_password_file is not None:
            export_password = _read_secret_file(export_password_file)
        else:
            export_password = _new_passphrase(None, "Keystore password", use_env=False,
                                              file_option="--export-password-file")
        return operations.export_keystore(vault_path, passphrase, export_password,
                                          kdf="pbkdf2" if keystore_kdf == "pbkdf2" else "scrypt")

    keystore = with_passphrase(vault_path, run, password_file)
    atomic_write_text(out, json.dumps(keystore), mode=0o600)
    address = "0x" + str(keystore["address"]).removeprefix("0x")
    emit({"address": address, "out": str(out), "kdf": keystore_kdf}, as_json,
         f"wrote v3 keystore of {address} to {out} (mode 0600)")


@wallet.command()
@click.option("--out", type=FilePath, required=True, help="Where to copy the vault (mode 0600).")
@json_option
@pass_app
@_wallet_errors
def backup(app: AppContext, out: Path, as_json: bool) -> None:
    """Copy the whole encrypted vault (both keys) to --out after checking it is intact."""
    import hashlib

    from oarn_tui.fsutil import atomic_write_bytes
    from oarn_tui.wallet.vault import read_vault

    vault_path = _vault_path(app)
    vault = read_vault(vault_path)
    _refuse_existing(out, "output file")
    data = vault_path.read_bytes()
    atomic_write_bytes(out, data, mode=0o600)
    result = {"vault": str(vault_path), "out": str(out), "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest(), "address": vault.public.get("address")}
    emit(result, as_json, f"backed up {vault_path} to {out} ({len(data)} bytes, still "
                          "encrypted with the vault passphrase)")


@wallet.command()
@json_option
@pass_app
@_wallet_errors
def address(app: AppContext, as_json: bool) -> None:
    """Print the account address (read from the vault header; no passphrase needed)."""
    from oarn_tui.wallet.vault import read_vault

    vault_path = _vault_path(app)
    public = read_vault(vault_path).public
    emit({"address": public.get("address"), "peer_id": public.get("peer_id"),
          "vault": str(vault_path), "verified": False, "note": ADDRESS_NOTE}, as_json,
         str(public.get("address")))
    if not as_json:  # stdout stays the bare address for `$(oarn wallet address)`
        click.echo(f"note: {ADDRESS_NOTE}", err=True)


ADDRESS_NOTE = ("read from the vault header without the passphrase: unverified until the wallet "
                "is unlocked (an unlock refuses a vault whose header address is not its key's)")


@wallet.command()
@json_option
@pass_app
def info(app: AppContext, as_json: bool) -> None:
    """Where the keys live, the vault's KDF parameters, the keyring and how the node unlocks."""
    from oarn_tui.wallet import identity, keyring_store
    from oarn_tui.wallet.errors import VaultMissing, WalletError
    from oarn_tui.wallet.unlock import describe
    from oarn_tui.wallet.vault import read_vault

    vault_path = _vault_path(app)
    keyring_state = keyring_store.status()
    result: dict[str, Any] = {
        "vault": str(vault_path), "state": "ok", "reason": "", "format_version": None,
        "kdf": None, "address": None, "peer_id": None, "origin": None,
        "keyring": {**keyring_state.as_dict(), "stored": False},
        "unlock": {"headless": "none", "interactive": "prompt"},
        "node_key_derivation": None,
    }
    try:
        vault = read_vault(vault_path)
    except VaultMissing as exc:
        result.update(state="missing", reason=str(exc))
    except WalletError as exc:
        result.update(state="damaged", reason=str(exc))
    else:
        public = vault.public
        result.update(format_version=vault.version, address=public.get("address"),
                      peer_id=public.get("peer_id"), origin=public.get("origin"),
                      kdf={"name": "argon2id", **vault.kdf.as_dict(), "cipher": "aes-256-gcm"})
        result["node_key_derivation"] = (
            f"SLIP-0010 ed25519 {identity.NODE_KEY_PATH} of the mnemonic seed"
            if public.get("origin") in {"created", "mnemonic"} else "random, kept in the vault")
        result["keyring"]["stored"] = keyring_store.has_secret(vault_path)
        result["unlock"] = describe(vault_path)
    emit(result, as_json, _render_info)


def _render_info(info: dict[str, Any]) -> str:
    keyring_info = info["keyring"]
    detail = f"{info['state']}: {info['reason']}" if info["reason"] else info["state"]
    lines = [f"vault:    {info['vault']} ({detail})"]
    if info["address"]:
        kdf = info["kdf"]
        lines += [
            f"account:  {info['address']} (origin: {info['origin']})",
            f"peer ID:  {info['peer_id']} (node key: {info['node_key_derivation']})",
            f"cipher:   AES-256-GCM, Argon2id t={kdf['time_cost']} m={kdf['memory_kib']} KiB "
            f"p={kdf['parallelism']} (format v{info['format_version']})",
        ]
    used = "used" if keyring_info["stored"] else "not used"
    why = f" — {keyring_info['reason']}" if keyring_info["reason"] else ""
    lines.append(f"keyring:  {keyring_info['backend']} ({used}{why})")
    headless = info["unlock"]["headless"]
    if headless == "none":
        headless = ("not set up (use --password-file, OARN_PASSWORD_FILE, systemd credential "
                    "oarn-wallet-password or `oarn wallet keyring enable`)")
    lines.append(f"unlock:   headless: {headless}; interactive: {info['unlock']['interactive']}")
    return "\n".join(lines)


@wallet.command("change-passphrase")
@click.option("--new-password-file", type=FilePath, default=None,
              help="File holding the new passphrase (else a prompt with confirmation).")
@password_file_option
@kdf_options
@json_option
@pass_app
@_wallet_errors
def change_passphrase(app: AppContext, new_password_file: Path | None,
                      password_file: Path | None, kdf_time: int | None,
                      kdf_memory_mib: int | None, kdf_parallelism: int | None,
                      as_json: bool) -> None:
    """Re-encrypt the vault under a new passphrase (fresh salt and nonce)."""
    from oarn_tui.wallet import keyring_store, operations
    from oarn_tui.wallet.unlock import open_wallet, with_passphrase

    vault_path = _vault_path(app)
    use_custom_kdf = any(v is not None for v in (kdf_time, kdf_memory_mib, kdf_parallelism))
    kdf = _kdf(kdf_time, kdf_memory_mib, kdf_parallelism) if use_custom_kdf else None

    def run(passphrase: str, _method: str) -> dict[str, Any]:
        open_wallet(vault_path, passphrase, _method).close()
        if new_password_file is not None:
            new = operations.check_new_passphrase(_read_secret_file(new_password_file))
        else:
            new = _new_passphrase(None, use_env=False, file_option="--new-password-file")
        public = operations.change_passphrase(vault_path, passphrase, new, kdf)
        if keyring_store.has_secret(vault_path):
            keyring_store.store_secret(vault_path, new)
        return public

    public = with_passphrase(vault_path, run, password_file)
    emit({"address": public.get("address"), "vault": str(vault_path), "changed": True},
         as_json, f"vault passphrase changed for {public.get('address')}")


@wallet.group("keyring")
def keyring_group() -> None:
    """Keep (or forget) the vault's unlock secret in the OS keyring."""


@keyring_group.command("enable")
@password_file_option
@json_option
@pass_app
@_wallet_errors
def keyring_enable(app: AppContext, password_file: Path | None, as_json: bool) -> None:
    """Store the vault passphrase in the OS keyring so the node starts without a prompt."""
    from oarn_tui.wallet import keyring_store
    from oarn_tui.wallet.errors import KeyringUnavailable
    from oarn_tui.wallet.unlock import open_wallet, with_passphrase

    vault_path = _vault_path(app)
    state = keyring_store.status()
    if not state.usable:
        raise KeyringUnavailable(f"no usable OS keyring ({state.reason}); use --password-file, "
                                 "OARN_PASSWORD_FILE or systemd credentials instead")

    def run(passphrase: str, method: str) -> None:
        open_wallet(vault_path, passphrase, method).close()
        keyring_store.store_secret(vault_path, passphrase)

    with_passphrase(vault_path, run, password_file, use_keyring=False)
    emit({"vault": str(vault_path), "stored": True, "backend": state.backend}, as_json,
         f"the vault's unlock secret is now in {state.backend}")


@keyring_group.command("disable")
@json_option
@pass_app
@_wallet_errors
def keyring_disable(app: AppContext, as_json: bool) -> None:
    """Remove the vault's unlock secret from the OS keyring."""
    from oarn_tui.wallet import keyring_store

    vault_path = _vault_path(app)
    removed = keyring_store.delete_secret(vault_path)
    emit({"vault": str(vault_path), "removed": removed}, as_json,
         "removed the unlock secret from the keyring" if removed
         else "the keyring held no unlock secret for this vault")
