"""Several RPC endpoints behind one object: health checks, chain-id check and failover.

Each URL (http(s):// or ws(s)://) gets its own AsyncWeb3. `call(fn)` runs `fn(w3)` on the
current endpoint; a connection failure or timeout marks it unhealthy and moves to the next
healthy one, so a node keeps going while one provider is down. JSON-RPC errors (a revert, a
rejected transaction) are answers, not outages, and pass through unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


class RpcUnavailable(ConnectionError):
    """No configured RPC URL answers on the expected chain."""


def connection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'this endpoint is unreachable' (not 'the chain said no')."""
    from web3.exceptions import PersistentConnectionError, ProviderConnectionError

    return (OSError, TimeoutError, asyncio.TimeoutError, aiohttp.ClientError,
            ProviderConnectionError, PersistentConnectionError, ConnectionError)


def make_web3(url: str, request_timeout: float) -> Any:
    """An AsyncWeb3 for `url`: HTTP with no hidden retries, or a WebSocket provider."""
    from web3 import AsyncHTTPProvider, AsyncWeb3, WebSocketProvider

    if url.startswith(("ws://", "wss://")):
        return AsyncWeb3(WebSocketProvider(url, request_timeout=request_timeout,
                                           max_connection_retries=1))
    provider = AsyncHTTPProvider(
        url, request_kwargs={"timeout": aiohttp.ClientTimeout(total=request_timeout)},
        exception_retry_configuration=None)
    return AsyncWeb3(provider)


def redact_url(url: str) -> str:
    """Scheme, host and port only: provider URLs often carry an API key in the path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.netloc else url


@dataclass
class Endpoint:
    """One RPC URL and what we last learned about it."""

    url: str
    w3: Any
    healthy: bool = False
    checked: bool = False
    reason: str = "not checked yet"
    block: int | None = None
    failures: int = 0
    last_check: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {"url": redact_url(self.url), "healthy": self.healthy, "reason": self.reason,
                "block": self.block, "failures": self.failures}


class RpcPool:
    """Failover across RPC URLs that must all serve `expected_chain_id` (None: any chain)."""

    def __init__(self, urls: Sequence[str], expected_chain_id: int | None = None, *,
                 request_timeout: float = 10.0, web3s: Sequence[Any] | None = None) -> None:
        if not urls and not web3s:
            raise ValueError("no RPC URL configured (blockchain.manual_rpc_urls)")
        if web3s is not None:
            self.endpoints = [Endpoint(url, w3) for url, w3 in zip(urls, web3s, strict=True)]
        else:
            self.endpoints = [Endpoint(url, make_web3(url, request_timeout)) for url in urls]
        self.expected_chain_id = expected_chain_id
        self.request_timeout = request_timeout
        self.chain_id: int | None = expected_chain_id
        self._index = 0
        self.failovers = 0
        self.on_failover: Callable[[str, str, str], None] | None = None

    def add_url(self, url: str) -> bool:
        """Add a fallback endpoint (e.g. an RPC provider found in the registry) if new."""
        if any(ep.url == url for ep in self.endpoints):
            return False
        self.endpoints.append(Endpoint(url, make_web3(url, self.request_timeout)))
        return True

    @classmethod
    def from_web3(cls, w3: Any, label: str = "in-process") -> RpcPool:
        """A pool around one existing AsyncWeb3 (e.g. the in-process py-evm chain)."""
        return cls([label], None, web3s=[w3])

    @property
    def current(self) -> Endpoint:
        return self.endpoints[self._index]

    @property
    def w3(self) -> Any:
        return self.current.w3

    @property
    def rpc_url(self) -> str:
        return redact_url(self.current.url)

    async def check(self, endpoint: Endpoint) -> bool:
        """Probe `endpoint`: it must answer chain id and block number on the expected chain."""
        endpoint.last_check = time.monotonic()
        endpoint.checked = True
        try:
            provider = endpoint.w3.provider
            if hasattr(provider, "is_connected") and hasattr(provider, "connect") and \
                    not await provider.is_connected():
                await asyncio.wait_for(provider.connect(), self.request_timeout)
            chain_id = await asyncio.wait_for(endpoint.w3.eth.chain_id, self.request_timeout)
            block = await asyncio.wait_for(endpoint.w3.eth.block_number, self.request_timeout)
        except Exception as exc:  # any failure of a probe takes this endpoint out
            endpoint.healthy, endpoint.reason = False, f"unreachable: {type(exc).__name__}"
            endpoint.failures += 1
            return False
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            endpoint.healthy = False
            endpoint.reason = f"chain id {chain_id}, expected {self.expected_chain_id}"
            return False
        if self.chain_id is None:
            self.chain_id = chain_id
        endpoint.healthy, endpoint.reason, endpoint.block = True, "ok", block
        return True

    async def check_all(self) -> int:
        """Probe every endpoint; return how many are healthy."""
        results = await asyncio.gather(*(self.check(ep) for ep in self.endpoints))
        return sum(results)

    async def refresh(self) -> bool:
        """Probe every endpoint and return to the first healthy one in configured order.

        Returns True if the current endpoint changed (a fail-back after an outage ended).
        """
        await self.check_all()
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.healthy:
                changed = index != self._index
                self._index = index
                return changed
        return False

    async def connect(self) -> None:
        """Pick the first healthy endpoint in configured order, or raise `RpcUnavailable`."""
        for index, endpoint in enumerate(self.endpoints):
            if await self.check(endpoint):
                self._index = index
                return
        raise RpcUnavailable(self._unavailable_message())

    def _unavailable_message(self) -> str:
        reasons = "; ".join(f"{redact_url(ep.url)}: {ep.reason}" for ep in self.endpoints)
        return f"no RPC endpoint is usable ({reasons})"

    async def _fail_over(self, failed: Endpoint, error: BaseException) -> None:
        failed.healthy, failed.reason = False, f"unreachable: {type(error).__name__}"
        failed.failures += 1
        count = len(self.endpoints)
        for step in range(1, count + 1):
            index = (self._index + step) % count
            candidate = self.endpoints[index]
            if candidate is failed:
                continue
            if await self.check(candidate):
                self._index = index
                self.failovers += 1
                if self.on_failover is not None:
                    self.on_failover(redact_url(failed.url), redact_url(candidate.url),
                                     failed.reason)
                return
        # Nobody else answers: give the failed one another chance before giving up.
        if await self.check(failed):
            return
        raise RpcUnavailable(self._unavailable_message()) from error

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run `fn(w3)` on the current endpoint, failing over on connection errors."""
        errors = connection_errors()
        attempts = len(self.endpoints) + 1
        last_error: BaseException | None = None
        for _ in range(attempts):
            endpoint = self.current
            try:
                result = await asyncio.wait_for(fn(endpoint.w3), self.request_timeout)
            except errors as exc:
                last_error = exc
                await self._fail_over(endpoint, exc)
                continue
            endpoint.healthy, endpoint.reason = True, "ok"
            return result
        raise RpcUnavailable(self._unavailable_message()) from last_error

    async def request(self, method: str, params: list[Any] | None = None) -> Any:
        """A raw JSON-RPC request (e.g. `anvil_*` methods) with failover; returns `result`."""
        async def run(w3: Any) -> Any:
            response = await w3.provider.make_request(method, params or [])
            if "error" in response:
                raise RuntimeError(f"{method}: {response['error']}")
            return response.get("result")

        return await self.call(run)

    def describe(self) -> list[dict[str, Any]]:
        return [ep.describe() for ep in self.endpoints]

    async def close(self) -> None:
        for endpoint in self.endpoints:
            provider = endpoint.w3.provider
            disconnect = getattr(provider, "disconnect", None)
            if disconnect is not None:
                try:
                    await disconnect()
                except Exception:  # closing a dead socket may fail; nothing left to do
                    continue
