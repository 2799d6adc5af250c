"""`oarn config show|get|set|validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.config import (
    CONFIG_FILE,
    SCHEMA,
    ConfigError,
    load_config_from_text,
    validate_text,
)


@click.group()
def config() -> None:
    """View, edit and validate config.toml."""


def _render_toml(data: dict[str, Any]) -> str:
    import tomlkit

    return tomlkit.dumps(data)


@config.command()
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Show the effective configuration (defaults, profile, file and OARN_* overrides)."""
    effective = app.config().to_dict()
    emit(effective, as_json, _render_toml)


@config.command()
@click.argument("key")
@json_option
@pass_app
def get(app: AppContext, key: str, as_json: bool) -> None:
    """Print one key's effective value, e.g. `oarn config get compute.max_concurrent_tasks`."""
    if key not in SCHEMA:
        raise UserError(f"{key}: unknown key (`oarn config show` lists every key)")
    value = app.config().get(key)
    emit({"key": key, "value": value}, as_json,
         json.dumps(value) if not isinstance(value, str) else value)


@config.command(name="set")
@click.argument("key")
@click.argument("value")
@json_option
@pass_app
def set_(app: AppContext, key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE (a TOML value; plain text is a string). Comments in the file are kept.

    On a running node the keys that can change live are applied at once; the others need a
    restart, and the command says which. The node writes the file (`config.set`): the home's
    daemon when it runs, else a bare embedded runtime under the home lock.
    """
    import asyncio

    from oarn_tui.commands.node_access import node_for

    async def write() -> tuple[bool, dict[str, Any]]:
        async with node_for(app, "bare") as node:
            return node.daemon, await node.command("config.set", key=key, value=value)

    running, answer = asyncio.run(write())
    stored = answer["value"]
    result: dict[str, Any] = {"key": key, "value": stored, "running": running}
    if running:
        result.update(applied=answer["applied"], restart_needed=answer["restart_needed"])
    message = f"{key} = {json.dumps(stored)}"
    if result["running"]:
        message += ("; applied live" if key in result["applied"]
                    else "; restart the node to apply it")
    emit(result, as_json, message)


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_app
def validate(app: AppContext, file: Path | None, as_json: bool) -> None:
    """Validate config.toml (or FILE): one line naming the key, the line and the fix."""
    path = file or app.home / CONFIG_FILE
    if not path.exists():
        raise UserError(f"{path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        validate_text(text, source=path.name)
        load_config_from_text(app.home, text)
    except ConfigError as exc:
        if as_json:
            emit({"valid": False, "file": str(path), "key": exc.key, "line": exc.line,
                  "error": str(exc)}, True)
            raise SystemExit(1) from None
        raise UserError(str(exc)) from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    emit({"valid": True, "file": str(path)}, as_json, f"{path}: valid")
