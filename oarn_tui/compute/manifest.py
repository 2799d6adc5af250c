"""The compute fields of a model manifest, derived from the model file alone.

`build_manifest(path)` is a pure function of the file's bytes (the storage layer adds the CID and
pins): name, format, size, SHA-256, input/output signature, estimated memory need and the
determinism template verifiers use. Formats are recognised by content, not by extension.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
GGUF_MAGIC = b"GGUF"
RUNTIME_OF = {"onnx": "onnxruntime", "gguf": "llama.cpp", "torchscript": "torch"}


class ManifestError(ValueError):
    """The file is not a model this node can describe; the message says why."""


def detect_format(path: Path) -> str | None:
    """'onnx', 'gguf', 'torchscript' or None, from the file's content."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[:4] == GGUF_MAGIC:
        return "gguf"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return None
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08"):
        return "onnx"  # protobuf ModelProto starts with field 1 (ir_version), tag 0x08
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _onnx_dims(value_info: Any) -> list[int | str]:
    dims: list[int | str] = []
    for dim in value_info.type.tensor_type.shape.dim:
        dims.append(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?"))
    return dims


def _onnx_fields(path: Path, size: int) -> dict[str, Any]:
    import onnx
    from onnx import helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ManifestError(f"{path.name} is not a readable ONNX model: {exc}") from None
    graph = model.graph
    initialisers = {init.name for init in graph.initializer}

    def signature(values: Any) -> list[dict[str, Any]]:
        return [{"name": v.name,
                 "dtype": helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                 "shape": _onnx_dims(v)} for v in values if v.name not in initialisers]

    weights = sum(int(_initialiser_bytes(init)) for init in graph.initializer)
    return {"inputs": signature(graph.input), "outputs": signature(graph.output),
            "opset": max((o.version for o in model.opset_import), default=0),
            "estimated_memory_mb": _round_mb(max(weights, size) * 2 + 64 * MIB)}


def _initialiser_bytes(init: Any) -> int:
    from onnx import helper

    count = 1
    for dim in init.dims:
        count *= dim
    return count * helper.tensor_dtype_to_np_dtype(init.data_type).itemsize


def _gguf_fields(path: Path, size: int) -> dict[str, Any]:
    with path.open("rb") as handle:
        head = handle.read(24)
    if len(head) < 24:
        raise ManifestError(f"{path.name} is truncated (no GGUF header)")
    version, tensors, _kv = struct.unpack("<IQQ", head[4:24])
    return {"inputs": [{"name": "prompt", "dtype": "text"}],
            "outputs": [{"name": "text", "dtype": "text"}],
            "gguf_version": version, "tensor_count": tensors,
            "estimated_memory_mb": _round_mb(size * 1.2 + 256 * MIB)}


def _torchscript_fields(path: Path, size: int) -> dict[str, Any]:
    return {"inputs": [], "outputs": [], "estimated_memory_mb": _round_mb(size * 2 + 256 * MIB),
            "signature_note": "TorchScript signatures are read when the model loads"}


def _round_mb(value: float) -> int:
    return int(-(-value // MIB))


def build_manifest(path: Path) -> dict[str, Any]:
    """Compute fields of the manifest of the model at `path` (pure: depends on its bytes)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"model file not found: {path}")
    model_format = detect_format(path)
    if model_format is None:
        raise ManifestError(f"{path.name} is not an ONNX, GGUF or TorchScript model")
    size = path.stat().st_size
    sha = _sha256(path)
    fields = {"onnx": _onnx_fields, "gguf": _gguf_fields,
              "torchscript": _torchscript_fields}[model_format](path, size)
    return {
        "name": path.stem, "format": model_format, "size": size, "sha256": sha,
        **fields,
        "determinism": {"model_sha256": sha, "runtime": RUNTIME_OF[model_format],
                        "exact_when_equal": ["runtime_version", "optimization_level",
                                             "execution_provider", "cpu_class"]},
    }
