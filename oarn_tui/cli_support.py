"""What every `oarn` command shares: the home, config loading, JSON output and one-line errors.

Command modules under `oarn_tui/commands/` use `pass_app`, `json_option`, `emit` and `UserError`
so every command behaves the same: `--json` prints one stable JSON document, errors print one
line (`error: ...`) and exit non-zero, and no traceback reaches the user for bad input.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from oarn_tui.config import ConfigError, NodeConfig, load_config
from oarn_tui.textsafe import safe_text


def default_home() -> Path:
    """`~/.oarn` on Linux; the platform's user data dir elsewhere."""
    if sys.platform.startswith("linux"):
        return Path.home() / ".oarn"
    import platformdirs

    return Path(platformdirs.user_data_dir("oarn", "OARN"))


class UserError(click.ClickException):
    """A problem the user can fix: printed as one line, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {safe_text(self.format_message(), multiline=True, limit=None)}",
                   err=True)


@dataclass
class AppContext:
    """Global options, resolved once per invocation and shared with every subcommand."""

    home: Path
    profile: str | None = None
    verbose: int = 0
    _config: NodeConfig | None = field(default=None, repr=False)

    def config(self) -> NodeConfig:
        """The effective config of the home; a bad config becomes a one-line `UserError`."""
        if self._config is None:
            try:
                self._config = load_config(self.home, self.profile)
            except ConfigError as exc:
                raise UserError(str(exc)) from None
        return self._config

    def require_initialised(self) -> NodeConfig:
        if not (self.home / "config.toml").exists():
            raise UserError(f"{self.home} is not an OARN home yet; run `oarn --home "
                            f"{self.home} init` first")
        return self.config()


pass_app = click.make_pass_decorator(AppContext)

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document (stable schema, see docs/cli.md).")


def emit(data: Any, as_json: bool, human: str | Callable[[Any], str] | None = None) -> None:
    """Print `data` as JSON, or a human rendering of it. JSON escapes every control and
    non-ASCII character itself; the human text is passed through `safe_text`, since it shows
    strings from peers and the chain (no terminal escape reaches the user's terminal)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if human is None:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        text = human(data) if callable(human) else human
        click.echo(safe_text(text, multiline=True, limit=None))


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
