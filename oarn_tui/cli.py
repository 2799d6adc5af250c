"""The `oarn` command. Thin: parses options, builds objects, calls in. Heavy imports are deferred
so `oarn --help` and `oarn status` start fast."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from oarn_tui import __version__
from oarn_tui.cli_support import AppContext, UserError, default_home
from oarn_tui.runtime.errors import DaemonError

# name -> (module, attribute); each later capability adds its command module here.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("oarn_tui.commands.node", "init"),
    "start": ("oarn_tui.commands.node", "start"),
    "stop": ("oarn_tui.commands.node", "stop"),
    "status": ("oarn_tui.commands.node", "status"),
    "logs": ("oarn_tui.commands.node", "logs"),
    "config": ("oarn_tui.commands.config_cmd", "config"),
    "wallet": ("oarn_tui.commands.wallet_group", "wallet"),
    "task": ("oarn_tui.commands.task", "task"),
    "model": ("oarn_tui.commands.model", "model"),
    "local": ("oarn_tui.commands.local", "local"),
    "devnet": ("oarn_tui.commands.devnet", "devnet"),
    "demo": ("oarn_tui.commands.demo", "demo"),
    "hardware": ("oarn_tui.commands.hardware", "hardware"),
    "peers": ("oarn_tui.commands.peers", "peers"),
    "stake": ("oarn_tui.commands.chain", "stake"),
    "unstake": ("oarn_tui.commands.chain", "unstake"),
}


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (or help lists it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (module, _) in LAZY_COMMANDS.items() if _available(module))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = LAZY_COMMANDS.get(name)
        if entry is None or not _available(entry[0]):
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, entry[1])
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; the runtime's operator errors print as one line, like `UserError`."""
        try:
            return super().invoke(ctx)
        except DaemonError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="OARN_HOME",
              help="Node home directory (env OARN_HOME; default ~/.oarn on Linux).")
@click.option("--profile", type=click.Choice(["local", "devnet", "arbitrum-sepolia",
                                              "arbitrum-one"]),
              envvar="OARN_PROFILE", help="Network profile (overrides the config's node.profile).")
@click.option("-v", "--verbose", count=True, help="More output; -vv for debug logs on stderr.")
@click.option("--daemon", is_flag=True, help="Run the node headless in the foreground.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the wallet passphrase from this file (also OARN_PASSWORD_FILE).")
@click.option("--password-fd", type=int, hidden=True)
@click.version_option(__version__, prog_name="oarn")
@click.pass_context
def root(ctx: click.Context, home: Path | None, profile: str | None, verbose: int, daemon: bool,
         password_file: Path | None, password_fd: int | None) -> None:
    """OARN node: lend your GPU/CPU to AI inference on the Open AI Research Network.

    With no command, opens the dashboard with an embedded node (or attaches to the daemon
    running on the same home).
    """
    home = (home or default_home()).expanduser().absolute()
    ctx.obj = AppContext(home=home, profile=profile, verbose=verbose)
    if ctx.invoked_subcommand is not None:
        return
    if daemon:
        from oarn_tui.runtime.daemon import run_daemon

        sys.exit(run_daemon(ctx.obj, password_file=password_file, password_fd=password_fd))
    from oarn_tui.tui.app import run_dashboard

    sys.exit(run_dashboard(home, profile))


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        return root.main(args=argv, prog_name="oarn")
    except UserError as exc:  # raised outside click's own handling (e.g. in result callbacks)
        exc.show()
        sys.exit(exc.exit_code)
