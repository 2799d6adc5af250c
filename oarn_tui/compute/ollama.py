"""Ollama over its HTTP API: list models (`GET /api/tags`) and generate (`POST /api/generate`).

Ollama is a separate local server, so nothing here is sandboxed by the node: it only speaks HTTP
to `compute.ollama_url`. Generation streams NDJSON lines (`{"response": "...", "done": false}`,
then a final line with `done: true` and counters), which we pass on token by token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

CONNECT_TIMEOUT_S = 2.0


class OllamaError(Exception):
    """Ollama is unreachable or refused the request; the message says what to do."""


@dataclass(frozen=True)
class OllamaResult:
    model: str
    text: str
    tokens: int
    duration_ms: float
    eval_tokens_per_s: float | None


class OllamaClient:
    def __init__(self, base_url: str, timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=CONNECT_TIMEOUT_S)

    def _unreachable(self, exc: Exception) -> OllamaError:
        return OllamaError(f"no Ollama server at {self.base_url} ({exc.__class__.__name__}); "
                           "start `ollama serve` or set compute.ollama_url")

    async def tags(self) -> list[str]:
        """Names of the models the server has."""
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.get(f"{self.base_url}/api/tags") as response:
                if response.status != 200:
                    raise OllamaError(f"Ollama answered {response.status} to /api/tags")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        return [str(m.get("name")) for m in data.get("models", [])]

    async def generate(self, model: str, prompt: str, *, max_tokens: int = 128,
                       on_token: Callable[[str], None] | None = None) -> OllamaResult:
        """Stream a completion; greedy (temperature 0, fixed seed) for reproducible answers."""
        body = {"model": model, "prompt": prompt, "stream": True,
                "options": {"num_predict": max_tokens, "temperature": 0, "seed": 0}}
        started = time.perf_counter()
        pieces: list[str] = []
        final: dict[str, Any] = {}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.post(f"{self.base_url}/api/generate", json=body) as response:
                if response.status != 200:
                    detail = _error_text((await response.text()).strip())
                    raise OllamaError(f"Ollama refused model {model!r}: {detail}")
                async for raw in response.content:
                    line = raw.strip()
                    if not line:
                        continue
                    try:
                        chunk = json.loads(line)
                    except ValueError:
                        raise OllamaError("Ollama sent a line that is not JSON") from None
                    if "error" in chunk:
                        raise OllamaError(f"Ollama failed: {chunk['error']}")
                    piece = chunk.get("response", "")
                    if piece:
                        pieces.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if chunk.get("done"):
                        final = chunk
                        break
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        if not final:
            raise OllamaError("Ollama closed the stream before it was done")
        eval_count = int(final.get("eval_count", len(pieces)))
        eval_ns = final.get("eval_duration")
        rate = eval_count / (eval_ns / 1e9) if eval_ns else None
        return OllamaResult(model=model, text="".join(pieces), tokens=eval_count,
                            duration_ms=(time.perf_counter() - started) * 1000,
                            eval_tokens_per_s=rate)


def _error_text(body: str) -> str:
    """Ollama's `{"error": "..."}` message, or the raw body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return str(data.get("error", body)) if isinstance(data, dict) else body
