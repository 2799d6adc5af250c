"""`build_manifest`: compute fields of a model manifest from the file alone."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from oarn_tui.compute.manifest import ManifestError, build_manifest, detect_format
from tests.compute import onnx_models

REPO = Path(__file__).resolve().parents[2]


def test_onnx_manifest_has_signature_size_hash_and_memory(tmp_path: Path) -> None:
    path = onnx_models.mlp(tmp_path / "classifier.onnx")
    manifest = build_manifest(path)
    assert manifest["name"] == "classifier" and manifest["format"] == "onnx"
    assert manifest["size"] == path.stat().st_size
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["N", 4]}]
    assert manifest["outputs"] == [{"name": "probs", "dtype": "float32", "shape": ["N", 3]},
                                   {"name": "label", "dtype": "int64", "shape": ["N"]}]
    assert manifest["estimated_memory_mb"] >= 64
    assert manifest["determinism"]["model_sha256"] == manifest["sha256"]
    assert manifest["determinism"]["runtime"] == "onnxruntime"
    assert build_manifest(path) == manifest  # pure


def test_committed_sample_models_describe_themselves() -> None:
    matmul = build_manifest(REPO / "assets" / "models" / "matmul_512.onnx")
    assert matmul["inputs"][0]["shape"] == ["N", 512]
    assert matmul["estimated_memory_mb"] >= 2 * 2  # two 1 MiB weight matrices, doubled
    assert build_manifest(REPO / "assets" / "models" / "tiny_mlp.onnx")["outputs"][0]["name"] \
        == "probs"


def test_gguf_is_recognised_by_its_header(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 30, 12) + b"\0" * 64)
    manifest = build_manifest(path)
    assert manifest["format"] == "gguf" and manifest["gguf_version"] == 3
    assert manifest["tensor_count"] == 30 and manifest["inputs"][0]["name"] == "prompt"


def test_not_a_model(tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    assert detect_format(text) is None
    with pytest.raises(ManifestError, match="is not an ONNX, GGUF or TorchScript model"):
        build_manifest(text)
    with pytest.raises(ManifestError, match="model file not found"):
        build_manifest(tmp_path / "none.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage-not-protobuf\xff\xff")
    with pytest.raises(ManifestError, match="is not a readable ONNX model"):
        build_manifest(broken)
