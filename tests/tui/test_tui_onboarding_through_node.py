"""Onboarding asks the node to create or import the vault (`wallet.create|import`), never
writes it itself while a node with a wallet service runs (issue 13): the node's wallet service
makes the keys and is unlocked with them.

The dashboard here holds a config for another directory than the node's home: a screen that
wrote the vault itself would put it there, and the node would stay without a wallet.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static
from tui_seed import FIXED_NOW, settle

from oarn_tui.config import load_config
from oarn_tui.runtime.interface import EmbeddedNode
from oarn_tui.runtime.node import NodeRuntime
from oarn_tui.tui.app import create_app
from oarn_tui.tui.onboarding_actions import OnboardingActions
from oarn_tui.tui.screens.onboarding import OnboardingScreen
from oarn_tui.wallet.service import WalletService
from oarn_tui.wallet.unlock import open_wallet
from oarn_tui.wallet.vault import KdfParams

PASSPHRASE = "correct horse battery"
KEY = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"



async def run_onboarding(tmp_path: Path, secret: str | None) -> tuple[Path, Path, WalletService,
                                                                      str]:
    home, elsewhere = tmp_path / "node", tmp_path / "stale"
    home.mkdir()
    elsewhere.mkdir()
    runtime = NodeRuntime(load_config(home, env={}), log_to_file=False)
    wallet = WalletService(env={}, new_vault_kdf=KdfParams.minimum())
    runtime.add_service(wallet)
    await runtime.start()
    config = load_config(elsewhere, env={})
    app = create_app(EmbeddedNode(runtime), home=elsewhere, config=config, first_run=True,
                     clock=lambda: FIXED_NOW, auto_tick=False, cursor_blink=False,
                     actions=OnboardingActions(kdf=KdfParams.minimum()))
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await app.tick()
            screen = app.screen
            assert isinstance(screen, OnboardingScreen)
            screen.query_one("#passphrase", Input).value = PASSPHRASE
            screen.query_one("#passphrase-again", Input).value = PASSPHRASE
            if secret is None:
                await pilot.click("#create-wallet")
            else:
                screen.query_one("#import-secret", Input).value = secret
                await pilot.click("#import-wallet")
            await settle(pilot)
            message = str(screen.query_one("#onboarding-message", Static).render())
            mnemonic = str(screen.query_one("#mnemonic", Static).render())
    finally:
        await runtime.stop()
        runtime.close()
    return home, elsewhere, wallet, message + "\n" + mnemonic


async def test_onboarding_creates_the_vault_in_the_nodes_wallet_service(
        tmp_path: Path) -> None:
    home, elsewhere, wallet, shown = await run_onboarding(tmp_path, None)
    assert "wallet created" in shown and "unlocked" in shown and "24." in shown
    assert not (elsewhere / "wallet.vault").exists()
    with open_wallet(home / "wallet.vault", PASSPHRASE, "prompt") as opened:
        assert wallet.status()["address"] == opened.address


async def test_onboarding_imports_a_key_through_the_node(tmp_path: Path) -> None:
    home, elsewhere, wallet, shown = await run_onboarding(tmp_path, KEY)
    assert "wallet imported" in shown and "unlocked" in shown
    assert not (elsewhere / "wallet.vault").exists()
    with open_wallet(home / "wallet.vault", PASSPHRASE, "prompt") as opened:
        assert wallet.status()["address"] == opened.address
