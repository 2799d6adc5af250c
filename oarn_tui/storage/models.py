"""The model store: model files by CID, pinned in the blockstore, with one JSON manifest each.

Under the home's `storage.model_cache_path`: `files/<cid><suffix>` (the plain file the executors
load) and `manifests/<name>.json` (name, cid, size, sha256, format, added_at, file, plus whatever
the `describe` function adds: the node passes `oarn_tui.compute.manifest.build_manifest`, since
storage sits below compute and never imports it). Each
model pins its root CID with reason `model:<name>`, so removing one model never unpins another
that shares the bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from oarn_tui.fsutil import atomic_write_text
from oarn_tui.storage.cid import CID, CIDError
from oarn_tui.storage.content import LocalContentStore, write_chunks_atomically
from oarn_tui.storage.fetch import BlockFetcher, ProgressCallback, fetch_dag
from oarn_tui.storage.limits import ContentRefused
from oarn_tui.storage.unixfs import iter_file

log = logging.getLogger(__name__)

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FORMATS_BY_SUFFIX = {".onnx": "onnx", ".gguf": "gguf", ".safetensors": "safetensors",
                      ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript"}
STORAGE_FIELDS = ("name", "cid", "size", "sha256", "format", "added_at", "file")

Describer = Callable[[Path], Mapping[str, Any]]
"""A model file's extra manifest fields (inputs, outputs, determinism...); ValueError when it
does not recognise the file."""


class ModelError(ValueError):
    """A model request the user can fix (bad name, unknown model, name taken)."""


def detect_format(path: Path) -> str:
    """Model format from the file suffix, else from its first bytes."""
    by_suffix = _FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PK\x03\x04"):
        return "torchscript"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def compute_fields(path: Path, describe: Describer | None) -> dict[str, Any] | None:
    """`describe`'s manifest fields for the file, or None when there is no `describe` or it
    does not recognise the file (it is stored anyway)."""
    if describe is None:
        return None
    try:
        return dict(describe(path))
    except ValueError as exc:
        log.info("compute layer adds no manifest fields for %s: %s", path.name, exc)
        return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStore:
    """Add, pull, list, inspect and remove models; see the module docstring."""

    def __init__(self, root: Path, content: LocalContentStore,
                 describe: Describer | None = None) -> None:
        self.root = Path(root)
        self.describe = describe
        self.content = content
        self.blocks = content.blocks
        self._manifests = self.root / "manifests"
        self._files = self.root / "files"

    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME_PATTERN.match(name):
            raise ModelError(f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' "
                             "or '-', starting with a letter or digit")
        return name

    @staticmethod
    def reason(name: str) -> str:
        return f"model:{name}"

    def _manifest_path(self, name: str) -> Path:
        return self._manifests / f"{name}.json"

    def list(self) -> list[dict[str, Any]]:
        if not self._manifests.is_dir():
            return []
        models = []
        for path in sorted(self._manifests.glob("*.json")):
            try:
                models.append(self._with_path(json.loads(path.read_text())))
            except ValueError:
                continue
        return models

    def _with_path(self, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = dict(manifest)
        manifest["path"] = str(self.root / manifest["file"])
        manifest["pinned"] = self.blocks.is_pinned(manifest["cid"])
        return manifest

    def find(self, name_or_cid: str) -> dict[str, Any]:
        """The manifest of a model by name or CID (either CID version)."""
        path = self._manifest_path(name_or_cid)
        if _NAME_PATTERN.match(name_or_cid) and path.exists():
            return self._with_path(json.loads(path.read_text()))
        try:
            wanted = CID.parse(name_or_cid)
        except CIDError:
            wanted = None
        if wanted is not None:
            for manifest in self.list():
                if CID.parse(manifest["cid"]).key == wanted.key:
                    return manifest
        raise ModelError(f"no model named or with CID {name_or_cid!r}; see `oarn model list`")

    def add(self, source: Path, name: str | None = None) -> dict[str, Any]:
        """Import a local file: blocks + pin + plain copy + manifest. Idempotent per (name, cid)."""
        source = Path(source)
        if not source.is_file():
            raise ModelError(f"{source} is not a readable file")
        name = self.check_name(name or source.stem)
        cid = self.content.add_file_sync(source, pin_reason=self.reason(name))
        return self._register(name, cid, source.suffix, detect_format(source),
                              origin={"kind": "file", "path": str(source.resolve())})

    async def pull(self, cid: CID | str, fetcher: BlockFetcher, name: str | None = None, *,
                   progress: ProgressCallback | None = None, suffix: str = "",
                   origin: dict[str, Any] | None = None) -> dict[str, Any]:
        """Fetch a model's DAG through `fetcher` (bitswap), verify, pin and register it;
        `origin` (how it was resolved, who served it) is kept in its manifest."""
        root = cid if isinstance(cid, CID) else CID.parse(cid)
        name = self.check_name(name or str(root))
        reason = self.reason(name)
        self.blocks.pin(root, reason)
        try:
            await fetch_dag(root, fetcher, self.blocks, progress=progress,
                            limits=self.content.limits)
        except BaseException as error:
            self.blocks.unpin(root, reason)
            if isinstance(error, ContentRefused):
                self.drop_refused(root)
            raise
        return self._register(name, root, suffix, None, fetched=True,
                              origin=origin or {"kind": "network", "resolved": "cid"})

    def drop_refused(self, root: CID) -> int:
        """Delete the stored blocks of a refused DAG that nothing else pins; returns how many."""
        keys = self.blocks.dag_keys(root)
        return self.blocks.collect_garbage(None, only=keys).removed_blocks

    def _register(self, name: str, cid: CID, suffix: str, fmt: str | None,
                  fetched: bool = False, origin: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
        """Write the plain file and manifest; a fetched model's file is assembled under the
        node's content limits (a local add is the user's own file and is not limited)."""
        existing = self._manifest_path(name)
        if existing.exists():
            current = json.loads(existing.read_text())
            if CID.parse(current["cid"]).key == cid.key:
                return self._with_path(current)
            self.blocks.unpin(cid, self.reason(name))
            raise ModelError(f"a model named {name!r} already exists with CID "
                             f"{current['cid']}; remove it first or pick another --name")
        file_name = f"files/{cid}{suffix.lower()}"
        target = self.root / file_name
        if not target.exists():
            limits = self.content.limits if fetched else None
            write_chunks_atomically(target, iter_file(cid, self.blocks.get, verify=False,
                                                      limits=limits))
        size = target.stat().st_size
        manifest: dict[str, Any] = {}
        extra = compute_fields(target, self.describe)
        if extra:
            manifest.update(extra)
        manifest.update({
            "name": name, "cid": str(cid), "size": size, "sha256": _sha256_of(target),
            "format": fmt or detect_format(target), "added_at": time.time(), "file": file_name,
        })
        if origin is not None:
            manifest["origin"] = origin
        atomic_write_text(existing, json.dumps(manifest, indent=2, sort_keys=True))
        return self._with_path(manifest)

    def remove(self, name_or_cid: str) -> dict[str, Any]:
        """Unpin, delete the manifest and (if no other model shares it) the file, then collect
        the model's blocks that nothing else pins."""
        manifest = self.find(name_or_cid)
        name = manifest["name"]
        cid = CID.parse(manifest["cid"])
        dag = self.blocks.dag_keys(cid)
        self.blocks.unpin(cid, self.reason(name))
        self._manifest_path(name).unlink(missing_ok=True)
        if not any(other["file"] == manifest["file"] for other in self.list()):
            (self.root / manifest["file"]).unlink(missing_ok=True)
        report = self.blocks.collect_garbage(None, only=dag)
        return {"name": name, "cid": str(cid), "removed_blocks": report.removed_blocks,
                "freed_bytes": report.freed_bytes}
