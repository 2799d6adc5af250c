"""Canonical tensor encoding, safetensors/npz import, determinism classes and comparisons."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from oarn_tui.compute.determinism import (
    DeterminismClass,
    must_match_exactly,
    results_agree,
    tensors_close,
)
from oarn_tui.compute.tensors import (
    TensorFormatError,
    decode_safetensors,
    encode_canonical,
    load_tensors,
    result_hash,
)


def test_canonical_encoding_is_independent_of_insertion_order_and_readable() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([True, False])
    c = np.arange(5, dtype=np.int64)[::2]  # not contiguous
    one = encode_canonical({"b": b, "a": a, "c": c})
    two = encode_canonical({"c": c.copy(), "a": a, "b": b})
    assert one == two and result_hash(one) == result_hash(two)
    (size,) = struct.unpack("<Q", one[:8])
    header = json.loads(one[8:8 + size])
    assert list(header) == ["a", "b", "c"] and "__metadata__" not in header
    assert (8 + size) % 8 == 0
    loaded = st_load(one)  # any safetensors reader accepts it
    assert np.array_equal(loaded["c"], c) and loaded["b"].dtype == np.bool_


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.int64]),
                  hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
def test_roundtrip_and_library_agreement(array: np.ndarray) -> None:
    encoded = encode_canonical({"t": array})
    decoded = decode_safetensors(encoded)["t"]
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    assert decoded.tobytes() == np.ascontiguousarray(array).tobytes()
    assert encode_canonical(st_load(st_save({"t": array}))) == encoded


def test_inputs_load_from_safetensors_and_npz(tmp_path: Path) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    (tmp_path / "in.safetensors").write_bytes(st_save({"x": x}, metadata={"k": "v"}))
    buffer = io.BytesIO()
    np.savez(buffer, x=x)
    (tmp_path / "in.npz").write_bytes(buffer.getvalue())
    for name in ("in.safetensors", "in.npz"):
        assert np.array_equal(load_tensors(tmp_path / name)["x"], x)


@pytest.mark.parametrize(("data", "message"), [
    (b"abc", "shorter than its 8-byte header"),
    (struct.pack("<Q", 10**9) + b"{}", "header size exceeds the file"),
    (struct.pack("<Q", 4) + b"nope", "header is not JSON"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    (struct.pack("<Q", 56) + b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}    ',
     "data offsets do not match"),
    (struct.pack("<Q", 56) + b'{"x":{"dtype":"Q99","shape":[1],"data_offsets":[0,4]}}    ',
     "unsupported or malformed"),
])
def test_malformed_safetensors_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(TensorFormatError, match=message):
        decode_safetensors(data)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(TensorFormatError, match="cannot read"):
        load_tensors(tmp_path / "missing.safetensors")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(TensorFormatError, match=r"not a readable \.npz"):
        load_tensors(tmp_path / "bad.npz")
    with pytest.raises(TensorFormatError, match="unsupported dtype"):
        encode_canonical({"s": np.array(["text"])})


CPU = DeterminismClass("ab" * 32, "onnxruntime", "1.31.1", "basic", "CPUExecutionProvider",
                       "x86_64-avx2")


def test_exact_match_only_when_every_field_agrees_on_a_cpu_provider() -> None:
    assert must_match_exactly(CPU, DeterminismClass.from_dict(CPU.to_dict()))
    for change in ({"optimization_level": "all"}, {"cpu_class": "x86_64-avx512"},
                   {"runtime_version": "1.30.0"}):
        other = DeterminismClass.from_dict({**CPU.to_dict(), **change})
        assert not must_match_exactly(CPU, other)
    cuda = DeterminismClass.from_dict({**CPU.to_dict(), "execution_provider":
                                       "CUDAExecutionProvider"})
    assert not must_match_exactly(cuda, cuda)


def test_results_agree_by_hash_or_tolerance() -> None:
    out = {"y": np.array([1.0, 2.0], dtype=np.float32)}
    near = {"y": np.array([1.0, 2.00001], dtype=np.float32)}
    far = {"y": np.array([1.0, 2.1], dtype=np.float32)}
    h_out, h_near = result_hash(encode_canonical(out)), result_hash(encode_canonical(near))
    ok, reason = results_agree(h_out, CPU, out, h_near, CPU, near)
    assert not ok and "identical bytes" in reason
    other_cpu = DeterminismClass.from_dict({**CPU.to_dict(), "cpu_class": "x86_64-avx512"})
    assert results_agree(h_out, CPU, out, h_near, other_cpu, near) == \
        (True, "equal within tolerance")
    ok, reason = results_agree(h_out, CPU, out, "x", other_cpu, far)
    assert not ok and "max difference 0.1 beyond tolerance" in reason
    other_model = DeterminismClass.from_dict({**CPU.to_dict(), "model_sha256": "cd" * 32})
    assert results_agree(h_out, CPU, out, h_out, other_model, out)[0] is False
    assert tensors_close(out, {"z": out["y"]})[1].startswith("output names differ")
    assert "shape" in tensors_close(out, {"y": np.zeros(3, np.float32)})[1]
    assert tensors_close({"i": np.array([1, 2])}, {"i": np.array([1, 3])}) == \
        (False, "output 'i': values differ")
