"""`oarn model add|pull|list|info|remove`: the node's model store (files by CID, pinned)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app
from oarn_tui.textsafe import safe_text


@contextlib.contextmanager
def _model_store(app: AppContext) -> Iterator[Any]:
    """The home's storage, closed afterwards; a model error becomes the command's one line."""
    from oarn_tui.compute.manifest import build_manifest
    from oarn_tui.storage.models import ModelError
    from oarn_tui.storage.service import open_storage

    storage = open_storage(app.config(), describe=build_manifest)
    try:
        yield storage
    except ModelError as exc:
        raise UserError(str(exc)) from None
    finally:
        storage.close()


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _describe(manifest: dict[str, Any]) -> str:
    """A manifest, one `key: value` a line (names and fields may come from the network)."""
    lines = [f"{key}: {safe_text(manifest[key], limit=None)}" for key in
             ("name", "cid", "size", "sha256", "format", "path", "pinned") if key in manifest]
    if isinstance(manifest.get("origin"), dict):
        lines.append(f"origin: {safe_text(_origin_text(manifest['origin']), limit=None)}")
    extra = sorted(set(manifest) - {"name", "cid", "size", "sha256", "format", "path",
                                    "pinned", "file", "added_at", "origin"})
    lines += [f"{safe_text(key)}: {safe_text(manifest[key], limit=None)}" for key in extra]
    return "\n".join(lines)


async def _pull_through_node(home: Path, cid: str, name: str | None,
                             show: bool) -> dict[str, Any]:
    """`model.pull` on the running node; with `show`, a progress bar fed by its
    `model.progress` events (bytes, rate, ETA)."""
    from oarn_tui.runtime.control import AsyncControlClient

    client = AsyncControlClient(home, timeout=10.0)
    watcher = None
    try:
        if show:
            watcher = asyncio.ensure_future(_show_progress(client, cid))
        return dict(await client.command("model.pull", cid=cid, model_name=name))
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        await client.close()


async def _show_progress(client: Any, cid: str) -> None:
    """A rich progress bar on stderr: bytes done / total, rate and ETA from the node."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from oarn_tui.storage.progress import describe

    columns = (TextColumn("pulling"), BarColumn(), TextColumn("{task.fields[line]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("pull", total=None, line="asking peers…")
        async for event in client.events():
            data = event.get("data") or {}
            if event.get("kind") != "model.progress" or data.get("cid") != cid:
                continue
            bar.update(task, total=max(int(data.get("bytes_total") or 0), 1),
                       completed=int(data.get("bytes_done") or 0), line=describe(data))


def _origin_text(origin: dict[str, Any]) -> str:
    """Where a model came from: 'file /x/m.onnx', or 'network, by CID, from 2 peers: A, B'."""
    if origin.get("kind") == "file":
        return f"file {origin.get('path', '?')}"
    text = f"network, resolved by {origin.get('resolved', 'cid')}"
    peers = [str(peer) for peer in origin.get("peers") or ()]
    if peers:
        text += f", from {len(peers)} peer{'s' if len(peers) != 1 else ''}: " + \
            ", ".join(peers[:3]) + (" …" if len(peers) > 3 else "")
    elif origin.get("kind") == "network":
        text += ", every block already held locally"
    return text


@click.group("model")
def model() -> None:
    """Models in the local store: add, pull, list, inspect, remove."""


@model.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="Name to refer to the model by (default: the file name's stem).")
@json_option
@pass_app
def add(app: AppContext, file: Path, name: str | None, as_json: bool) -> None:
    """Import FILE into the block store, pin it and print its CID."""
    if not file.is_file():
        raise UserError(f"{file} is not a readable file")
    with _model_store(app) as storage:
        manifest = storage.models.add(file, name)
    emit(manifest, as_json, manifest["cid"])


@model.command("list")
@json_option
@pass_app
def list_models(app: AppContext, as_json: bool) -> None:
    """Models in the store."""
    with _model_store(app) as storage:
        models = storage.models.list()

    def human(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no models yet; add one with `oarn model add FILE`"
        return "\n".join(f"{safe_text(row['name']):<24} {safe_text(row['format']):<12} "
                         f"{_size(row['size']):>10}  {safe_text(row['cid'])}" for row in rows)

    emit({"models": models}, as_json, lambda data: human(data["models"]))


@model.command("info")
@click.argument("model_ref", metavar="NAME|CID")
@json_option
@pass_app
def info(app: AppContext, model_ref: str, as_json: bool) -> None:
    """The manifest of one model."""
    with _model_store(app) as storage:
        manifest = storage.models.find(model_ref)
    emit(manifest, as_json, _describe)


@model.command("remove")
@click.argument("model_ref", metavar="NAME|CID")
@json_option
@pass_app
def remove(app: AppContext, model_ref: str, as_json: bool) -> None:
    """Unpin a model, delete its file and collect its blocks."""
    with _model_store(app) as storage:
        result = storage.models.remove(model_ref)
    emit(result, as_json, f"removed {safe_text(result['name'])} ({safe_text(result['cid'])}), "
                          f"freed {_size(result['freed_bytes'])}")


@model.command("pull")
@click.argument("cid")
@click.option("--name", help="Name to store the model under (default: the CID).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar with rate and ETA on stderr (default: on a terminal).")
@json_option
@pass_app
def pull(app: AppContext, cid: str, name: str | None, progress: bool | None,
         as_json: bool) -> None:
    """Fetch a model by CID from the network (through a running node), verify and pin it.

    Connected peers are asked first, then the DHT's providers. An interrupted pull resumes
    from the blocks already held. When every block is already in the local store, the model
    is registered from it directly.
    """
    from oarn_tui.storage.cid import CID, CIDError
    from oarn_tui.storage.fetch import StoreFetcher

    try:
        root = CID.parse(cid)
    except CIDError as exc:
        raise UserError(str(exc)) from None
    from oarn_tui.runtime.control import ControlClient, ControlError

    if ControlClient(app.home).is_running():  # the node fetches over bitswap (and serves it)
        import sys

        show = not as_json and sys.stderr.isatty() if progress is None else progress
        try:
            manifest = asyncio.run(_pull_through_node(app.home, str(root), name, show))
        except (ControlError, OSError) as exc:
            raise UserError(str(exc)) from None
        emit(manifest, as_json, manifest["cid"])
        return
    with _model_store(app) as storage:
        if not storage.blocks.dag_complete(root):
            raise UserError(f"pulling {root} needs a running node to fetch it over the network: "
                            "start one with `oarn start`, then retry")
        manifest = asyncio.run(storage.models.pull(root, StoreFetcher(storage.blocks), name))
    emit(manifest, as_json, manifest["cid"])
