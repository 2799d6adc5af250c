"""Vault life cycle: create, import (private key, mnemonic, v3 keystore), export, re-encrypt.

Each function takes the passphrase(s) as arguments (the command layer gets them from files,
the keyring or a prompt) and leaves at most one new file, written atomically with mode 0600.
Key buffers are wiped before returning; errors never include the key material.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from oarn_tui.wallet import identity
from oarn_tui.wallet.errors import InvalidKeyMaterial, VaultCorrupt, VaultExists, WalletError
from oarn_tui.wallet.vault import (
    KdfParams,
    VaultPayload,
    open_sealed,
    read_vault,
    seal,
    write_vault,
)

MIN_PASSPHRASE_LEN = 8


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise WalletError(f"the vault passphrase must have at least {MIN_PASSPHRASE_LEN} "
                          "characters")
    return passphrase


def _public(payload: VaultPayload, origin: str) -> dict[str, Any]:
    return {
        "address": identity.address_of(payload.eth_private_key),
        "peer_id": identity.peer_id_of(payload.node_seed),
        "origin": origin,
        "created_at": int(time.time()),
    }


def _write_new(path: Path, payload: VaultPayload, passphrase: str, origin: str,
               kdf: KdfParams | None) -> dict[str, Any]:
    """Seal and write a new vault; returns its public header fields."""
    try:
        if Path(path).exists():
            raise VaultExists(f"a wallet vault already exists at {path}; refusing to overwrite "
                              "it (back it up and move it away first)")
        check_new_passphrase(passphrase)
        public = _public(payload, origin)
        write_vault(path, seal(payload, passphrase, public, kdf))
        return public
    finally:
        payload.wipe()


def create(path: Path, passphrase: str, *, mnemonic: str | None = None, num_words: int = 24,
           kdf: KdfParams | None = None) -> tuple[dict[str, Any], str]:
    """A new wallet from a fresh (or just generated) mnemonic; returns (public, mnemonic)."""
    if Path(path).exists():
        raise VaultExists(f"a wallet vault already exists at {path}; refusing to overwrite it")
    mnemonic = mnemonic or identity.generate_mnemonic(num_words)
    eth_key, node_seed = identity.keys_from_mnemonic(mnemonic)
    payload = VaultPayload(eth_key, node_seed, True, _mnemonic_meta(identity.ETH_DEFAULT_PATH))
    return _write_new(path, payload, passphrase, "created", kdf), mnemonic


def import_mnemonic(path: Path, passphrase: str, mnemonic: str,
                    eth_path: str = identity.ETH_DEFAULT_PATH,
                    kdf: KdfParams | None = None) -> dict[str, Any]:
    eth_key, node_seed = identity.keys_from_mnemonic(mnemonic, eth_path)
    payload = VaultPayload(eth_key, node_seed, True, _mnemonic_meta(eth_path))
    return _write_new(path, payload, passphrase, "mnemonic", kdf)


def import_private_key(path: Path, passphrase: str, key_text: str,
                       kdf: KdfParams | None = None) -> dict[str, Any]:
    payload = VaultPayload(identity.parse_private_key_text(key_text), identity.new_node_seed(),
                           False, {"node_key": "random"})
    return _write_new(path, payload, passphrase, "private-key", kdf)


def import_keystore(path: Path, passphrase: str, keystore_text: str, keystore_password: str,
                    kdf: KdfParams | None = None) -> dict[str, Any]:
    """Import a Web3 Secret Storage v3 JSON (geth, MetaMask, eth-account)."""
    from eth_account import Account

    try:
        document = json.loads(keystore_text)
        if not isinstance(document, dict) or int(document.get("version", 0)) != 3:
            raise ValueError
    except (ValueError, TypeError):
        raise InvalidKeyMaterial("the keystore is not a Web3 Secret Storage v3 JSON "
                                 "file") from None
    try:
        eth_key = bytearray(Account.decrypt(document, keystore_password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise InvalidKeyMaterial("wrong password for the keystore file") from None
        raise InvalidKeyMaterial("the keystore file could not be decrypted (unsupported or "
                                 "damaged)") from None
    except Exception:
        raise InvalidKeyMaterial("the keystore file could not be decrypted (unsupported or "
                                 "damaged)") from None
    payload = VaultPayload(eth_key, identity.new_node_seed(), False, {"node_key": "random"})
    return _write_new(path, payload, passphrase, "keystore", kdf)


def export_keystore(path: Path, passphrase: str, export_password: str, *,
                    kdf: Literal["scrypt", "pbkdf2"] | None = None,
                    iterations: int | None = None) -> dict[str, Any]:
    """The account as a v3 keystore dict (scrypt by default, as geth writes)."""
    from eth_account import Account

    check_new_passphrase(export_password)
    payload = open_sealed(read_vault(path), passphrase)
    try:
        return dict(Account.encrypt(bytes(payload.eth_private_key), export_password, kdf=kdf,
                                    iterations=iterations))
    finally:
        payload.wipe()


def change_passphrase(path: Path, old_passphrase: str, new_passphrase: str,
                      kdf: KdfParams | None = None) -> dict[str, Any]:
    """Re-encrypt the vault under a new passphrase with a fresh salt and nonce."""
    check_new_passphrase(new_passphrase)
    vault = read_vault(path)
    payload = open_sealed(vault, old_passphrase)
    try:
        public = vault.public
        if public.get("address") != identity.address_of(payload.eth_private_key):
            raise VaultCorrupt("vault header does not match its keys; refusing to rewrite it")
        write_vault(path, seal(payload, new_passphrase, public, kdf or vault.kdf), replace=True)
        return public
    finally:
        payload.wipe()


def _mnemonic_meta(eth_path: str) -> dict[str, Any]:
    return {"eth_path": eth_path, "node_key": f"slip10-ed25519 {identity.NODE_KEY_PATH}"}
