"""Which inference runtimes this node can use: ONNX Runtime, torch, llama-cpp, Ollama.

Each probe returns a small dict with `available` and, when unavailable, a one-line `hint` that
says how to enable it. Probes import the runtime (that is the only honest check), so call them off
the event loop; Ollama is probed over HTTP with a short timeout. This is the lower layer: what
only the compute layer knows (the default GGUF model) is passed in by the caller.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

OLLAMA_TIMEOUT_S = 0.5


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def probe_onnxruntime() -> dict[str, Any]:
    try:
        import onnxruntime
    except ImportError:
        return {"available": False, "hint": "pip install onnxruntime"}
    providers = onnxruntime.get_available_providers()
    return {"available": True, "version": onnxruntime.__version__, "providers": providers,
            "cuda": "CUDAExecutionProvider" in providers}


def probe_torch() -> dict[str, Any]:
    """torch and CUDA; a `+cpu` build is reported without importing torch (seconds)."""
    version = _version("torch")
    if version is None:
        return {"available": False, "hint": "pip install 'oarn-tui[torch]'"}
    if version.endswith("+cpu"):
        return {"available": True, "version": version, "cuda": False, "cuda_version": None,
                "devices": 0}
    try:
        torch = importlib.import_module("torch")
    except Exception as exc:
        return {"available": False, "hint": f"torch is installed but fails to import: {exc}"}
    cuda = bool(torch.cuda.is_available())
    return {"available": True, "version": torch.__version__, "cuda": cuda,
            "cuda_version": torch.version.cuda, "devices": torch.cuda.device_count() if cuda else 0}


def probe_llama_cpp(default_model: Path | None = None) -> dict[str, Any]:
    """llama-cpp-python and GPU offload; `default_model` is the GGUF file the caller (the
    compute layer knows where models live) would run by default, reported as is."""
    if _version("llama_cpp_python") is None:
        return {"available": False, "hint": "pip install 'oarn-tui[llm]'"}
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except Exception as exc:
        return {"available": False, "hint": f"llama-cpp-python fails to import: {exc}"}
    gpu = bool(getattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)())
    return {"available": True, "version": llama_cpp.__version__, "gpu_offload": gpu,
            "default_model": str(default_model) if default_model else None}


def probe_ollama(url: str, timeout_s: float = OLLAMA_TIMEOUT_S) -> dict[str, Any]:
    """Ask a local Ollama server for its version and models (GET /api/version, /api/tags)."""
    base = url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/api/version", timeout=timeout_s) as response:
            version = json.loads(response.read() or b"{}").get("version")
        with urllib.request.urlopen(f"{base}/api/tags", timeout=timeout_s) as response:
            models = [m.get("name") for m in json.loads(response.read() or b"{}").get("models", [])]
    except (OSError, urllib.error.URLError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"available": False, "url": base,
                "hint": f"no Ollama server at {base} ({reason}); start `ollama serve` to use it"}
    return {"available": True, "url": base, "version": version, "models": models}


def runtimes_report(ollama_url: str, gguf_model: Path | None = None) -> dict[str, Any]:
    """All runtime probes, keyed by the framework names used in `compute.frameworks`."""
    return {"onnx": probe_onnxruntime(), "torchscript": probe_torch(),
            "gguf": probe_llama_cpp(gguf_model), "ollama": probe_ollama(ollama_url)}
