"""Sample models shipped with the package (copies of `assets/models/`, built by
`assets/models/build_models.py`), used by `oarn demo` on installs without the repository."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent


def sample_model(name: str = "tiny_mlp") -> Path:
    return SAMPLES / f"{name}.onnx"
