"""Node lifecycle commands: `init`, `start`, `stop`, `status`, `logs`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.config import CONFIG_FILE, PROFILES, render_default_config
from oarn_tui.fsutil import atomic_write_text, private_dir
from oarn_tui.textsafe import safe_text


@click.command()
@click.option("--profile", "init_profile", type=click.Choice(PROFILES),
              help="Profile to write (default: the global --profile, else local).")
@click.option("--devnet", "devnet_state", type=click.Path(file_okay=False, path_type=Path),
              help="Join the devnet whose state directory is DIR (implies --profile devnet).")
@click.option("--name", help="Node name shown to peers.")
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml.")
@json_option
@pass_app
def init(app: AppContext, init_profile: str | None, devnet_state: Path | None, name: str | None,
         force: bool, as_json: bool) -> None:
    """Create the node home and its config.toml."""
    profile = "devnet" if devnet_state else (init_profile or app.profile or "local")
    path = app.home / CONFIG_FILE
    if path.exists() and not force:
        raise UserError(f"{path} already exists; use --force to overwrite it")
    joined: dict[str, Any] = {}
    if devnet_state is not None:
        from oarn_tui.chain.devnet import DevnetError, read_description, running_pid

        try:
            read_description(devnet_state.absolute())
        except DevnetError as exc:
            raise UserError(str(exc)) from None
        if running_pid(devnet_state.absolute()) is None:
            raise UserError(f"the devnet in {devnet_state} is not running; start it with "
                            f"`oarn devnet up --state {devnet_state}`")
    _claim_home(app.home)
    extra = {"node.name": name} if name else {}
    atomic_write_text(path, render_default_config(profile, extra))
    if devnet_state is not None:
        from oarn_tui.chain.devnet import join_devnet

        joined = join_devnet(app.home, devnet_state.absolute())
    result = {"home": str(app.home), "config": str(path), "profile": profile,
              "devnet": joined or None}
    emit(result, as_json, f"Initialised {app.home} (profile {profile}).\n"
         f"Next: `oarn --home {app.home} wallet create`, then `oarn --home {app.home} start`.")


HOME_ENTRIES = frozenset({CONFIG_FILE, "run", "state", "logs", "devnet", "models", "blocks",
                          "wallet.vault"})
"""Names an oarn home may already hold before `init` (e.g. `devnet up` ran there first)."""


def _claim_home(home: Path) -> None:
    """Create the home 0700, or accept an existing directory that is ours and empty or
    already an oarn home. Never chmods an existing directory (`--home /tmp` must not make
    /tmp private); a foreign or non-empty one is refused with the fix."""
    if not home.exists() and not home.is_symlink():
        private_dir(home)
        return
    if home.is_symlink() or not home.is_dir():
        raise UserError(f"{home} is not a directory; choose another --home")
    info = home.stat()
    if info.st_uid != os.geteuid():
        raise UserError(f"{home} belongs to uid {info.st_uid}, not to you; choose a new "
                        f"directory for --home (init creates it with mode 0700)")
    entries = {entry.name for entry in home.iterdir()}
    if entries and not entries & HOME_ENTRIES:
        raise UserError(f"{home} is not empty and is not an oarn home; choose a new or empty "
                        f"directory for --home (init creates it with mode 0700)")


@click.command()
@json_option
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Wallet passphrase file (also OARN_PASSWORD_FILE).")
@pass_app
def start(app: AppContext, as_json: bool, password_file: Path | None) -> None:
    """Start the node daemon in the background."""
    from oarn_tui.runtime.daemon import start_background

    result = start_background(app, password_file=password_file)
    status = result.pop("status")
    result["control_socket"] = status.get("control", {}).get("socket")
    emit(result, as_json, f"Node started on {app.home} (PID {result['pid']}).")


@click.command()
@json_option
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait.")
@pass_app
def stop(app: AppContext, as_json: bool, timeout: float) -> None:
    """Stop the node daemon running on this home."""
    from oarn_tui.runtime.daemon import stop_node

    result = stop_node(app.home, timeout=timeout)
    emit(result, as_json, f"Node stopped (PID {result['pid']})." if result["stopped"]
         else f"No node is running on {app.home}.")


def _offline_status(app: AppContext) -> dict[str, Any]:
    config = app.require_initialised()
    vault = config.path(config.node.wallet_path)
    return {"running": False, "home": str(app.home), "profile": config.node.profile,
            "wallet": {"state": "locked" if vault.exists() else "missing", "address": None}}


def _render_status(doc: dict[str, Any]) -> str:
    if not doc.get("running", True):
        return (f"Node on {doc['home']} is not running (profile {doc['profile']}, "
                f"wallet {doc['wallet']['state']}). Start it with `oarn start`.")
    lines = [
        f"OARN node {safe_text(doc['node_name'])} · {doc['profile']} · "
        f"up {doc['uptime_s']:.0f} s · PID {doc['pid']}",
        f"peer id   {doc.get('peer_id') or '—'}  ({doc['peers']} peers, network "
        f"{doc['network']['state']}, reachable {doc['network']['reachable']})",
        f"wallet    {doc['wallet'].get('address') or '—'} ({doc['wallet']['state']})",
        f"chain     {doc['chain']['state']} · id {doc['chain'].get('chain_id')} · block "
        f"{doc['chain'].get('block') or '—'}",
        f"accepting {'yes' if doc.get('accepting') else 'paused'} · tasks "
        + (", ".join(f"{k} {v}" for k, v in sorted(doc["tasks"].items())) or "none"),
        "services  " + ", ".join(f"{name} {s['state']}" + (f" ({safe_text(s['reason'])})"
                                                            if s["reason"] else "")
                                 for name, s in sorted(doc["services"].items())),
    ]
    return "\n".join(lines)


@click.command()
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Show the node's status (exit code 3 when no node is running)."""
    from oarn_tui.runtime.control import ControlClient, ControlError, UnsafeControlSocket

    try:
        doc = ControlClient(app.home).status()
        doc["running"] = True
    except UnsafeControlSocket as exc:
        raise UserError(str(exc)) from None
    except ControlError:
        doc = _offline_status(app)
        emit(doc, as_json, _render_status)
        raise SystemExit(3) from None
    for key in ("task_list", "peer_list") if not as_json else ():
        doc.pop(key, None)
    emit(doc, as_json, _render_status)


def _format_log_line(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return safe_text(line, limit=None)
    stamp = time.strftime("%H:%M:%S", time.localtime(entry.get("ts", 0)))
    extras = " ".join(f"{k}={v}" for k, v in entry.items()
                      if k not in ("ts", "level", "logger", "msg"))
    return safe_text(f"{stamp} {entry.get('level', '?'):7} {entry.get('msg', '')}" + (
        f"  {extras}" if extras else ""), limit=None)  # log lines embed peers' words


@click.command()
@click.option("-n", "--lines", default=20, show_default=True, help="Lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@json_option
@pass_app
def logs(app: AppContext, lines: int, follow: bool, as_json: bool) -> None:
    """Show the node's log (works whether or not the node runs)."""
    from oarn_tui.runtime.logs import follow as follow_log
    from oarn_tui.runtime.logs import tail

    config = app.require_initialised()
    path = config.path(config.node.log_path)
    recent = tail(path, lines)
    if as_json and not follow:
        entries = []
        for line in recent:
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"msg": line})
        emit({"log_path": str(path), "lines": entries}, True)
        return
    for line in recent:
        click.echo(safe_text(line, limit=None) if as_json else _format_log_line(line))
    if follow:
        if not path.exists():
            raise UserError(f"no log yet at {path}; start the node first")
        try:
            for line in follow_log(path):
                click.echo(safe_text(line, limit=None) if as_json else _format_log_line(line))
        except KeyboardInterrupt:
            return
