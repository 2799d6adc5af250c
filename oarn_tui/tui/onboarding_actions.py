"""What onboarding does to the home, behind one small adapter: create or import the wallet
(`oarn_tui.wallet.operations`), probe the hardware (`oarn_tui.hardware.report`) and write the
config (`oarn_tui.config`). All blocking: the screen calls these in worker threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oarn_tui.config import CONFIG_FILE, ConfigError, NodeConfig, render_default_config, set_key
from oarn_tui.fsutil import atomic_write_text
from oarn_tui.wallet.vault import KdfParams

MNEMONIC_MIN_WORDS = 12


class OnboardingActions:
    """The first-run actions; `kdf` lowers Argon2id costs in tests (never below the minimum)."""

    def __init__(self, kdf: KdfParams | None = None) -> None:
        self.kdf = kdf

    def vault_path(self, config: NodeConfig) -> Path:
        return config.path(config.node.wallet_path)

    def wallet_exists(self, config: NodeConfig) -> bool:
        return self.vault_path(config).exists()

    def create_wallet(self, config: NodeConfig, passphrase: str) -> tuple[dict[str, Any], str]:
        """A new vault from a fresh 24-word mnemonic: (public fields, mnemonic to show once)."""
        from oarn_tui.wallet import operations

        return operations.create(self.vault_path(config), passphrase, kdf=self.kdf)

    def import_wallet(self, config: NodeConfig, passphrase: str, secret: str) -> dict[str, Any]:
        """Import a mnemonic (12+ words) or a hex private key into a new vault."""
        from oarn_tui.wallet import operations

        words = secret.split()
        path = self.vault_path(config)
        if len(words) >= MNEMONIC_MIN_WORDS:
            return operations.import_mnemonic(path, passphrase, " ".join(words), kdf=self.kdf)
        return operations.import_private_key(path, passphrase, secret.strip(), kdf=self.kdf)

    def hardware_report(self, config: NodeConfig) -> dict[str, Any]:
        from oarn_tui.compute.gguf import default_gguf_model
        from oarn_tui.hardware.report import capability_report

        return capability_report(config.home, config.compute.ollama_url,
                                 gguf_model=default_gguf_model())

    def write_config(self, home: Path, profile: str, values: dict[str, str]) -> None:
        """Write `config.toml` for `profile` plus the acceptance policy, each value validated.

        Every value is checked before anything is written, so a bad one leaves the file as it
        was."""
        from oarn_tui.config import check_value, load_config_from_text, set_in_document

        path = home / CONFIG_FILE
        if path.exists():
            set_key(home, "node.profile", f'"{profile}"')
        else:
            import tomlkit

            doc = tomlkit.parse(render_default_config(profile))
            for dotted, raw in values.items():
                set_in_document(doc, dotted, check_value(dotted, _parse(raw)))
            text = tomlkit.dumps(doc)
            load_config_from_text(home, text)
            home.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text, mode=0o600)
            return
        for dotted, raw in values.items():
            check_value(dotted, _parse(raw))
        for dotted, raw in values.items():
            set_key(home, dotted, raw)


def _parse(raw: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


__all__ = ["ConfigError", "OnboardingActions"]
