"""Wallet errors: each message is one line a user can act on, and never contains key material."""

from __future__ import annotations


class WalletError(Exception):
    """Base class; `str()` is the one-line message shown to the user."""


class VaultMissing(WalletError):
    """No vault file at the configured path."""


class VaultExists(WalletError):
    """Refusing to overwrite an existing vault."""


class VaultCorrupt(WalletError):
    """The vault file is damaged or tampered with; it is never overwritten."""


class WrongPassphrase(WalletError):
    """The passphrase does not open the vault."""


class WeakKdfParams(WalletError):
    """Argon2id parameters below the enforced minimum (or absurdly high)."""


class PassphraseUnavailable(WalletError):
    """No passphrase source was available (headless and nothing configured)."""


class InvalidKeyMaterial(WalletError):
    """An imported key, mnemonic or keystore could not be used (the input is never echoed)."""


class KeyringUnavailable(WalletError):
    """No real OS keyring backend can hold the unlock secret."""
