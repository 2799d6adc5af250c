"""Tensor I/O: safetensors in and out, `.npz` on import, and the canonical output encoding.

The canonical encoding is safetensors written by this module, not by the library, so its bytes
never depend on a library version: tensors sorted by name, a compact JSON header with sorted keys
and no `__metadata__`, padded with spaces to 8 bytes, data C-contiguous little-endian in name
order. The result hash is the SHA-256 of these bytes. Any safetensors reader can load them.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

DTYPES: dict[str, str] = {
    "float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
    "uint8": "U8", "bool": "BOOL",
}
NUMPY_DTYPES = {code: np.dtype(name) for name, code in DTYPES.items()}
MAX_HEADER_BYTES = 100 * 1024 * 1024


class TensorFormatError(ValueError):
    """A tensor file or buffer that cannot be read; the message says why in one line."""


def encode_canonical(tensors: Mapping[str, np.ndarray]) -> bytes:
    """The canonical safetensors bytes of `tensors` (see the module docstring)."""
    prefix, chunks = _canonical_parts(tensors)
    return b"".join([prefix, *chunks])  # the one copy


def encode_canonical_into(tensors: Mapping[str, np.ndarray], buffer: Any) -> int | None:
    """Write the canonical encoding into a writable buffer (e.g. shared memory) without an
    intermediate copy; returns its length, or None when it does not fit."""
    prefix, chunks = _canonical_parts(tensors)
    total = len(prefix) + sum(chunk.nbytes for chunk in chunks)
    if total > len(buffer):
        return None
    buffer[:len(prefix)] = prefix
    offset = len(prefix)
    for chunk in chunks:
        buffer[offset:offset + chunk.nbytes] = chunk
        offset += chunk.nbytes
    return total


def _canonical_parts(tensors: Mapping[str, np.ndarray]) -> tuple[bytes, list[memoryview]]:
    """The header prefix and the tensors' bytes (as views), in canonical order."""
    header: dict[str, dict[str, object]] = {}
    chunks: list[memoryview] = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        code = DTYPES.get(array.dtype.name)
        if code is None:
            raise TensorFormatError(f"tensor {name!r} has unsupported dtype {array.dtype}")
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        data = little.reshape(-1).view(np.uint8).data  # a memoryview: no copy yet
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + data.nbytes]}
        chunks.append(data)
        offset += data.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, chunks


def result_hash(encoded: bytes) -> str:
    """SHA-256 hex of a canonical encoding."""
    return hashlib.sha256(encoded).hexdigest()


def decode_safetensors(data: bytes | memoryview, *, copy: bool = True
                       ) -> dict[str, np.ndarray]:
    """Parse safetensors bytes strictly (bounds checked). `copy=False` returns read-only views
    into `data` (no copy: the executor's hot path)."""
    if len(data) < 8:
        raise TensorFormatError("not a safetensors file: shorter than its 8-byte header size")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise TensorFormatError("not a safetensors file: header size exceeds the file")
    try:
        header = json.loads(bytes(data[8:8 + size]))
    except ValueError:
        raise TensorFormatError("not a safetensors file: header is not JSON") from None
    if not isinstance(header, dict):
        raise TensorFormatError("not a safetensors file: header is not a JSON object")
    body = memoryview(data)[8 + size:]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = NUMPY_DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise TensorFormatError(f"tensor {name!r}: unsupported or malformed entry") from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
            raise TensorFormatError(f"tensor {name!r}: data offsets do not match its shape")
        array = np.frombuffer(body[begin:end], dtype=dtype.newbyteorder("<")).reshape(shape)
        tensors[name] = array.astype(dtype, copy=True) if copy or not dtype.isnative \
            else array
    return tensors


def is_canonical(data: bytes | memoryview, tensors: Mapping[str, np.ndarray]) -> bool:
    """True when `data` (already decoded into `tensors`) is exactly the canonical encoding.

    Cheap: compares the header bytes and the offsets; the data bytes are the tensors themselves.
    """
    header: dict[str, dict[str, object]] = {}
    offset = 0
    for name in sorted(tensors):
        array = tensors[name]
        size = array.size * array.dtype.itemsize
        header[name] = {"dtype": DTYPES.get(array.dtype.name, "?"), "shape": list(array.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    expected = struct.pack("<Q", len(text)) + text
    return len(data) == len(expected) + offset and bytes(data[:len(expected)]) == expected


def decode_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: np.asarray(archive[name]) for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise TensorFormatError(f"not a readable .npz file: {exc}") from None


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    """Read input tensors from `.safetensors` (or any name) or `.npz` (by magic bytes)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TensorFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    tensors = decode_npz(data) if data[:4] == b"PK\x03\x04" else decode_safetensors(data)
    if not tensors:
        raise TensorFormatError(f"{path} holds no tensors")
    return tensors
