"""Ollama at its HTTP boundary: a local aiohttp server speaking Ollama's documented API
(`GET /api/version`, `GET /api/tags`, `POST /api/generate` streaming NDJSON) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from aiohttp import web
from click.testing import CliRunner

from oarn_tui.cli_support import AppContext
from oarn_tui.commands.local import local
from oarn_tui.compute.ollama import OllamaClient, OllamaError
from oarn_tui.hardware.runtimes import probe_ollama

WORDS = ["The", " sky", " is", " blue", "."]


def ollama_app(requests: list[dict[str, object]]) -> web.Application:
    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": "0.5.7"})

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [
            {"name": "tinyllama:latest", "model": "tinyllama:latest", "size": 637700138,
             "digest": "2644915ede35", "details": {"format": "gguf", "family": "llama"}}]})

    async def generate(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        requests.append(body)
        if body["model"] != "tinyllama:latest":
            return web.json_response(
                {"error": f"model '{body['model']}' not found, try pulling it first"},
                status=404)
        words = WORDS[: body.get("options", {}).get("num_predict", len(WORDS))]
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for word in words:
            await response.write(json.dumps({"model": body["model"], "created_at":
                                             "2024-01-01T00:00:00Z", "response": word,
                                             "done": False}).encode() + b"\n")
        await response.write(json.dumps({
            "model": body["model"], "response": "", "done": True, "done_reason": "stop",
            "total_duration": 5_000_000, "eval_count": len(words),
            "eval_duration": 2_000_000}).encode() + b"\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/version", version)
    app.router.add_get("/api/tags", tags)
    app.router.add_post("/api/generate", generate)
    return app


@pytest.fixture
def ollama() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """The fake Ollama on its own loop in a thread, so sync and async callers both reach it."""
    requests: list[dict[str, object]] = []
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(ollama_app(requests))
    sock = socket.create_server(("127.0.0.1", 0))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", requests
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_tags_and_streamed_generation(ollama: tuple[str, list]) -> None:
    url, requests = ollama
    client = OllamaClient(url)
    assert await client.tags() == ["tinyllama:latest"]
    pieces: list[str] = []
    result = await client.generate("tinyllama:latest", "Why is the sky blue?", max_tokens=4,
                                   on_token=pieces.append)
    assert pieces == WORDS[:4] and result.text == "The sky is blue"
    assert result.tokens == 4 and result.eval_tokens_per_s == pytest.approx(2000.0)
    assert requests[-1]["options"] == {"num_predict": 4, "temperature": 0, "seed": 0}
    assert requests[-1]["stream"] is True


async def test_unknown_model_and_unreachable_server(ollama: tuple[str, list]) -> None:
    url, _ = ollama
    with pytest.raises(OllamaError, match="refused model 'llama9': model 'llama9' not found"):
        await OllamaClient(url).generate("llama9", "hi")
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OllamaError, match=r"no Ollama server at .*start `ollama serve`"):
        await OllamaClient(dead).tags()


def test_runtime_probe_sees_the_server(ollama: tuple[str, list]) -> None:
    url, _ = ollama
    probe = probe_ollama(url)
    assert probe == {"available": True, "url": url, "version": "0.5.7",
                     "models": ["tinyllama:latest"]}
    assert probe_ollama(f"http://127.0.0.1:{free_port()}")["available"] is False


def test_local_inference_streams_from_ollama(ollama: tuple[str, list], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = ollama
    monkeypatch.setenv("OARN_COMPUTE_OLLAMA_URL", url)
    root = click.Group()
    root.add_command(local)
    runner = CliRunner()
    result = runner.invoke(root, ["local", "inference", "Why?", "--model",
                                  "ollama:tinyllama:latest"], obj=AppContext(home=tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("The sky is blue.")
    as_json = runner.invoke(root, ["local", "inference", "Why?", "--model",
                                   "ollama:tinyllama:latest", "--max-tokens", "2", "--json"],
                            obj=AppContext(home=tmp_path))
    data = json.loads(as_json.output)
    assert data["text"] == "The sky" and data["model"] == "ollama:tinyllama:latest"
    missing = runner.invoke(root, ["local", "inference", "Why?", "--model", "ollama:nope"],
                            obj=AppContext(home=tmp_path))
    assert missing.exit_code == 1 and "model 'nope' not found" in missing.output
