"""First-run onboarding: create or import the wallet, choose a profile, review the detected
hardware and the acceptance policy, then write `config.toml`.

Every action goes through `OnboardingActions` in a worker thread (Argon2id and hardware probes
block); secrets typed here are handed over once and the inputs cleared."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    ContentSwitcher,
    Footer,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from oarn_tui.config import PROFILES, ConfigError, load_config
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt
from oarn_tui.tui.screens.base import NodeScreen, show_message

STEPS = ("step-wallet", "step-backup", "step-profile", "step-review")
PROFILE_HELP = {
    "local": "one machine, no network (try things out)",
    "devnet": "a local anvil chain and local peers (`oarn devnet up`)",
    "arbitrum-sepolia": "the public test network",
    "arbitrum-one": "the main network (real funds)",
}
POLICY_FIELDS = (("compute.min_reward", "Minimum reward (COMP)"),
                 ("compute.max_concurrent_tasks", "Tasks at once"),
                 ("compute.accepted_models", "Accepted models (comma separated globs)"),
                 ("compute.max_temperature_c", "Pause above GPU °C"))


def render_hardware(report: Mapping[str, Any]) -> Text:
    """A short summary of a capability report (`hardware.report`); names made safe (an
    attached daemon's report is another process's words)."""
    text = Text()
    cpu = report.get("cpu") or {}
    ram = report.get("ram") or {}
    text.append("CPU   ", style="bold")
    text.append(safe_text(f"{cpu.get('model', '?')} — {cpu.get('logical_cores', '?')} threads, "
                          f"class {cpu.get('cpu_class', '?')}", limit=None) + "\n")
    text.append("RAM   ", style="bold")
    total = float(ram.get("total_mb") or 0) / 1024
    free = float(ram.get("available_mb") or 0) / 1024
    text.append(f"{free:.1f} GiB free of {total:.1f} GiB\n")
    gpu = report.get("gpu") or {}
    if gpu.get("available") and gpu.get("gpus"):
        for g in gpu["gpus"]:
            text.append("GPU   ", style="bold")
            total_mb = g.get("memory_total_mb")
            vram = f"{float(total_mb) / 1024:.1f} GiB" if total_mb else "? GiB"
            text.append(safe_text(f"[{g.get('index', 0)}] {g.get('name', 'GPU')} — {vram} VRAM",
                                  limit=None) + "\n")
    else:
        text.append("GPU   ", style="bold")
        text.append(safe_text(f"none — {gpu.get('hint') or 'CPU only'}", limit=None) + "\n",
                    style="yellow")
    runtimes = report.get("runtimes") or {}
    usable = [name for name, probe in runtimes.items() if probe.get("available")]
    text.append("Run   ", style="bold")
    text.append(safe_text(", ".join(usable), limit=None) if usable
                else "no inference runtime found", style="green" if usable else "red")
    return text


class OnboardingScreen(NodeScreen):
    """Four steps in one screen; Escape skips onboarding for now."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "skip", "Skip for now")]

    def __init__(self) -> None:
        super().__init__()
        self.profile = "local"
        self.hardware: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="onboarding"):
            yield Static("Welcome to OARN — let's set up this node.", id="onboarding-title")
            with ContentSwitcher(initial="step-wallet", id="onboarding-steps"):
                with Vertical(id="step-wallet", classes="step"):
                    yield Label("1/4  Wallet", classes="step-title")
                    yield Static("Your wallet holds the node's Ethereum account and its peer "
                                 "identity, encrypted with a passphrase (8+ characters).",
                                 classes="step-help")
                    yield Input(placeholder="passphrase", password=True, id="passphrase")
                    yield Input(placeholder="passphrase again", password=True,
                                id="passphrase-again")
                    yield Input(placeholder="to import: mnemonic words or hex private key",
                                password=True, id="import-secret")
                    with Horizontal(classes="buttons"):
                        yield Button("Create new wallet", id="create-wallet", variant="primary")
                        yield Button("Import", id="import-wallet")
                with Vertical(id="step-backup", classes="step"):
                    yield Label("2/4  Write down your recovery phrase", classes="step-title")
                    yield Static("It is shown once. Anyone with it controls your funds.",
                                 classes="step-help")
                    yield Static("", id="mnemonic")
                    with Horizontal(classes="buttons"):
                        yield Button("I wrote it down", id="backup-done", variant="primary")
                with Vertical(id="step-profile", classes="step"):
                    yield Label("3/4  Network profile", classes="step-title")
                    with RadioSet(id="profile-choice"):
                        for name in PROFILES:
                            yield RadioButton(f"{name:<17} {PROFILE_HELP[name]}", name=name,
                                              value=name == "local")
                    with Horizontal(classes="buttons"):
                        yield Button("Next", id="profile-next", variant="primary")
                with Vertical(id="step-review", classes="step"):
                    yield Label("4/4  Hardware and acceptance policy", classes="step-title")
                    yield Static(Text("detecting hardware…", style="dim"), id="hardware")
                    for dotted, label in POLICY_FIELDS:
                        with Horizontal(classes="policy-row"):
                            yield Label(label, classes="policy-label")
                            yield Input(id=dotted.replace(".", "-"), classes="policy-input")
                    with Horizontal(classes="buttons"):
                        yield Button("Finish", id="finish", variant="success")
            yield Static("", id="onboarding-message", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        config = self.oarn.config
        self.profile = config.node.profile
        for button in self.query(RadioButton):
            button.value = button.name == self.profile
        for dotted, _ in POLICY_FIELDS:
            value = config.get(dotted)
            text = ", ".join(value) if isinstance(value, list) else str(value)
            self.query_one(f"#{dotted.replace('.', '-')}", Input).value = text
        if self.oarn.actions.wallet_exists(config):
            self.go("step-profile")
        else:
            self.query_one("#passphrase", Input).focus()

    def go(self, step: str) -> None:
        self.query_one(ContentSwitcher).current = step
        self.say("")
        if step == "step-profile":
            self.query_one(RadioSet).focus()
        if step == "step-review" and self.hardware is None:
            self.run_worker(self._detect_hardware(), group="hardware", exclusive=True)

    def say(self, message: str, error: bool = False) -> None:
        show_message(self.query_one("#onboarding-message", Static), message, error)

    # -- step 1: wallet -----------------------------------------------------------------------

    def _passphrase(self) -> str | None:
        first = self.query_one("#passphrase", Input).value
        second = self.query_one("#passphrase-again", Input).value
        if first != second:
            self.say("the two passphrases differ", error=True)
            return None
        if len(first) < 8:
            self.say("the passphrase needs at least 8 characters", error=True)
            return None
        return first

    def _clear_secrets(self) -> None:
        for name in ("#passphrase", "#passphrase-again", "#import-secret"):
            self.query_one(name, Input).value = ""

    @on(Button.Pressed, "#create-wallet")
    def create_wallet(self) -> None:
        passphrase = self._passphrase()
        if passphrase is None:
            return
        self._clear_secrets()
        self.say("creating the wallet…")
        self.run_worker(self._create(passphrase), group="wallet", exclusive=True)

    async def _create(self, passphrase: str) -> None:
        try:
            created = await self._through_node("wallet.create", passphrase=passphrase)
            if created is None:  # a node without a wallet service: write the vault here
                public, mnemonic = await asyncio.to_thread(
                    self.oarn.actions.create_wallet, self.oarn.config, passphrase)
                note = await self._unlock(passphrase)
            else:
                public, mnemonic, note = created, str(created["mnemonic"]), ", unlocked"
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        words = mnemonic.split()
        lines = [" ".join(f"{n + 1:>2}. {w:<9}" for n, w in enumerate(words[i:i + 6], i))
                 for i in range(0, len(words), 6)]
        self.query_one("#mnemonic", Static).update(Text("\n".join(lines)))
        self.go("step-backup")
        self.say(f"wallet created: {public['address']}{note}")

    async def _through_node(self, name: str, **args: Any) -> dict[str, Any] | None:
        """The vault is the node's wallet service's: it creates or imports it and unlocks
        it. None when the node has no wallet service (the screen then writes the vault)."""
        try:
            result = await self.oarn.node.command(name, **args)
        except Exception as exc:
            if f"unknown command '{name}'" in str(exc):
                return None
            raise
        return dict(result)

    @on(Button.Pressed, "#import-wallet")
    def import_wallet(self) -> None:
        secret = self.query_one("#import-secret", Input).value
        if not secret.strip():
            self.say("paste the mnemonic or private key to import", error=True)
            return
        passphrase = self._passphrase()
        if passphrase is None:
            return
        self._clear_secrets()
        self.say("importing…")
        self.run_worker(self._import(passphrase, secret), group="wallet", exclusive=True)

    async def _import(self, passphrase: str, secret: str) -> None:
        try:
            public = await self._through_node("wallet.import", passphrase=passphrase,
                                              secret=secret)
            if public is None:  # a node without a wallet service: write the vault here
                public = await asyncio.to_thread(self.oarn.actions.import_wallet,
                                                 self.oarn.config, passphrase, secret)
                note = await self._unlock(passphrase)
            else:
                note = ", unlocked"
        except Exception as exc:
            self.say(self.oarn.one_line(exc), error=True)
            return
        self.go("step-profile")
        self.say(f"wallet imported: {public['address']}{note}")

    async def _unlock(self, passphrase: str) -> str:
        """Hand the new vault to the running node (`wallet.unlock`); a note if it cannot."""
        try:
            await self.oarn.node.command("wallet.unlock", passphrase=passphrase)
        except Exception:
            return " (unlock it from the Wallet screen once the node offers wallet.unlock)"
        return ", unlocked"

    @on(Button.Pressed, "#backup-done")
    def backup_done(self) -> None:
        self.query_one("#mnemonic", Static).update("")
        self.go("step-profile")

    # -- step 3: profile ----------------------------------------------------------------------

    @on(RadioSet.Changed, "#profile-choice")
    def profile_changed(self, event: RadioSet.Changed) -> None:
        self.profile = str(event.pressed.name)

    @on(Button.Pressed, "#profile-next")
    def profile_next(self) -> None:
        self.go("step-review")

    # -- step 4: review and finish ------------------------------------------------------------

    async def _detect_hardware(self) -> None:
        try:
            report = await self.oarn.node.command("hardware.report")
        except Exception:
            try:
                report = await asyncio.to_thread(self.oarn.actions.hardware_report,
                                                 self.oarn.config)
            except Exception as exc:
                self.query_one("#hardware", Static).update(fmt.literal(
                    f"hardware detection failed: {self.oarn.one_line(exc)}", "red", limit=None))
                return
        self.hardware = dict(report)
        self.query_one("#hardware", Static).update(render_hardware(self.hardware))

    def policy_values(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for dotted, _ in POLICY_FIELDS:
            raw = self.query_one(f"#{dotted.replace('.', '-')}", Input).value.strip()
            if dotted == "compute.accepted_models":
                raw = json.dumps([p.strip() for p in raw.split(",") if p.strip()])
            elif dotted == "compute.min_reward":
                raw = json.dumps(raw)
            values[dotted] = raw
        return values

    @on(Button.Pressed, "#finish")
    def finish(self) -> None:
        self.say("writing config.toml…")
        self.run_worker(self._finish(self.profile, self.policy_values()), group="finish",
                        exclusive=True)

    async def _finish(self, profile: str, values: dict[str, str]) -> None:
        home = self.oarn.home
        try:
            await asyncio.to_thread(self.oarn.actions.write_config, home, profile, values)
            config = await asyncio.to_thread(load_config, home, None)
        except (ConfigError, OSError) as exc:
            self.say(str(exc), error=True)
            return
        self.oarn.config_changed(config)
        restart: list[str] = []
        try:
            result = await self.oarn.node.command("config.reload")
            restart = list(result.get("restart_needed") or []) if isinstance(result, dict) else []
        except Exception as exc:
            self.notify(f"config saved; the node did not reload it: {self.oarn.one_line(exc)}",
                        severity="warning")
        self.oarn.onboarding_done(restart)

    def action_skip(self) -> None:
        self.notify("onboarding skipped; run `oarn init` or open Settings later", timeout=4)
        self.dismiss(None)
