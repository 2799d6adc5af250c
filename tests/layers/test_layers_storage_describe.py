"""Storage sits below compute: the model store gets the compute fields of a manifest through the
`describe` function the node hands it, and never imports the compute layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from oarn_tui.compute.manifest import build_manifest
from oarn_tui.config import load_config, render_default_config
from oarn_tui.fsutil import atomic_write_text, private_dir
from oarn_tui.runtime.assemble import build_runtime
from oarn_tui.storage.blockstore import Blockstore
from oarn_tui.storage.content import LocalContentStore
from oarn_tui.storage.models import STORAGE_FIELDS, Describer, ModelStore
from tests.storage.test_storage_models import _onnx_model

pytestmark = pytest.mark.timeout(60)


def _store(root: Path, describe: Describer | None = None) -> ModelStore:
    content = LocalContentStore(Blockstore(root / "blocks", durable=False))
    return ModelStore(root / "models", content, describe)


def test_manifest_has_the_compute_fields_only_when_given_a_describer(tmp_path: Path) -> None:
    model = _onnx_model(tmp_path / "relu.onnx")
    plain = _store(tmp_path / "plain").add(model, "relu")
    described = _store(tmp_path / "described", build_manifest).add(model, "relu")
    assert "determinism" not in plain and set(STORAGE_FIELDS) <= set(plain)
    assert described["determinism"] == build_manifest(model)["determinism"]
    assert {k: described[k] for k in STORAGE_FIELDS if k != "added_at"} == \
        {k: plain[k] for k in STORAGE_FIELDS if k != "added_at"}


def test_a_describer_that_refuses_the_file_leaves_the_storage_fields(tmp_path: Path) -> None:
    def refuse(path: Path) -> dict[str, object]:
        raise ValueError(f"not a model: {path.name}")

    added = _store(tmp_path, refuse).add(_onnx_model(tmp_path / "relu.onnx"), "relu")
    assert "determinism" not in added and added["format"] == "onnx"


def test_the_assembled_node_hands_storage_the_compute_describer(tmp_path: Path) -> None:
    home = private_dir(tmp_path / "home")
    atomic_write_text(home / "config.toml", render_default_config("local"))
    runtime = build_runtime(load_config(home), log_to_file=False, worker=False)
    try:
        assert runtime.services["storage"].describe is build_manifest
    finally:
        runtime.close()
