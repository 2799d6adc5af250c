"""The dashboard app and its one factory, shared by the CLI (`run_dashboard`) and the tests.

Refresh loop (dolphie's pattern): a one-shot timer starts a poll worker; the worker awaits a
snapshot (the embedded runtime builds it on its own thread, an attached daemon over the socket),
hands it and the events gathered since the last poll to every screen, then re-arms the timer, so
polls never overlap and a slow node only slows the refresh, never the input. Runtime commands
also run in workers; their errors become notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from oarn_tui.config import NodeConfig
from oarn_tui.core.events import Event
from oarn_tui.runtime.interface import NodeInterface
from oarn_tui.runtime.snapshot import NodeSnapshot
from oarn_tui.textsafe import safe_text
from oarn_tui.tui import format as fmt
from oarn_tui.tui.onboarding_actions import OnboardingActions
from oarn_tui.tui.palette import NodeCommands
from oarn_tui.tui.screens.base import NodeView
from oarn_tui.tui.screens.dashboard import DashboardScreen
from oarn_tui.tui.telemetry_feed import SAMPLE_EVENT, TelemetryFeed

THEMES = {"dark": "textual-dark", "light": "textual-light"}
LOG_BACKFILL_LINES = 200
MAX_PENDING_EVENTS = 5000
NOTICE_LIMIT = 500


class OarnApp(App[int]):
    """The node dashboard. Reads snapshots and events, sends commands; never blocks its loop."""

    CSS_PATH = "app.tcss"
    TITLE = "oarn"
    COMMANDS = App.COMMANDS | {NodeCommands}
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(self, node: NodeInterface, *, home: Path, config: NodeConfig, first_run: bool,
                 clock: Callable[[], float] = time.time, tick_interval: float | None = None,
                 auto_tick: bool = True, actions: OnboardingActions | None = None,
                 cursor_blink: bool = True, task_limit: int = 1000,
                 peer_limit: int = 1000) -> None:
        super().__init__()
        self.node = node
        self.home = home
        self.config = config
        self.first_run = first_run
        self.clock = clock
        self.fixed_interval = tick_interval
        self.auto_tick = auto_tick
        self.actions = actions or OnboardingActions()
        self.cursor_blink = cursor_blink
        self.task_limit = task_limit
        self.peer_limit = peer_limit
        self.snapshot: NodeSnapshot | None = None
        self.notices: deque[str] = deque(maxlen=50)
        self.telemetry_feed = TelemetryFeed()
        self.poll_error = ""
        self.ticks = 0
        self.last_apply_s = 0.0
        self._pending: deque[Event] = deque(maxlen=MAX_PENDING_EVENTS)
        self._logs_loaded = False
        self._refresh_timer: Timer | None = None
        self._polling = False
        self._last_poll = 0.0
        self._quitting = False
        self.theme = THEMES.get(config.ui.theme, "textual-dark")

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def tick_interval(self) -> float:
        if self.fixed_interval is not None:
            return self.fixed_interval
        return 1.0 / max(0.1, self.config.ui.refresh_hz)

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen()

    def on_mount(self) -> None:
        if self.node.attached:
            self.notify(f"attached to the node already running on {self.home}",
                        title="attached", timeout=6)
        if self.first_run and not self.node.attached:
            from oarn_tui.tui.screens.onboarding import OnboardingScreen

            self.push_screen(OnboardingScreen())
        self.run_worker(self._pump_events(), group="events", exit_on_error=False)
        if self.auto_tick:
            self._poll()

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self.notify("stopping the node…" if not self.node.attached else "detaching…")
        try:
            await self.close_node()
        finally:
            self.exit(0)

    async def close_node(self) -> None:
        """Stop reading events first (so no stream is left pending), then close the node."""
        self.workers.cancel_group(self, "events")
        await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            await self.node.close()

    # -- refresh ------------------------------------------------------------------------------

    def _arm(self) -> None:
        if not self._quitting:
            self._refresh_timer = self.set_timer(self.tick_interval, self._poll)

    def _poll(self) -> None:
        if not self._polling:
            self._polling = True
            self.run_worker(self._poll_then_rearm(), group="poll", exit_on_error=False)

    async def _poll_then_rearm(self) -> None:
        try:
            await self.tick()
        finally:
            self._polling = False
            self._last_poll = time.monotonic()
            if self.auto_tick:
                self._arm()

    def _poll_early(self) -> None:
        """A telemetry sample arrived: refresh now instead of at the timer, unless the last
        refresh was under half an interval ago. Samples show as they come, and the refresh
        shares its wakeup with the sample's instead of waking the app once more."""
        if not self.auto_tick or self._quitting or self._polling \
                or time.monotonic() - self._last_poll < self.tick_interval / 2:
            return
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._poll()

    def kick(self) -> None:
        """Refresh now (after a command), without touching the timer."""
        self.run_worker(self.tick(), group="kick", exclusive=True, exit_on_error=False)

    async def tick(self) -> None:
        """One refresh: fetch a snapshot, drain events, update every screen. Tests call this."""
        if not self._logs_loaded:
            await self._load_recent_logs()
        try:
            snapshot = await self.node.snapshot(task_limit=self.task_limit,
                                                peer_limit=self.peer_limit)
        except Exception as exc:
            error = self.one_line(exc)
            if error != self.poll_error:
                self.notify(error, title="node unreachable", severity="error")
            self.poll_error = error
        else:
            self.snapshot = snapshot
            self.poll_error = ""
            self.telemetry_feed.backfill(snapshot.telemetry.history)
        self.ticks += 1
        events = list(self._pending)
        self._pending.clear()
        self.telemetry_feed.add(events)
        started = time.perf_counter()
        for screen in self.screen_stack:
            if isinstance(screen, NodeView):
                screen.show_snapshot(self.snapshot, events)
        self.last_apply_s = time.perf_counter() - started

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until every worker but the event stream has finished (tests)."""
        busy = [w for w in self.workers if w.group != "events" and not w.is_finished]
        if busy:
            await asyncio.wait_for(asyncio.gather(*(w.wait() for w in busy),
                                                  return_exceptions=True), timeout)

    async def _load_recent_logs(self) -> None:
        try:
            result = await self.node.command("logs", lines=LOG_BACKFILL_LINES)
        except Exception:
            return
        self._logs_loaded = True
        entries = [Event("log", entry, ts=float(entry.get("ts", 0.0)), seq=0)
                   for entry in (result or {}).get("lines", []) if isinstance(entry, dict)]
        self._pending.extendleft(reversed(entries))

    async def _pump_events(self) -> None:
        with contextlib.suppress(Exception):
            async for event in self.node.events():
                self._pending.append(event)
                if event.kind == SAMPLE_EVENT:
                    self._poll_early()

    # -- commands -----------------------------------------------------------------------------

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        """Show a toast and remember its text (the last 50, for tests and the palette).

        Every toast of the app and its screens comes here; messages often embed an error or a
        peer's words, so the text is made safe and never parsed as markup."""
        text = safe_text(message, multiline=True, limit=NOTICE_LIMIT)
        self.notices.append(text)
        kwargs["markup"] = False
        if "title" in kwargs:
            kwargs["title"] = safe_text(kwargs["title"])
        super().notify(text, *args, **kwargs)

    @staticmethod
    def one_line(exc: BaseException) -> str:
        text = str(exc).strip().splitlines()
        return text[0] if text else type(exc).__name__

    def send_command(self, name: str, success: str | None = None, **args: Any) -> Worker[Any]:
        """Run a runtime command in a worker; failures (including "unknown command") notify."""

        async def run() -> Any:
            try:
                result = await self.node.command(name, **args)
            except Exception as exc:
                self.notify(self.one_line(exc), title=name, severity="error", timeout=6)
                return None
            if success:
                self.notify(success, timeout=3)
            self.kick()
            return result

        return self.run_worker(run(), group="commands", exit_on_error=False)

    def action_toggle_accepting(self) -> None:
        if self.snapshot is None or self.snapshot.accepting:
            self.send_command("pause", "accepting paused: no new tasks")
        else:
            self.send_command("resume", "accepting resumed")

    def claim_task(self, task_id: str) -> None:
        self.send_command("task.claim", f"claim sent for {fmt.short_id(task_id)}",
                          task_id=int(task_id) if task_id.isdigit() else task_id, force=False)

    def _selected_task(self) -> str | None:
        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen.tasks.selected_task_id
        return None

    def claim_selected(self) -> None:
        task_id = self._selected_task()
        if task_id is None:
            self.notify("no task selected", severity="warning")
        else:
            self.claim_task(task_id)

    def open_task(self, task_id: str) -> None:
        from oarn_tui.tui.screens.task_detail import TaskDetailScreen

        self.push_screen(TaskDetailScreen(task_id))

    def open_selected_task(self) -> None:
        task_id = self._selected_task()
        if task_id is None:
            self.notify("no task selected", severity="warning")
        else:
            self.open_task(task_id)

    def _open(self, screen_type: type[Screen[Any]]) -> None:
        if not isinstance(self.screen, screen_type):
            self.push_screen(screen_type())

    def action_open_wallet(self) -> None:
        from oarn_tui.tui.screens.wallet import WalletScreen

        self._open(WalletScreen)

    def action_open_models(self) -> None:
        from oarn_tui.tui.screens.models import ModelsScreen

        self._open(ModelsScreen)

    def action_open_settings(self) -> None:
        from oarn_tui.tui.screens.settings import SettingsScreen

        self._open(SettingsScreen)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    # -- config -------------------------------------------------------------------------------

    def config_changed(self, config: NodeConfig) -> None:
        """A new config was saved (settings, onboarding): apply the UI keys at once."""
        self.config = config
        self.theme = THEMES.get(config.ui.theme, self.theme)

    def onboarding_done(self, restart_needed: list[str]) -> None:
        from oarn_tui.tui.screens.onboarding import OnboardingScreen

        if isinstance(self.screen, OnboardingScreen):
            self.pop_screen()
        note = " (restart oarn to apply: " + ", ".join(restart_needed) + ")" \
            if restart_needed else ""
        self.notify(f"node set up{note}", title="welcome", timeout=8)
        self.kick()


def create_app(node: NodeInterface, *, home: Path, config: NodeConfig, first_run: bool,
               clock: Callable[[], float] = time.time, tick_interval: float | None = None,
               auto_tick: bool = True, **options: Any) -> OarnApp:
    """The one way to build the dashboard (CLI and tests). `tick_interval` None follows
    `ui.refresh_hz`; options: `actions`, `cursor_blink`, `task_limit`, `peer_limit`."""
    return OarnApp(node, home=home, config=config, first_run=first_run, clock=clock,
                   tick_interval=tick_interval, auto_tick=auto_tick, **options)


def run_dashboard(home: Path, profile: str | None) -> int:
    """`oarn` with no arguments: attach to the home's daemon or embed a node, run the app."""
    from oarn_tui.config import ConfigError, load_config
    from oarn_tui.runtime.pidfile import HomeLocked
    from oarn_tui.tui.session import ServedEmbeddedNode, is_first_run, open_node

    try:
        config = load_config(home, profile)
        node = open_node(home, config)
    except (ConfigError, HomeLocked) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    first_run = is_first_run(home, config) and not node.attached
    app = create_app(node, home=home, config=config, first_run=first_run)
    try:
        code = app.run()
    finally:
        if isinstance(node, ServedEmbeddedNode):
            node.close_blocking()
    return int(code or 0)
