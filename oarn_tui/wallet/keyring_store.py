"""The vault's unlock secret in the OS keyring (macOS Keychain, Windows Credential Locker,
Secret Service), so the dashboard and the daemon can start without a prompt.

The entry is service `"oarn"`, username = the absolute vault path (one entry per home). Only a
*real* backend is used: keyring's `fail` and `null` backends, any `keyrings.alt` backend (they
store in files and prompt on the terminal) and a chainer made only of those count as "no
keyring", and the node falls back to the passphrase. `keyrings.alt` is never imported.
Keyring errors are logged by type only and never carry the secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oarn_tui.wallet.errors import KeyringUnavailable

SERVICE = "oarn"
_UNUSABLE_MODULES = {
    "keyring.backends.fail": "no keyring backend is available",
    "keyring.backends.null": "the keyring is disabled (null backend)",
}
_ALT_PREFIX = "keyrings.alt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyringStatus:
    """Which backend keyring chose, whether the node may use it, and why not."""

    backend: str
    usable: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "usable": self.usable, "reason": self.reason}


def _name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _why_unusable(backend: Any) -> str:
    """Empty when `backend` is a real keyring; else the reason it is not used."""
    module = type(backend).__module__
    if module in _UNUSABLE_MODULES:
        return _UNUSABLE_MODULES[module]
    if module == _ALT_PREFIX or module.startswith(_ALT_PREFIX + "."):
        return "keyrings.alt file backends prompt or store in files; not used"
    return ""


def usable_backend() -> tuple[Any | None, KeyringStatus]:
    """The backend to talk to (a chainer's first real member), or None with the reason."""
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend

        chosen = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install must not stop the node
        reason = f"keyring failed to load ({type(exc).__name__})"
        return None, KeyringStatus("unknown", False, reason)
    if isinstance(chosen, ChainerBackend):
        members = list(chosen.backends)
        for member in members:
            if not _why_unusable(member):
                return member, KeyringStatus(_name(member), True, "")
        return None, KeyringStatus(_name(chosen), False,
                                   "the keyring chain holds no real backend")
    reason = _why_unusable(chosen)
    return (None if reason else chosen), KeyringStatus(_name(chosen), not reason, reason)


def status() -> KeyringStatus:
    return usable_backend()[1]


def entry_name(vault_path: Path) -> str:
    return str(Path(vault_path).expanduser().resolve())


def load_secret(vault_path: Path) -> str | None:
    """The stored unlock secret for this vault, or None (no entry, or no usable keyring)."""
    backend, _status = usable_backend()
    if backend is None:
        return None
    try:
        secret = backend.get_password(SERVICE, entry_name(vault_path))
    except Exception as exc:
        log.warning("keyring read failed (%s); falling back to the passphrase", type(exc).__name__)
        return None
    return secret or None


def has_secret(vault_path: Path) -> bool:
    return load_secret(vault_path) is not None


def store_secret(vault_path: Path, secret: str) -> KeyringStatus:
    """Store the unlock secret; raise `KeyringUnavailable` when no real keyring can take it."""
    backend, state = usable_backend()
    if backend is None:
        raise KeyringUnavailable(f"no usable OS keyring ({state.reason}); use --password-file, "
                                 "OARN_PASSWORD_FILE or systemd credentials instead")
    try:
        backend.set_password(SERVICE, entry_name(vault_path), secret)
    except Exception as exc:
        raise KeyringUnavailable(f"the keyring refused to store the secret "
                                 f"({type(exc).__name__})") from None
    return state


def delete_secret(vault_path: Path) -> bool:
    """Remove the entry; True when one was removed."""
    backend, _state = usable_backend()
    if backend is None:
        return False
    try:
        if backend.get_password(SERVICE, entry_name(vault_path)) is None:
            return False
        backend.delete_password(SERVICE, entry_name(vault_path))
    except Exception as exc:
        log.warning("keyring delete failed (%s)", type(exc).__name__)
        return False
    return True

