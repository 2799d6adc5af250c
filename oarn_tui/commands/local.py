"""`oarn local`: the node with no network, and `oarn local inference` to run a model here.

`oarn local inference --model FILE --input FILE` runs a tensor model (ONNX or TorchScript) in the
same sandboxed executor the node uses (unless `--no-sandbox`) and writes the outputs in canonical
safetensors.
`oarn local inference "PROMPT"` generates text with a GGUF model (default: SmolLM2 from the
`llm` extra) or `--model ollama:NAME`, streaming tokens to stdout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from oarn_tui.cli_support import AppContext, UserError, emit, json_option, pass_app

OLLAMA_PREFIX = "ollama:"


@click.group("local", invoke_without_command=True)
@click.pass_context
def local(ctx: click.Context) -> None:
    """Run the node with no network (no peers, no chain); see `local inference`."""
    if ctx.invoked_subcommand is not None:
        return
    from oarn_tui.runtime.daemon import run_daemon

    app = ctx.find_object(AppContext)
    if app is None:
        raise UserError("no node home given (run through `oarn local`)")
    config = app.require_initialised()
    app._config = dataclasses.replace(
        config, network=dataclasses.replace(config.network, mode="local"))
    click.echo(f"local mode: node at {app.home} runs with no network (Ctrl-C stops it)",
               err=True)
    ctx.exit(run_daemon(app))


@local.command("inference")
@click.argument("prompt", required=False)
@click.option("--model", "model", help="Model file (.onnx, TorchScript .pt, .gguf) or "
              "ollama:NAME. Text default: SmolLM2 from the llm extra.")
@click.option("--input", "input_file", type=click.Path(path_type=Path),
              help="Input tensors (.safetensors or .npz) for a tensor model.")
@click.option("--output", "output_file", type=click.Path(path_type=Path),
              help="Write the outputs here (canonical safetensors).")
@click.option("--max-tokens", type=click.IntRange(1, 32768), default=128, show_default=True,
              help="Tokens to generate for a prompt.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1),
              help="Wall-clock limit in seconds (default: compute.task_timeout_s).")
@click.option("--no-sandbox", "no_sandbox", is_flag=True,
              help="Run the model without the executor sandbox (only for models you trust; "
              "network tasks never run unsandboxed).")
@json_option
@pass_app
def inference(app: AppContext, prompt: str | None, model: str | None, input_file: Path | None,
              output_file: Path | None, max_tokens: int, timeout_s: float | None,
              no_sandbox: bool, as_json: bool) -> None:
    """Run a model locally in the sandboxed executor, with no network."""
    config = app.config()
    settings = _settings(config, sandboxed=not no_sandbox)
    if input_file is not None:
        if prompt is not None:
            raise UserError("give either a PROMPT or --input tensors, not both")
        if model is None:
            raise UserError("--input needs --model FILE (an ONNX or TorchScript model)")
        summary = _run_tensors(settings, Path(model), input_file, output_file, timeout_s)
        emit(summary, as_json, _human_tensors)
        return
    if prompt is None:
        raise UserError("nothing to run: give a PROMPT, or --model FILE --input FILE")
    if model is not None and model.startswith(OLLAMA_PREFIX):
        summary = _run_ollama(config, model[len(OLLAMA_PREFIX):], prompt, max_tokens, as_json)
    else:
        summary = _run_gguf(settings, model, prompt, max_tokens, timeout_s, as_json)
    if output_file is not None:
        from oarn_tui.fsutil import atomic_write_text

        atomic_write_text(output_file, summary["text"], mode=0o644)
    if as_json:
        emit(summary, True)


def _settings(config: Any, *, sandboxed: bool) -> Any:
    from oarn_tui.compute.pool import SandboxSettings

    return dataclasses.replace(SandboxSettings.from_config(config), sandbox=sandboxed)


def _failure(what: str, exc: Any) -> UserError:
    hint = " (or pass --no-sandbox to run a model you trust without it)" \
        if exc.kind == "sandbox" else ""
    return UserError(f"{what} failed: {exc.reason}{hint}")


def _run_tensors(settings: Any, model: Path, input_file: Path, output_file: Path | None,
                 timeout_s: float | None) -> dict[str, Any]:
    from oarn_tui.compute.pool import ExecutorPool, InferenceTask, TaskFailed
    from oarn_tui.compute.tensors import TensorFormatError, load_tensors
    from oarn_tui.fsutil import atomic_write_bytes

    if not model.is_file():
        raise UserError(f"model file not found: {model}")
    try:
        inputs = load_tensors(input_file)
    except TensorFormatError as exc:
        raise UserError(str(exc)) from None
    task = InferenceTask(model_path=model, inputs=inputs, timeout_s=timeout_s, task_id="local")
    try:
        result = asyncio.run(_run_once(ExecutorPool(settings, max_executors=1), task))
    except TaskFailed as exc:
        raise _failure("inference", exc) from None
    summary: dict[str, Any] = result.summary()
    if output_file is not None:
        atomic_write_bytes(output_file, result.encoded, mode=0o644)
        summary["output_file"] = str(output_file)
    return summary


async def _run_once(pool: Any, task: Any, on_token: Any = None) -> Any:
    try:
        return await pool.run(task, on_token)
    finally:
        await pool.close()


def _human_tensors(summary: dict[str, Any]) -> str:
    lines = [f"result hash  {summary['result_hash']}"]
    for name, info in summary["outputs"].items():
        lines.append(f"output       {name}: {info['dtype']}{info['shape']}")
    if "output_file" in summary:
        lines.append(f"written to   {summary['output_file']}")
    d, s, t = summary["determinism"], summary["sandbox"], summary["timings_ms"]
    lines.append(f"runtime      {d['runtime']} {d['runtime_version']} "
                 f"({d['execution_provider']}, opt {d['optimization_level']}, {d['cpu_class']})")
    notes = "".join(f"; {note}" for note in s.get("notes", []))
    lines.append(f"sandbox      {'on' if s.get('sandboxed') else 'OFF'}: "
                 f"{', '.join(s.get('layers', []))}{notes}")
    lines.append(f"time         {t['run_ms']:.1f} ms run, {t['cold_start_ms']:.0f} ms worker "
                 "start")
    return "\n".join(lines)


def _stream(piece: str) -> None:
    """One generated piece to the terminal; a model's output is not trusted with escapes."""
    from oarn_tui.textsafe import safe_text

    sys.stdout.write(safe_text(piece, multiline=True, limit=None))
    sys.stdout.flush()


def _run_gguf(settings: Any, model: str | None, prompt: str, max_tokens: int,
              timeout_s: float | None, as_json: bool) -> dict[str, Any]:
    from oarn_tui.compute.gguf import LLM_EXTRA_HINT, default_gguf_model, llama_cpp_installed
    from oarn_tui.compute.pool import ExecutorPool, InferenceTask, TaskFailed

    if not llama_cpp_installed():
        raise UserError(LLM_EXTRA_HINT)
    path = Path(model) if model else default_gguf_model()
    if path is None:
        raise UserError(LLM_EXTRA_HINT)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    task = InferenceTask(model_path=path, prompt=prompt, max_tokens=max_tokens,
                         timeout_s=timeout_s, task_id="local")
    pool = ExecutorPool(settings, max_executors=1)
    try:
        result = asyncio.run(_run_once(pool, task, None if as_json else _stream))
    except TaskFailed as exc:
        raise _failure("generation", exc) from None
    if not as_json:
        click.echo()
        t = result.timings
        click.echo(f"[{result.tokens} tokens in {t['run_ms'] / 1000:.1f} s, model {path.name}]",
                   err=True)
    return {**result.summary(), "model": str(path)}


def _run_ollama(config: Any, name: str, prompt: str, max_tokens: int, as_json: bool
                ) -> dict[str, Any]:
    from oarn_tui.compute.ollama import OllamaClient, OllamaError

    if not name:
        raise UserError("name the Ollama model: --model ollama:NAME (see `ollama list`)")
    client = OllamaClient(config.compute.ollama_url, timeout_s=config.compute.task_timeout_s)
    try:
        result = asyncio.run(client.generate(name, prompt, max_tokens=max_tokens,
                                             on_token=None if as_json else _stream))
    except OllamaError as exc:
        raise UserError(str(exc)) from None
    if not as_json:
        click.echo()
    return {"model": f"{OLLAMA_PREFIX}{name}", "text": result.text, "tokens": result.tokens,
            "duration_ms": round(result.duration_ms, 3),
            "eval_tokens_per_s": result.eval_tokens_per_s}
