"""Helpers shared by the wallet tests (unique module name so it cannot clash with other areas)."""

from __future__ import annotations

from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from oarn_tui.wallet.vault import KdfParams

FAST_KDF = KdfParams.minimum()
FAST_KDF_ARGS = ["--kdf-time", "2", "--kdf-memory-mib", "19", "--kdf-parallelism", "1"]
PASSPHRASE = "correct horse battery staple 7"
ABANDON_MNEMONIC = " ".join(["abandon"] * 11 + ["about"])


class MemoryKeyring(KeyringBackend):
    """A real `KeyringBackend` that keeps entries in a dict (this machine has no Secret Service).

    `viable = False` keeps it out of keyring's automatic discovery; tests select it explicitly.
    """

    priority = 5
    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such password") from None


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
